"""Inference time of a learned dataset-wide statistic against explicit profiling.

For ``B`` datasets of the section 3.2 mixture (arXiv:2306.12584) and ``G`` tested values of
theta, in one process:

1. explicit profiling: one free fit and ``G`` conditional fits per dataset by iminuit (MIGRAD
   with the analytic gradient, warm-started along the grid), as
   :meth:`nsbi.simulators.SignalBackgroundMixture.profile_likelihood_ratio` does;
2. the learned statistic: :meth:`nsbi.sets.LearnedStatistic.on_grid`, one encoder pass over all
   events and ``B x G`` passes of the head, default architecture.

The cost of a network does not depend on its weights, so the network here is untrained (its
accuracy is measured by ``examples/learned_statistic.py``).

    python benchmarks/learned_statistic.py [--datasets 1000] [--grid 41] [--threads N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nsbi.sets import DeepSet, LearnedStatistic, StatisticTraining
from nsbi.simulators.signal_background import SignalBackgroundMixture


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=int, default=1000)
    parser.add_argument("--grid", type=int, default=41)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    toy = SignalBackgroundMixture()
    x, mask = toy.simulate(torch.full((args.datasets,), 5.0), torch.ones(args.datasets),
                           torch.Generator().manual_seed(0))  # fmt: skip
    grid = np.linspace(3.0, 7.0, args.grid)
    network = DeepSet(1, 2, n_context=1, **StatisticTraining().network)
    statistic = LearnedStatistic(network, "theta", ("x",))
    statistic.on_grid(x[:2], mask[:2], grid)  # warm-up

    start = time.perf_counter()
    statistic.on_grid(x, mask, grid)
    learned = time.perf_counter() - start
    start = time.perf_counter()
    toy.profile_likelihood_ratio(x, mask, grid)
    profiled = time.perf_counter() - start
    fits = args.datasets * (args.grid + 1)
    events = float(mask.sum(1).mean())
    print(
        f"{args.datasets} datasets x {args.grid} values of theta ({events:.0f} events per "
        f"dataset, threads {torch.get_num_threads()})"
    )
    per_fit = 1e3 * profiled / fits
    print(f"  iminuit profiling ({fits} fits): {profiled:8.2f} s  ({per_fit:.2f} ms per fit)")
    print(f"  learned statistic (one pass):  {learned:8.3f} s")
    print(f"  ratio: {profiled / learned:.0f}x faster")


if __name__ == "__main__":
    main()
