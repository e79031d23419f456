"""NSBI end to end on an off-shell-Higgs-style interference toy, against the truth and histograms.

The toy (:class:`nsbi.simulators.InterferenceToy`) has three samples, ``S``, ``SBI`` and ``B``,
mixed with the coefficients ``mu - sqrt(mu)``, ``sqrt(mu)`` and ``1 - sqrt(mu)`` in two
observables, and closed-form densities. The script does what an analysis does on real ntuples:

1. writes ROOT ntuples of the three samples and of one observed dataset, and the workspace JSON;
2. trains the ratio ensembles (``nsbi train``) and reports their reweighting closure;
3. fits mu and scans the profile likelihood (``nsbi fit --scan``), on the observed data and on
   the Asimov dataset at mu = 1;

and then what only a toy allows: it compares the learned scans with the scans of the exact
densities, and with a pyhf model of histograms of the same simulated samples (the binned
analysis NSBI replaces). Everything is printed side by side and drawn in
``OUTPUT/scans_asimov.png`` and ``OUTPUT/scans_observed.png``.

Run (about three minutes on two CPU cores)::

    python examples/interference_toy.py --output results/interference

The same steps from the command line, after the first step has written the workspace::

    nsbi train results/interference/workspace.json
    nsbi fit results/interference/workspace.json --scan mu --range 0 3 --points 31
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from nsbi.exceptions import FitError
from nsbi.infer import fit, scan
from nsbi.infer.baseline import histogram_baseline
from nsbi.infer.profile import crossings, curve_of
from nsbi.io import write_json
from nsbi.model import Model
from nsbi.plot import plot_scan, save_figure
from nsbi.ratios import load_ensemble
from nsbi.simulators import InterferenceToy, closure_toy, write_toy_workspace
from nsbi.workflows import train_workspace
from nsbi.workspace import Workspace
from nsbi.workspace.events import observed_events, reference_events

TRAINING = {
    "members": 5,
    "hidden_layers": [32, 32],
    "epochs": 20,
    "batch_size": 2048,
    "learning_rate": 0.005,
    "patience": 20,
    "seed": 0,
}


def ratio_accuracy(toy: InterferenceToy, models: Path, seed: int = 123) -> dict[str, float]:
    """RMSE of the learned log r_j against the exact one, on fresh reference-pool events whose
    exact log r_j lies between its 1st and 99th percentile (events weighted by yield)."""
    rng = np.random.default_rng(seed)
    yields = toy.yields()
    x = np.concatenate([toy.sample(p, 20_000, rng) for p in toy.processes])
    w = np.repeat([yields[p] for p in toy.processes], 20_000)
    rmse = {}
    for process in toy.processes:
        exact = toy.log_ratio(process, x, reference=toy.processes)
        lo, hi = np.percentile(exact, [1, 99])
        keep = (exact >= lo) & (exact <= hi)
        error = load_ensemble(models / process).log_ratio(x)[keep] - exact[keep]
        rmse[process] = float(np.sqrt(np.average(error**2, weights=w[keep])))
    return rmse


def exact_scan(toy: InterferenceToy, x: np.ndarray, values: np.ndarray, weights=None):
    """t(mu) of the exact densities (events ``x`` with optional weights), and its minimum."""
    return curve_of(lambda mu: toy.nll(mu, x, weights), values, (0.0, float(values[-1])))


def describe(name: str, values, t, best: float) -> dict:
    lo, hi = crossings(values, t, 1.0)
    return {"method": name, "best": best, "lo": lo, "hi": hi, "width": hi - lo}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=Path("results/interference"))
    parser.add_argument("--events", type=int, default=100_000, help="simulated events per sample")
    parser.add_argument("--members", type=int, default=TRAINING["members"])
    parser.add_argument(
        "--bins",
        type=int,
        nargs="+",
        default=[3, 4, 6],
        help="histogram baselines: bins per observable",
    )
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)

    toy = closure_toy()
    print(f"toy: {toy}; yields {', '.join(f'{k} {v:.1f}' for k, v in toy.yields().items())}")
    path = write_toy_workspace(
        toy,
        args.output,
        events_per_sample=args.events,
        seed=args.seed,
        training={**TRAINING, "members": args.members},
        poi_bounds=(0.0, 5.0),
    )
    print(f"wrote {path} and its ntuples")

    ws = Workspace.load(path)
    for report in train_workspace(ws, report=None):
        print(report.line())
    rmse = ratio_accuracy(toy, args.output / "models" / "SR")
    print(
        "RMSE of learned log r_j vs exact (1st-99th percentile): "
        + ", ".join(f"{k} {v:.4f}" for k, v in rmse.items())
    )

    model = Model.from_workspace(ws)
    print(fit(model))
    values = np.linspace(0.0, 3.0, 61)
    x = observed_events(ws, ws.channel("SR")).features
    results = {}
    for dataset in ("asimov", "observed"):
        if dataset == "asimov":
            pars = model.parameter_vector({"mu": 1.0})
            learned = scan(model.asimov(pars), values=values)
            # the exact Asimov dataset on the same reference events:
            # w_i = omega_i lambda(x_i | mu = 1) / p_ref(x_i), with exact densities
            ref = reference_events(ws, ws.channel("SR"))
            omega = ref.weights / ref.weights.sum()
            log_p_ref = toy.log_reference_density(ref.features, toy.processes)
            weights = omega * np.exp(toy.log_intensity(ref.features, 1.0) - log_p_ref)
            t_exact, best_exact = exact_scan(toy, ref.features, values, weights)
        else:
            learned = scan(model, values=values)
            t_exact, best_exact = exact_scan(toy, x, values)
        rows = [
            describe("exact densities", values, t_exact, best_exact),
            describe("NSBI (learned)", values, learned.t, learned.best_fit.value("mu")),
        ]
        curves = [("exact densities", values, t_exact), ("NSBI (learned)", values, learned.t)]
        for bins in args.bins:
            baseline = histogram_baseline(ws, "SR", bins=bins)
            name = f"pyhf histograms {bins}x{bins}"
            try:
                _, t_binned, best = baseline.scan(
                    values, asimov_poi=1.0 if dataset == "asimov" else None
                )
            except FitError as error:
                print(f"  {name}: {error}")
                continue
            rows.append(describe(name, values, t_binned, best))
            curves.append((name, values, t_binned))
        inside = t_exact < 4
        rows[1]["max_abs_delta_t_vs_exact_where_t_lt_4"] = float(
            np.max(np.abs(learned.t - t_exact)[inside])
        )
        results[dataset] = {
            "rows": rows,
            "curves": [(n, v.tolist(), t.tolist()) for n, v, t in curves],
        }

        print(f"\n{dataset} data: 68% CL intervals on mu (t = 1 crossings)")
        print(f"  {'method':28s} {'best mu':>8s} {'low':>8s} {'high':>8s} {'width':>8s}")
        for row in rows:
            print(
                f"  {row['method']:28s} {row['best']:8.3f} {row['lo']:8.3f} {row['hi']:8.3f} "
                f"{row['width']:8.3f}"
            )
        print(
            f"  max |t_NSBI - t_exact| where t_exact < 4: "
            f"{rows[1]['max_abs_delta_t_vs_exact_where_t_lt_4']:.3f}"
        )
        fig = plot_scan(curves, "mu")
        fig.axes[0].set_title(f"{dataset} data", fontsize=14)
        for saved in save_figure(fig, args.output, f"scans_{dataset}"):
            print(f"  wrote {saved}")

    write_json(args.output / "summary.json", {"ratio_rmse": rmse, **results})
    print(f"\nwrote {args.output / 'summary.json'}")
    for dataset, result in results.items():
        nsbi_width = result["rows"][1]["width"]
        binned = [r for r in result["rows"][2:] if np.isfinite(r["width"])]
        best = min(binned, key=lambda r: r["width"])
        print(
            f"{dataset}: NSBI width / best histogram width ({best['method']}) = "
            f"{nsbi_width / best['width']:.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
