"""Time per dataset of an amortised posterior against NUTS, on the bump hunt of section 3.3 of
arXiv:2306.12584 (100 events per dataset, posterior over the signal fraction theta with the
resonance position theta_nu a nuisance).

1. amortised: a deep set with a flow head (:class:`nsbi.sets.SetPosterior`), one batched pass
   over all datasets and ``--draws`` posterior draws each; the network's cost does not depend on
   its weights, so it is untrained here (accuracy is the business of the tests and examples);
2. NUTS: :func:`nsbi.simulators.bump_hunt.nuts_posterior` (pyro), ``--chains`` chains of
   ``--samples`` draws after ``--warmup`` adaptation steps per dataset (the paper: 2 chains of
   50000 with 12000 discarded; pass those to reproduce its cost);
3. the exact posterior by quadrature on a grid (:func:`nsbi.simulators.bump_hunt.exact_posterior`).

    python benchmarks/posterior_vs_mcmc.py [--datasets 5] [--samples 2000] [--warmup 1000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nsbi.sets import SetPosterior
from nsbi.simulators.bump_hunt import BumpHuntToy, exact_posterior, nuts_posterior


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=5)
    parser.add_argument("--amortised-datasets", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    toy = BumpHuntToy()
    rng = np.random.default_rng(0)
    params = toy.sample_prior(max(args.datasets, args.amortised_datasets), rng)
    x = toy.simulate(params, rng)

    model = SetPosterior(1, 1, head="flow", encoder=(128, 128), embedding=64,
                         decoder=(128, 128)).eval()  # fmt: skip
    events = torch.as_tensor(x[: args.amortised_datasets, :, None], dtype=torch.float32)
    model.posterior(events[:2]).sample(10)  # warm-up
    start = time.perf_counter()
    model.posterior(events).sample(args.draws)
    amortised = (time.perf_counter() - start) / len(events)

    start = time.perf_counter()
    exact_posterior(x[: args.datasets])
    quadrature = (time.perf_counter() - start) / args.datasets

    nuts_posterior(x[0], num_samples=10, warmup=10, seed=0)  # pays pyro's import
    start = time.perf_counter()
    for b in range(args.datasets):
        nuts_posterior(x[b], num_samples=args.samples, warmup=args.warmup, seed=b,
                       chains=args.chains)  # fmt: skip
    nuts = (time.perf_counter() - start) / args.datasets

    print(f"bump hunt, 100 events per dataset, threads {torch.get_num_threads()}")
    print(f"  amortised deep set ({len(events)} datasets, {args.draws} draws each): "
          f"{1e3 * amortised:9.3f} ms per dataset")  # fmt: skip
    print(
        f"  exact quadrature (default grid):                {1e3 * quadrature:9.1f} ms per dataset"
    )
    print(f"  NUTS ({args.chains} x ({args.samples} + {args.warmup} warm-up)):"
          f"{1e3 * nuts:14.1f} ms per dataset")  # fmt: skip
    print(f"  ratio NUTS / amortised: {nuts / amortised:.0f}x")


if __name__ == "__main__":
    main()
