"""How the training of the ratio ensembles sets the closure of the interference model's scans.

Trains the three ensembles of the closure toy (``nsbi.simulators.closure_toy``: S, SBI, B against
their pooled reference, or any reference named by ``--reference``) from ``--events`` simulated
events per sample with the given settings, then, on an independent pool of simulated events:

* the RMSE of each learned log-ratio against the exact one (events between the 1st and 99th
  percentile, as the tests measure it);
* the expected (Asimov, mu = 1) profile scan of the learned model against the exact one. Both
  are the same mixture on the same pool (read as reference draws), with learned or exact ratios,
  each normalised on the pool as ``Model`` normalises on its reference events. Two ways: on the
  exact model's Asimov data (a bias of the learned score shows as a linear delta t) and on each
  model's own Asimov data (as ``Model.asimov`` builds it: both minima at mu = 1, only the
  curvatures differ); the largest |delta t| where t_exact < 4 and the signed differences;
* the Asimov discovery statistic q0_A at the mu where the exact one is 9 (3 sigma), each model
  on its own Asimov data; and that of the learned model with one process's ratio replaced by
  the exact one (which ratio carries the error).

``--save DIR`` writes the trained ensembles, ``--load DIR`` reads them back instead of training
(the same ``--events`` and ``--seed`` rebuild the same samples and pool).

Nothing is asserted: it prints one JSON line per run, to compare settings side by side.

    python benchmarks/ratio_closure.py --events 100000 --members 5 --hidden 32 32 --epochs 20
    python benchmarks/ratio_closure.py --events 300000 --reference B ...
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy import optimize

from nsbi.ratios import TrainingConfig, load_ensemble, save_ensemble, train_ensemble
from nsbi.simulators import closure_toy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--hidden", type=int, nargs="+", default=[32, 32])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--learning-rate", type=float, default=0.005)
    parser.add_argument("--reference", nargs="+", default=["S", "SBI", "B"])
    parser.add_argument("--seed", type=int, default=3, help="seed of the training samples")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--save", type=Path, help="write the trained ensembles to DIR/<process>")
    parser.add_argument("--load", type=Path, help="read the ensembles from DIR/<process> "
                        "(written by --save with the same settings) instead of training")  # fmt: skip
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    toy = closure_toy()
    yields = toy.yields()
    n = args.events
    rng = np.random.default_rng(args.seed)
    samples = {p: toy.sample(p, n, rng) for p in toy.processes}
    reference = np.concatenate([samples[p] for p in args.reference])
    reference_w = np.concatenate([np.full(n, yields[p] / n) for p in args.reference])
    config = TrainingConfig(hidden_layers=tuple(args.hidden), epochs=args.epochs,
                            batch_size=args.batch_size, learning_rate=args.learning_rate,
                            patience=args.epochs)  # fmt: skip
    start = time.perf_counter()
    log_ratio = {}
    for p in toy.processes:
        if [p] == args.reference:  # a sole reference sample has ratio 1, as in a workspace
            log_ratio[p] = lambda x: np.zeros(len(x))
            continue
        if args.load:
            ensemble = load_ensemble(args.load / p)
        else:
            ensemble = train_ensemble(samples[p], np.full(n, yields[p] / n), reference,
                                      reference_w, ["x0", "x1"], config, members=args.members)  # fmt: skip
        if args.save:
            save_ensemble(ensemble, args.save / p)
        log_ratio[p] = ensemble.log_ratio
    seconds = time.perf_counter() - start

    pool_rng = np.random.default_rng(10_000 + args.seed)
    x = np.concatenate([toy.sample(p, n, pool_rng) for p in toy.processes])
    w = np.concatenate([np.full(n, yields[p] / n) for p in toy.processes])
    omega = w / w.sum()
    log_p_pool = toy.log_reference_density(x, toy.processes)
    log_r = np.stack([log_ratio[p](x) for p in toy.processes], 1)
    rmse = {}
    for j, p in enumerate(toy.processes):
        exact = toy.log_ratio(p, x, reference=args.reference)
        lo, hi = np.percentile(exact, [1, 99])
        keep = (exact >= lo) & (exact <= hi)
        rmse[p] = float(np.sqrt(np.average((log_r[:, j] - exact)[keep] ** 2, weights=w[keep])))

    # Both models are the same mixture, one with the learned ratios and one with the exact ones,
    # each normalised on the pool read as reference draws (as Model normalises on its reference
    # events), so their Asimov data and yields are consistent to float precision and any
    # difference between the scans comes from the ratios alone.
    to_reference = np.exp(toy.log_reference_density(x, args.reference) - log_p_pool)
    omega_ref = omega * to_reference
    exact_log_r = np.stack([toy.log_ratio(p, x, reference=args.reference)
                            for p in toy.processes], 1)  # fmt: skip
    models = {}
    tables = {"learned": log_r, "exact": exact_log_r}
    for j, p in enumerate(toy.processes):  # the learned model with process p's ratio exact
        tables[f"exact_{p}"] = np.where(np.arange(len(toy.processes)) == j, exact_log_r, log_r)
    for name, table in tables.items():
        r = np.exp(table)
        models[name] = r / (omega_ref @ r)  # E_ref[r_j] = 1 on the pool
    nu = np.array([yields[p] for p in toy.processes])

    def coefficients(mu):
        root = np.sqrt(mu)
        return np.array([mu - root, root, 1 - root]) * nu

    def nll(model, mu, weights):
        c = coefficients(mu)
        return c.sum() - np.sum(weights * np.log(np.clip(models[model] @ c, 1e-300, None)))

    def asimov(model, mu):
        return omega_ref * (models[model] @ coefficients(mu))

    def scan(model, weights, grid):
        values = np.array([nll(model, m, weights) for m in grid])
        return 2 * (values - values.min())

    mus = np.linspace(0.0, 2.5, 51)
    t_exact = scan("exact", asimov("exact", 1.0), mus)
    inside = t_exact < 4
    rows = {}
    for name, weights in (("exact_asimov", asimov("exact", 1.0)),
                          ("own_asimov", asimov("learned", 1.0))):  # fmt: skip
        delta = (scan("learned", weights, mus) - t_exact)[inside]
        rows[name] = {"max_abs_dt": round(float(np.abs(delta).max()), 4),
                      "dt": np.round(delta[::2], 3).tolist()}  # fmt: skip

    def q0(model, mu):
        weights = asimov(model, mu)
        return 2 * (nll(model, 0.0, weights) - nll(model, mu, weights))

    mu3 = optimize.brentq(lambda m: q0("exact", m) - 9.0, 0.05, 5.0)
    print(json.dumps({
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "train_seconds": round(seconds),
        "rmse_log_ratio": {k: round(v, 4) for k, v in rmse.items()},
        "scan_mu": mus[inside][::2].round(2).tolist(), **rows,
        "q0A_at_exact_3sigma": {"mu": round(mu3, 4), "learned": round(q0("learned", mu3), 3),
                                "exact": 9.0, **{f"learned, {p} exact": round(q0(f"exact_{p}", mu3), 3)
                                                 for p in toy.processes}},
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
