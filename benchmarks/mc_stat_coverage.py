"""Coverage of learned-likelihood intervals against the TRUE mu, without and with the
MC-statistical treatment, and the reported MC-statistical error against the real one.

Two toys with exact densities (``--toy``): ``signal-strength``, the model mu S + B with a small
S/B (default nu_S = 50, nu_B = 5000, two Gaussian observables, reference B as the docs advise),
and ``interference``, the off-shell mixture (mu - sqrt mu) S + sqrt(mu) SBI + (1 - sqrt mu) B of
``nsbi.simulators.InterferenceToy`` (interference strength ``--interference``, default 0.6; three
samples, reference B, mu >= 0). ``--holdout f`` holds that fraction of every simulation out of
training (the channel's ``holdout``): the model's pool is then events the networks never saw. For each
MC size (events per sample) and each of ``--draws`` independent simulations of that size, the
workspace is written, its ratio ensemble and ``--replicas`` bootstrap replicas are trained by
``nsbi``'s own pipeline, and ``--datasets`` pseudo-observations drawn from the EXACT model at
the true mu (fresh events, the same datasets for every draw and size) are fitted:

- without the treatment: the profile-likelihood interval {mu: t(mu) < 1} (68.27%) or < 4
  (95.45%) of the learned model covers the truth when t(mu_true) < 1 (< 4);
- with it: the same with the MC-statistical uncertainty propagated
  (``nsbi.infer.mc_stat.MCStatModel``, the replicas refitted to each dataset, as ``nsbi fit
  --mc-stat propagate`` does).

It prints, per MC size: the coverage of both intervals (with binomial standard errors over all
fits, and the standard error over draws, which also counts the draws' shared MC errors), the
mean interval half-widths, the mean reported MC-statistical error of mu_hat, and the real one:
the spread over independent draws of mu_hat on the same dataset (averaged over datasets), with
the exact model's fit as the reference. Then the cost of the replicas (training time against
the nominal's) and of the propagation (fit time against the nominal fit).

    python benchmarks/mc_stat_coverage.py [--toy signal-strength|interference]
        [--sizes 10000 30000 100000] [--draws 10] [--holdout 0.5] [--epochs 12] [--patience 20]
        [--reference B]
        [--replicas 10] [--datasets 100] [--spread-datasets 10] [--threads 2] [--work results/mc_stat]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np
import torch
from scipy import optimize

from nsbi.infer.mc_stat import MCStatModel, mc_stat_uncertainty
from nsbi.infer.minimize import minimize
from nsbi.io import write_ntuple
from nsbi.model import Model, pyhf_torch_backend
from nsbi.model.unbinned import SparseWeights
from nsbi.simulators import InterferenceToy, write_toy_workspace
from nsbi.workflows import train_workspace
from nsbi.workspace import Workspace

TRAINING = {
    "members": 2,
    "hidden_layers": [32, 32],
    "epochs": 12,
    "batch_size": 2048,
    "learning_rate": 0.005,
    "patience": 20,
    "seed": 0,
}
LEVELS = {"0.6827": 1.0, "0.9545": 4.0}


def _datasets(toy, mu, count, seed):
    """``count`` independent datasets of the exact model at ``mu``: (pooled events, blocks)."""
    rng = np.random.default_rng(seed)
    parts = [toy.sample_events(mu, rng) for _ in range(count)]
    edges = np.cumsum([0] + [len(p) for p in parts])
    return np.concatenate(parts), [
        np.arange(a, b) for a, b in zip(edges[:-1], edges[1:], strict=True)
    ]


def _exact(toy, x, bounds, mu_true):
    """(mu_hat, t(mu_true)) of the exact extended likelihood: mu S + B (negative mu allowed
    where the intensity stays positive) without interference, the toy's exact intensity
    mu S + sqrt(mu) I + B (mu >= 0) with it; the control the learned intervals are held against."""
    if toy.interference:

        def nll(mu):
            return toy.total_yield(mu) - toy.log_intensity(x, mu).sum()

    else:
        s = toy.nu_signal * np.exp(toy.log_density("S", x))
        b = toy.nu_background * np.exp(toy.log_density("B", x))

        def nll(mu):
            intensity = mu * s + b
            if np.any(intensity <= 0):
                return np.inf
            return mu * toy.nu_signal + toy.nu_background - np.log(intensity).sum()

    result = optimize.minimize_scalar(nll, bounds=bounds, method="bounded", options={"xatol": 1e-7})
    return float(result.x), max(2 * (nll(mu_true) - result.fun), 0.0)


def _t_at(model, weights, mu_true, init):
    """t(mu_true) = 2 [min NLL(mu_true, .) - min NLL], the fitted mu and the fit."""
    free = minimize(model, weights=weights, init=init)
    if len(model.parameters.names) > 1:
        fixed = minimize(model, weights=weights, init=free.values, fix={"mu": mu_true})
        nll = fixed.nll
    else:
        with torch.no_grad():
            nll = float(model.nll(torch.tensor([mu_true], dtype=torch.float64), weights))
    return max(2 * (nll - free.nll), 0.0), free


def _draw(toy, size, draw, args, x, blocks, directory, mu_true):
    """Train one simulation of ``size`` events per sample with its replicas; fit every dataset."""
    shutil.rmtree(directory, ignore_errors=True)  # train from scratch: the cost is measured
    training = {**TRAINING, **{k: v for k, v in vars(args).items() if k in TRAINING and v}}
    path = write_toy_workspace(
        toy, directory, events_per_sample=size, seed=10_000 * size + draw, training=training,
        poi_bounds=args.bounds, samples=args.samples, reference=tuple(args.reference),
    )  # fmt: skip
    spec = json.loads(path.read_text())
    spec["channels"][0]["mc_stat"] = {"replicas": args.replicas, "seed": draw}
    if args.holdout:
        spec["channels"][0]["holdout"] = {"fraction": args.holdout, "seed": draw}
    path.write_text(json.dumps(spec))
    write_ntuple(directory / "ntuples" / "data.root", {"events": {"x1": x[:, 0], "x2": x[:, 1]}})
    reports = train_workspace(Workspace.load(path))
    seconds = {"nominal": 0.0, "replicas": 0.0}
    for report in reports:
        if report.seconds:
            seconds["replicas" if "replica" in report.sample else "nominal"] += report.seconds

    model = Model.from_workspace(Workspace.load(path))
    replicas = [model.replica(b) for b in range(model.replicas)]
    rows = []
    fit_seconds = {"nominal": 0.0, "propagated": 0.0, "replicas": 0.0}
    for block in blocks:
        weights = SparseWeights(torch.from_numpy(block), torch.ones(len(block), dtype=torch.float64),
                                len(x))  # fmt: skip
        start = time.perf_counter()
        t_plain, free = _t_at(model, weights, mu_true, None)
        fit_seconds["nominal"] += time.perf_counter() - start
        start = time.perf_counter()
        uncertainty = mc_stat_uncertainty(model, free, weights=weights, replicas=replicas)
        fit_seconds["replicas"] += time.perf_counter() - start
        start = time.perf_counter()
        extended = MCStatModel(model, uncertainty)
        init = np.concatenate([free.values, np.zeros(extended.shift.shape[1])])
        t_treated, total = _t_at(extended, weights, mu_true, init)
        fit_seconds["propagated"] += time.perf_counter() - start
        rows.append(
            {
                "mu_hat": free.value("mu"),
                "sigma_stat": free.error("mu"),
                "sigma_total": total.error("mu"),
                "sigma_mc": uncertainty.error("mu"),
                "t_plain": t_plain,
                "t_treated": t_treated,
                "failed": int(not free.valid) + int(not total.valid) + uncertainty.failed_fits,
            }
        )
    return rows, seconds, fit_seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toy", choices=("signal-strength", "interference"),
                        default="signal-strength")  # fmt: skip
    parser.add_argument("--interference", type=float, default=0.6,
                        help="interference strength c of the interference toy")  # fmt: skip
    parser.add_argument("--epochs", type=int, default=None,
                        help=f"training epochs (default {TRAINING['epochs']})")  # fmt: skip
    parser.add_argument("--patience", type=int, default=None,
                        help=f"early-stopping patience (default {TRAINING['patience']})")  # fmt: skip
    parser.add_argument("--members", type=int, default=None,
                        help=f"ensemble members (default {TRAINING['members']})")  # fmt: skip
    parser.add_argument("--reference", nargs="+", default=["B"],
                        help="the samples pooled into the reference density (default B)")  # fmt: skip
    parser.add_argument("--holdout", type=float, default=0.0,
                        help="hold this fraction of the simulated events out of training "
                        "(the channel's holdout.fraction; 0: none)")  # fmt: skip
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--draws", type=int, default=10)
    parser.add_argument("--replicas", type=int, default=10)
    parser.add_argument("--datasets", type=int, default=100,
                        help="pseudo-observations per simulation for the coverage")  # fmt: skip
    parser.add_argument("--spread-datasets", type=int, default=10,
                        help="datasets every simulation fits, for the spread")  # fmt: skip
    parser.add_argument("--nu-signal", type=float, default=50.0)
    parser.add_argument("--nu-background", type=float, default=5000.0)
    parser.add_argument("--mu", type=float, default=1.0, help="the true mu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("results/mc_stat"))
    parser.add_argument("--output", type=Path, default=None, help="write the table as JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    interference = args.interference if args.toy == "interference" else 0.0
    toy = InterferenceToy(d=2, nu_signal=args.nu_signal, nu_background=args.nu_background,
                          interference=interference)  # fmt: skip
    args.samples = ("S", "SBI", "B") if interference else ("S", "B")
    args.bounds = (0.0, 20.0) if interference else (-10.0, 20.0)
    # the spread over simulations is measured on datasets every simulation fits; coverage on
    # datasets of each simulation's own (independent across simulations and sizes)
    shared_x, shared_blocks = _datasets(toy, args.mu, args.spread_datasets, seed=12345)
    shared_exact = np.array([_exact(toy, shared_x[b], args.bounds, args.mu)[0]
                             for b in shared_blocks])  # fmt: skip
    print(f"{args.toy} toy {toy}: S/B = 1/{args.nu_background / args.nu_signal:g}, true mu = {args.mu:g}; "
          f"{args.draws} simulations per size, each fitting {args.datasets} fresh datasets of its "
          f"own and {args.spread_datasets} shared ones, "
          f"{args.replicas} bootstrap replicas each"
          + (f"; {args.holdout:g} of each simulation held out" if args.holdout else ""))  # fmt: skip
    table = []
    for size in args.sizes:
        draws, costs, fit_costs = [], [], []
        for draw in range(args.draws):
            own_x, own_blocks = _datasets(toy, args.mu, args.datasets, seed=(size, draw))
            x = np.concatenate([own_x, shared_x])
            blocks = own_blocks + [b + len(own_x) for b in shared_blocks]
            with pyhf_torch_backend():
                reference = "".join(args.reference)
                directory = args.work / f"{args.toy}_{reference}_h{args.holdout:g}_n{size}_d{draw}"
                rows, seconds, fit_seconds = _draw(toy, size, draw, args, x, blocks, directory,
                                                   args.mu)  # fmt: skip
            for row, block in zip(rows[: len(own_blocks)], own_blocks, strict=True):
                row["t_exact"] = _exact(toy, own_x[block], args.bounds, args.mu)[1]
            draws.append(rows)
            costs.append(seconds)
            fit_costs.append(fit_seconds)
            print(f"  {size} events, draw {draw}: trained in {seconds['nominal']:.0f} s "
                  f"(+ {seconds['replicas']:.0f} s replicas)", flush=True)  # fmt: skip
        entry = _summary(
            args.toy, args.holdout, size, draws, args.datasets, shared_exact, costs, fit_costs
        )
        entry["reference"] = list(args.reference)
        entry["training"] = {**TRAINING, **{k: v for k, v in vars(args).items()
                                            if k in TRAINING and v}}  # fmt: skip
        table.append(entry)
        _print(entry)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(table, indent=1))
    return 0


def _summary(toy_name, holdout, size, draws, n_own, shared_exact, costs, fit_costs) -> dict:
    def field(name, part):
        rows = [r[:n_own] if part == "own" else r[n_own:] for r in draws]
        return np.array([[row[name] for row in rs] for rs in rows])  # (draws, datasets)

    entry = {"toy": toy_name, "holdout": holdout, "events_per_sample": size,
             "draws": len(draws), "datasets": n_own}  # fmt: skip
    n = len(draws) * n_own
    for label, threshold in LEVELS.items():
        for kind in ("plain", "treated", "exact"):
            covered = field(f"t_{kind}", "own") < threshold
            p = float(covered.mean())
            entry[f"coverage_{kind}_{label}"] = p
            entry[f"se_binomial_{kind}_{label}"] = float(np.sqrt(p * (1 - p) / n))
            entry[f"se_draws_{kind}_{label}"] = float(
                covered.mean(1).std(ddof=1) / np.sqrt(len(draws))
            )
    entry["sigma_stat"] = float(field("sigma_stat", "own").mean())
    entry["sigma_total"] = float(field("sigma_total", "own").mean())
    # the real MC-statistical error: the spread over independent simulations of mu_hat on the
    # same datasets, against the error the replicas report on them
    shared = field("mu_hat", "shared")
    entry["spread_datasets"] = int(shared.shape[1])
    entry["sigma_mc_reported"] = float(np.sqrt((field("sigma_mc", "shared") ** 2).mean()))
    entry["sigma_mc_real"] = float(np.sqrt(shared.var(0, ddof=1).mean()))
    entry["bias_vs_exact"] = float((shared - shared_exact[None]).mean())
    entry["failed_fits"] = int(field("failed", "own").sum() + field("failed", "shared").sum())
    entry["training_seconds"] = float(np.mean([c["nominal"] for c in costs]))
    entry["replica_training_seconds"] = float(np.mean([c["replicas"] for c in costs]))
    entry["fit_seconds"] = float(np.mean([c["nominal"] for c in fit_costs]))
    entry["replica_fit_seconds"] = float(np.mean([c["replicas"] for c in fit_costs]))
    entry["propagated_fit_seconds"] = float(np.mean([c["propagated"] for c in fit_costs]))
    return entry


def _print(e: dict) -> None:
    print(f"\nMC size {e['events_per_sample']} events per sample: {e['draws']} simulations x "
          f"{e['datasets']} datasets of their own")  # fmt: skip
    for label in LEVELS:
        for kind, name in (
            ("plain", "without MC-stat"),
            ("treated", "with MC-stat   "),
            ("exact", "exact model    "),
        ):
            p = e[f"coverage_{kind}_{label}"]
            se, sd = e[f"se_binomial_{kind}_{label}"], e[f"se_draws_{kind}_{label}"]
            pull = (p - float(label)) / se if se > 0 else float("nan")
            print(f"  {label} CL {name}: coverage {p:.4f} +- {se:.4f} (binomial; {sd:.4f} over "
                  f"draws), {pull:+.1f} binomial SE from nominal")  # fmt: skip
    print(f"  half-width of the 68% interval: {e['sigma_stat']:.4f} without, "
          f"{e['sigma_total']:.4f} with")  # fmt: skip
    ratio = e["sigma_mc_reported"] / e["sigma_mc_real"]
    print(f"  MC-statistical error of mu_hat on {e['spread_datasets']} shared datasets: reported "
          f"{e['sigma_mc_reported']:.4f}, real (spread over {e['draws']} simulations) "
          f"{e['sigma_mc_real']:.4f}: ratio {ratio:.3f}; "
          f"mean mu_hat - exact {e['bias_vs_exact']:+.4f}; failed fits {e['failed_fits']}")  # fmt: skip
    print(f"  cost: replicas train in {e['replica_training_seconds']:.1f} s vs "
          f"{e['training_seconds']:.1f} s nominal "
          f"({e['replica_training_seconds'] / max(e['training_seconds'], 1e-9):.1f}x); per "
          f"{e['datasets']} datasets, the propagated fits take "
          f"{e['propagated_fit_seconds']:.2f} s vs {e['fit_seconds']:.2f} s nominal "
          f"({e['propagated_fit_seconds'] / max(e['fit_seconds'], 1e-9):.2f}x), replica refits "
          f"{e['replica_fit_seconds']:.2f} s")  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
