"""Unbinned pseudo-experiments per second: sparse Poisson weights against the dense weight matrix.

A pseudo-experiment of an unbinned channel reweights the N_ref reference events with Poisson
weights of mean omega_i lambda(x_i)/p_ref(x_i), which sum to nu (a few hundred events here);
almost all weights are 0. nsbi keeps the nonzero ones (``SparseWeights``), so the event sum of
every NLL evaluation inside the batched fits costs O(nu) per toy instead of O(N_ref). This
script fits the same toys (unconditional + conditional at the generated mu, as for a belt)
both ways, in one process, on the interference toy's workspace (small ratio ensembles: the
speed does not depend on their accuracy), and prints toys/s, the ratio and the largest
difference of the test statistics; then the plain iminuit loop (one ``minimize`` per toy and
fit) on the first toys. It also times the generation of the toys against the per-event
Poisson draw.

    python benchmarks/unbinned_toys.py [--events 100000] [--toys 200] [--mu 1.0] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.infer import minimize
from nsbi.infer.batch_fit import fit_toys
from nsbi.infer.toys import PseudoExperiments, generate
from nsbi.model import Model
from nsbi.simulators import closure_toy, write_toy_workspace
from nsbi.workspace import Workspace

TRAINING = {"members": 1, "hidden_layers": [16, 16], "epochs": 2, "seed": 0}


def statistics(model, toys, point, poi, mu):
    free = fit_toys(model, toys, init=point)
    fixed = fit_toys(model, toys, init=point, fix={poi: mu})
    return np.clip(2 * (fixed.nll - free.nll), 0, None), free.fallbacks + fixed.fallbacks


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="simulated events per sample")
    parser.add_argument("--toys", type=int, default=200)
    parser.add_argument("--loop-toys", type=int, default=20)
    parser.add_argument("--mu", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as directory:
        path = write_toy_workspace(closure_toy(), Path(directory), events_per_sample=args.events, seed=1,
                                   training=TRAINING)  # fmt: skip
        result = CliRunner().invoke(cli, ["train", str(path), "--quiet"])
        assert result.exit_code == 0, result.output
        model = Model.from_workspace(Workspace.load(path))
    poi = model.parameters.poi
    point = model.parameter_vector({poi: args.mu}).numpy()
    n_ref = model.unbinned[0].n_events("reference")
    start = time.perf_counter()
    toys = generate(model, point, range(args.toys), (0,))
    generation = time.perf_counter() - start
    mean_events = float(toys.weights["SR"].sum().mean())
    print(f"torch {torch.__version__} ({torch.get_num_threads()} threads); {n_ref} reference "
          f"events, {mean_events:.0f} events per toy on average; {args.toys} toys at "
          f"{poi} = {args.mu}; one toy = unconditional + conditional fit")  # fmt: skip
    # the baseline draw: one Poisson number per reference event and toy (O(N_ref) per toy),
    # the same distribution as nsbi's Pois(nu) total shared multinomially (O(nu log N_ref))
    asimov = model.unbinned[0].asimov_weights(torch.as_tensor(point)).numpy()
    start = time.perf_counter()
    for index in range(args.toys):
        counts = np.random.default_rng([0, index]).poisson(asimov)
        np.flatnonzero(counts)
    per_event = time.perf_counter() - start
    print(f"generation: {args.toys} toys in {generation:.3f} s (Pois(nu) total, multinomial "
          f"shares) vs {per_event:.3f} s (per-event Poisson draws) = "
          f"{per_event / generation:.1f}x")  # fmt: skip
    dense = PseudoExperiments(toys.indices, toys.binned,
                              {k: v.to_dense() for k, v in toys.weights.items()}, toys.aux)  # fmt: skip
    rates, values = {}, {}
    for label, batch in (("sparse", toys), ("dense", dense)):
        start = time.perf_counter()
        values[label], fallbacks = statistics(model, batch, point, poi, args.mu)
        elapsed = time.perf_counter() - start
        rates[label] = args.toys / elapsed
        print(f"nsbi batched, {label:6s}: {args.toys:>5d} toys in {elapsed:7.2f} s = "
              f"{rates[label]:8.1f} toys/s ({fallbacks} iminuit fallbacks)")  # fmt: skip
    n = min(args.loop_toys, args.toys)
    start = time.perf_counter()
    loop, loop_best = [], []
    for row in range(n):
        one = toys.bind(model, row)
        best = minimize(one, init=point, errors=False).nll
        conditional = minimize(one, init=point, fix={poi: args.mu}, errors=False).nll
        loop.append(max(2 * (conditional - best), 0.0))
        loop_best.append(best)
    loop_rate = n / (time.perf_counter() - start)
    print(f"iminuit loop (sparse): {n:>5d} toys, {loop_rate:8.1f} toys/s")
    # the global minimum of the first toys on a fine grid of the POI (the model's only
    # parameter): sqrt(mu) NLLs can have two minima, and a fit may stop in the shallower
    lo, hi = model.parameters.bounds[model.parameters.poi_index]
    grid = torch.linspace(lo, hi, 5001, dtype=torch.float64)[:, None]
    with torch.no_grad():
        global_min = np.array([float(toys.bind(model, r).nll(grid).min()) for r in range(n)])
    free = fit_toys(model, toys.subset(range(n)), init=point).nll
    print(f"fits above the grid's global minimum by > 1e-3 (of {n}): batched "
          f"{int(np.sum(free > global_min + 1e-3))}, iminuit loop "
          f"{int(np.sum(np.array(loop_best) > global_min + 1e-3))}")  # fmt: skip
    print(f"ratios: sparse / dense = {rates['sparse'] / rates['dense']:.1f}x; "
          f"sparse batched / iminuit loop = {rates['sparse'] / loop_rate:.1f}x; max |t_sparse - "
          f"t_dense| = {np.max(np.abs(values['sparse'] - values['dense'])):.1e}, max |t_sparse - "
          f"t_loop| = {np.max(np.abs(values['sparse'][:n] - np.array(loop))):.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
