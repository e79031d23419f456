"""How closely the learned interference model's profile scans follow the exact ones, over datasets.

Uses the ratio ensembles trained by ``examples/interference_toy.py`` (run it first). For each of
``--datasets`` fresh pseudo-datasets of the toy (true mu cycling through 0.5, 1, 1.5), the
learned and the exact t(mu) are computed on a grid and the largest |t_learned - t_exact| where
t_exact < 4 is recorded; the script prints its median, 90% quantile and maximum, and where the
largest differences sit (a tilt of the scan shows as opposite signs on the two sides of the
minimum).

    python benchmarks/scan_closure.py --models results/interference/models/SR [--datasets 30]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nsbi.ratios import load_ensemble
from nsbi.simulators import closure_toy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, default=Path("results/interference/models/SR"))
    parser.add_argument("--datasets", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1000)
    args = parser.parse_args(argv)

    toy = closure_toy()
    ensembles = {p: load_ensemble(args.models / p) for p in toy.processes}
    yields = np.array([toy.yields()[p] for p in toy.processes])
    mus = np.linspace(0.0, 3.0, 301)
    root = np.sqrt(mus)
    c = np.stack([mus - root, root, 1 - root], 1) * yields  # (grid, 3)

    worst, rows = [], []
    for k in range(args.datasets):
        mu_true = (0.5, 1.0, 1.5)[k % 3]
        x = toy.sample_events(mu_true, np.random.default_rng(args.seed + k))
        ratios = np.exp(np.stack([ensembles[p].log_ratio(x) for p in toy.processes], 1))
        nll_learned = c.sum(1) - np.log(np.clip(ratios @ c.T, 1e-300, None)).sum(0)
        nll_exact = np.asarray(toy.nll(mus, x))
        t_learned = 2 * (nll_learned - nll_learned.min())
        t_exact = 2 * (nll_exact - nll_exact.min())
        delta = np.where(t_exact < 4, t_learned - t_exact, 0.0)
        i = int(np.argmax(np.abs(delta)))
        worst.append(abs(delta[i]))
        rows.append(
            (
                mu_true,
                mus[np.argmin(nll_exact)],
                mus[np.argmin(nll_learned)],
                mus[i],
                t_exact[i],
                delta[i],
            )
        )

    worst = np.array(worst)
    print(f"{toy}; models {args.models}; {args.datasets} datasets")
    print(
        f"  {'true mu':>7s} {'mu^ exact':>9s} {'mu^ NSBI':>9s} {'at mu':>6s} {'t_exact':>7s} "
        f"{'dt':>7s}"
    )
    for row in rows[:9]:
        print("  {:7.2f} {:9.3f} {:9.3f} {:6.2f} {:7.2f} {:+7.3f}".format(*row))
    print(
        f"max |t_learned - t_exact| where t_exact < 4: median {np.median(worst):.3f}, "
        f"90% {np.quantile(worst, 0.9):.3f}, max {worst.max():.3f}, "
        f"share above 0.1: {np.mean(worst > 0.1):.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
