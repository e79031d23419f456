"""Regenerate the figures of the documentation, ``docs/images/*.png``.

Each figure is drawn by the library's own plot functions (:mod:`nsbi.plot`) from a small,
seeded, fast run, so the pictures in the docs are what the commands draw:

- ``scan.png``: profile-likelihood scans of ``mu`` on ``workspaces/binned_sr_cr.json``, the
  observed one, the Asimov one at ``mu = 1`` and the observed one with the nuisance parameters
  held at their best-fit values (statistics only), overlaid;
- ``ranking.png``: impacts, pulls and constraints of the leading nuisance parameters of the
  same workspace (a subset of its parameters, to stay fast; ``nsbi fit --ranking`` ranks all);
- ``belt.png``: a Neyman belt with 400 toys per point on a one-bin counting experiment
  (pyhf's ``uncorrelated_background``), next to the asymptotic critical values;
- ``q0.png``: the discovery statistic's asymptotic distributions under background only and
  under signal, with the observed q0 of the same workspace (``nsbi significance --plot``);
- ``closure.png``: the reweighting closure of a ratio ensemble learned on the interference toy
  of the tutorial (``closure_toy``), in its first observable.

Run from the repository root (about half a minute on two busy CPU cores)::

    python docs/make_screenshots.py                # writes docs/images/
    python docs/make_screenshots.py --output DIR   # writes DIR/ instead
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
WORKSPACE = ROOT / "workspaces" / "binned_sr_cr.json"
DPI = 80
#: the figures this script writes, and the docs reference
FIGURES = ("scan.png", "ranking.png", "belt.png", "closure.png", "q0.png")
#: the nuisance parameters ranked in ranking.png: the six leading ones of the full ranking
#: (``nsbi fit workspaces/binned_sr_cr.json --ranking``), which takes four times longer
RANKED = [
    "sig_xsec",
    "staterror_SR[2]",
    "fakes_shape_SR[2]",
    "jes",
    "staterror_SR[3]",
    "fakes_norm",
]


def save(fig, path: Path) -> Path:
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def binned_figures(output: Path) -> list[Path]:
    """scan.png, ranking.png and q0.png, in one pyhf-backend block (switching pyhf's backend
    is slow)."""
    from nsbi.infer import asimov_model, fit, pulls, ranking, scan
    from nsbi.infer.hypotest import significance
    from nsbi.model import Model
    from nsbi.model.binned import pyhf_torch_backend
    from nsbi.plot import plot_ranking, plot_scan, plot_test_statistic
    from nsbi.workspace import Workspace

    with pyhf_torch_backend():
        model = Model.from_workspace(Workspace.load(WORKSPACE))
        values = np.linspace(0.0, 2.5, 11)
        observed = fit(model)
        constrained = model.prefit_uncertainties > 0
        stat_only = {
            name: float(observed.values[k])
            for k, name in enumerate(model.parameters.names)
            if constrained[k]
        }
        scans = [
            ("observed", scan(model, "mu", values, best_fit=observed)),
            ("Asimov, $\\mu = 1$", scan(asimov_model(model, {"mu": 1.0}), "mu", values)),
            ("observed, stat. only", scan(model, "mu", values, fix=stat_only)),
        ]
        scan_fig = plot_scan([(name, s.values, s.t) for name, s in scans], parameter="mu")
        impacts = ranking(model, observed, parameters=RANKED)
        ranking_fig = plot_ranking(impacts, pulls(model, observed), poi="mu")
        discovery = significance(model)
    q0_fig = plot_test_statistic(discovery.distributions)
    return [
        save(scan_fig, output / "scan.png"),
        save(ranking_fig, output / "ranking.png"),
        save(q0_fig, output / "q0.png"),
    ]


def belt_figure(output: Path) -> Path:
    import pyhf

    from nsbi.infer.belt import neyman_belt
    from nsbi.model import Model
    from nsbi.plot import plot_belt
    from nsbi.workspace import Workspace

    simple = pyhf.simplemodels.uncorrelated_background([10.0], [50.0], [7.0])
    spec = {
        "channels": simple.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [62]}],
        "measurements": [
            {
                "name": "counting",
                "config": {"poi": "mu", "parameters": [{"name": "mu", "bounds": [[0, 4]]}]},
            }
        ],
        "version": "1.0.0",
    }
    model = Model.from_workspace(Workspace(json.loads(json.dumps(spec))))
    belt = neyman_belt(model, np.linspace(0.0, 3.0, 9), 400, seed=1)
    return [save(plot_belt(belt), output / "belt.png")]


def closure_figure(output: Path) -> Path:
    from nsbi.plot import plot_closure
    from nsbi.ratios import TrainingConfig, train_ensemble
    from nsbi.ratios.diagnostics import reweighting_closure
    from nsbi.simulators import closure_toy

    toy = closure_toy()
    rng = np.random.default_rng(3)
    n = 10_000
    yields = toy.yields()
    samples = {p: toy.sample(p, n, rng) for p in toy.processes}
    reference = np.concatenate([samples[p] for p in toy.processes])
    reference_weights = np.repeat([yields[p] / n for p in toy.processes], n)
    config = TrainingConfig(hidden_layers=(32, 32), epochs=6, batch_size=1024, learning_rate=5e-3)
    ensemble = train_ensemble(
        samples["S"], None, reference, reference_weights, toy.observable_names, config, members=2
    )
    [histogram, *_] = reweighting_closure(
        ensemble.log_ratio(reference),
        reference,
        reference_weights,
        samples["S"],
        None,
        toy.observable_names,
    )
    return [save(plot_closure(histogram, "SR/S"), output / "closure.png")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DOCS / "images")
    args = parser.parse_args(argv)
    args.output.mkdir(parents=True, exist_ok=True)
    import torch

    # small runs: one intra-op thread is faster than one per core, much faster on busy cores
    torch.set_num_threads(1)
    for make in (binned_figures, belt_figure, closure_figure):
        start = time.perf_counter()
        paths = make(args.output)
        for path in paths:
            size = path.stat().st_size / 1024
            print(f"wrote {path} ({size:.0f} KiB)")
        print(f"  {make.__name__}: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
