"""Coverage of Neyman-belt intervals on the unbinned interference toy, with a nuisance parameter.

The toy (:func:`nsbi.simulators.closure_toy`: three samples with closed-form densities, the
signal strength ``mu`` entering through interference) gets a 10% background normalisation
uncertainty (``normsys`` on ``B``, Gaussian-constrained), the ratio ensembles are trained
(``nsbi train``, small networks), and then:

1. the belt of ``mu`` on a grid from Poisson-reweighted pseudo-experiments (``nsbi belt``, the
   profile construction, checkpointed), with its figures;
2. the coverage of the belt intervals at the true ``mu`` (:func:`nsbi.infer.coverage.coverage`):
   N independent pseudo-observations at the truth, each with its own profile construction of
   T toys, counted as covered when its t_mu(true) is below its critical value.

The covered fractions at 68.27% and 95.45% CL are printed with their binomial standard errors,
beside the coverage a perfect construction has with T toys, and drawn in
``OUTPUT/coverage.png``. Run (about 15 minutes on two CPU cores; the defaults are those of
the slow test ``tests/infer/test_coverage.py``)::

    python examples/belt_coverage.py --output results/coverage [--observations 500 --toys 100]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

from nsbi.infer.coverage import coverage
from nsbi.infer.distributed import run_belt
from nsbi.io import write_json
from nsbi.model import Model
from nsbi.plot import plot_belt, plot_toy_distributions, save_figure
from nsbi.plot.style import label, set_style
from nsbi.simulators import closure_toy, write_toy_workspace
from nsbi.workflows import train_workspace
from nsbi.workspace import Workspace

TRAINING = {
    "members": 3,
    "hidden_layers": [32, 32],
    "epochs": 15,
    "batch_size": 1024,
    "learning_rate": 0.005,
    "patience": 15,
    "seed": 0,
}


def coverage_workspace(directory: Path, events_per_sample: int, seed: int) -> Path:
    """Write the toy with a ``bkg_norm`` normsys (10%) on ``B`` and train its ensembles."""
    path = write_toy_workspace(
        closure_toy(),
        directory,
        events_per_sample=events_per_sample,
        seed=seed,
        training=TRAINING,
        poi_bounds=(0, 5),
    )
    spec = json.loads(path.read_text())
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            if sample["name"] == "B":
                sample.setdefault("modifiers", []).append(
                    {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}
                )
    write_json(path, spec)
    train_workspace(Workspace.load(path), progress=False)
    return path


def plot_coverage(result) -> plt.Figure:
    """Covered fraction against CL, with binomial errors and the expected coverage."""
    set_style()
    fig, ax = plt.subplots(figsize=(6, 5))
    levels = np.array(result.cl)
    fractions = np.array([result.fraction(c) for c in result.cl])
    ax.errorbar(levels, fractions[:, 0], fractions[:, 1], fmt="o", color="black", label="toys")
    ax.plot(
        levels,
        [result.expected(c) for c in result.cl],
        "_",
        ms=30,
        color="tab:red",
        label=f"perfect, {result.toys} toys",
    )
    ax.plot([0.6, 1.0], [0.6, 1.0], color="grey", ls="--", lw=1, label="nominal")
    ax.set_xlabel("confidence level")
    ax.set_ylabel("coverage")
    ax.set_xlim(0.6, 1.0)
    ax.set_ylim(0.6, 1.0)
    ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.92))
    label(ax)
    return fig


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("results/coverage"))
    parser.add_argument("--events-per-sample", type=int, default=1000)
    parser.add_argument("--mu", type=float, default=1.0, help="the true mu")
    parser.add_argument("--observations", type=int, default=500)
    parser.add_argument("--toys", type=int, default=100, help="toys per observation")
    parser.add_argument("--belt-toys", type=int, default=200, help="toys per belt grid point")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    path = coverage_workspace(args.output / "toy", args.events_per_sample, args.seed)
    model = Model.from_workspace(Workspace.load(path))
    print(f"workspace {path}: parameters {model.parameters.names}")

    belt = run_belt(
        path,
        np.linspace(0.0, 3.0, 13),
        args.belt_toys,
        seed=args.seed,
        checkpoints=args.output / "belt.checkpoints",
        resume=(args.output / "belt.checkpoints").exists(),
        progress=True,
    )
    print(belt)
    write_json(args.output / "belt.json", belt.to_dict())
    save_figure(plot_belt(belt), args.output, "belt")
    save_figure(plot_toy_distributions(belt), args.output, "belt_toys")

    result = coverage(
        model,
        {"mu": args.mu},
        args.observations,
        args.toys,
        seed=args.seed,
        progress=True,
    )
    print(result)
    write_json(args.output / "coverage.json", result.to_dict())
    save_figure(plot_coverage(result), args.output, "coverage")
    print(f"wrote {args.output}/belt.json, coverage.json and figures")


if __name__ == "__main__":
    main()
