r"""Ensemble size, member spread and aggregation of a learned ratio, against the exact ratio.

On the analytic interference toy (:class:`nsbi.simulators.InterferenceToy`, d = 2,
:math:`\nu_S = 50`, :math:`\nu_B = 200`, interference 0.3, :math:`\Sigma_S = 0.81\,I`,
:math:`\Sigma_B = I`) the ratio :math:`r_S = p_S / p_{\text{ref}}` is learned, where
:math:`p_{\text{ref}}` is the yield-weighted pool of the S, SBI and B samples (each event of
sample :math:`j` weighs :math:`\nu_j / N`), exactly as nsbi builds a channel's reference. The
exact :math:`\log r_S` comes from the toy's densities (``toy.log_ratio("S", x, reference=("S",
"SBI", "B"))``, a logsumexp over the yield-weighted densities).

One pool of ``K * max(M)`` members is trained once with :func:`nsbi.ratios.train_ensemble`
(member ``m`` has seed ``seed + m`` and a Poisson bootstrap of the training events). Ensemble
``k`` of size ``M`` takes members ``k * max(M) ... k * max(M) + M - 1``: the K ensembles of one
size have disjoint seeds, and the smaller ensembles are prefixes of the larger ones. Note that the
M = 1 "ensembles" are therefore bootstrapped members (``train_ensemble(members=1)`` trains
without bootstrap). Every ensemble is normalised on the reference pool
(:meth:`RatioEnsemble.normalise`), as nsbi does after training.

Measured on fresh evaluation events drawn from the reference mixture (process ``j`` with
probability :math:`\nu_j / \sum \nu`), keeping those whose exact :math:`\log r_S` lies between
its 1st and 99th percentile:

* spread: :meth:`RatioEnsemble.spread`, the per-event std of :math:`\log r_m` across members;
  its median and RMS over events (averaged over the K ensembles);
* the predicted standard error of the ensemble mean, RMS over events of spread / sqrt(M), and
  the measured ensemble-to-ensemble variation: the RMS over events of the std (ddof 1) across
  the K ensembles of the normalised aggregated :math:`\log \hat r`;
* for both aggregations, ``mean_ratio`` (log of the mean of :math:`r_m`, nsbi's default) and
  ``mean_log_ratio`` (mean of :math:`\log r_m`): the RMSE and the mean bias of the normalised
  :math:`\log \hat r` against the exact one (mean and std over the K ensembles), and the
  normalisation constant :math:`\log \sum_i \tilde w_i \hat r(x_i)` that was removed.

Run (default: 50k events per sample, K = 3, M = 1, 5, 10, about 2-3 minutes on one core)::

    python benchmarks/ensemble_spread.py [--events 50000] [--ensembles 3] [--members 1 5 10]
    python benchmarks/ensemble_spread.py --quick   # 10k events per sample, K = 2 (< 1 minute)
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from nsbi.ratios import RatioEnsemble, TrainingConfig, train_ensemble
from nsbi.simulators import closure_toy

AGGREGATIONS = ("mean_ratio", "mean_log_ratio")


def reference_pool(toy, events: int, seed_sequence) -> tuple[dict, np.ndarray, np.ndarray]:
    """Simulated samples (``events`` each) and their yield-weighted pool."""
    yields = toy.yields()
    rngs = [np.random.default_rng(s) for s in seed_sequence.spawn(len(toy.processes))]
    samples = {p: toy.sample(p, events, rng) for p, rng in zip(toy.processes, rngs, strict=True)}
    pool = np.concatenate([samples[p] for p in toy.processes])
    weights = np.concatenate([np.full(events, yields[p] / events) for p in toy.processes])
    return samples, pool, weights


def evaluation_events(toy, n: int, seed_sequence) -> np.ndarray:
    """``n`` events of the reference mixture: process j with probability nu_j / sum(nu)."""
    yields = toy.yields()
    nu = np.array([yields[p] for p in toy.processes])
    count_seed, *sample_seeds = seed_sequence.spawn(1 + len(toy.processes))
    counts = np.random.default_rng(count_seed).multinomial(n, nu / nu.sum())
    return np.concatenate(
        [
            toy.sample(p, int(c), np.random.default_rng(s))
            for p, c, s in zip(toy.processes, counts, sample_seeds, strict=True)
        ]
    )


def rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="simulated events per sample")
    parser.add_argument("--ensembles", type=int, default=3, help="K independent ensembles per M")
    parser.add_argument("--members", type=int, nargs="+", default=[1, 5, 10], help="sizes M")
    parser.add_argument("--eval-events", type=int, default=30_000, help="evaluation events")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch.set_num_threads (default 1: the (32, 32) networks gain nothing from more)",
    )
    parser.add_argument("--quick", action="store_true", help="10k events per sample, K = 2")
    args = parser.parse_args()
    if args.quick:
        args.events, args.ensembles, args.eval_events = 10_000, 2, 20_000
    if args.ensembles < 2:
        parser.error("--ensembles: at least 2 are needed for the ensemble-to-ensemble variation")
    torch.set_num_threads(args.threads)
    sizes = sorted(set(args.members))
    stride, K = max(sizes), args.ensembles

    toy = closure_toy()
    data_seed, eval_seed = np.random.SeedSequence(args.seed).spawn(2)
    samples, pool, pool_weights = reference_pool(toy, args.events, data_seed)
    x_eval = evaluation_events(toy, args.eval_events, eval_seed)
    reference = ("S", "SBI", "B")
    exact = toy.log_ratio("S", x_eval, reference=reference)
    low, high = np.percentile(exact, [1, 99])
    keep = (exact >= low) & (exact <= high)
    x_eval, exact = x_eval[keep], exact[keep]

    config = TrainingConfig(
        hidden_layers=(32, 32),
        batch_size=2048,
        learning_rate=5e-3,
        patience=8,
        epochs=60,
        seed=args.seed,
    )
    start = time.perf_counter()
    trained = train_ensemble(
        samples["S"], None, pool, pool_weights, toy.observable_names, config, members=K * stride
    )
    t_train = time.perf_counter() - start
    epochs = [len(h["validation_loss"]) for h in trained.metadata["histories"]]
    print(
        f"{toy!r}, yields {', '.join(f'{p} {v:.1f}' for p, v in toy.yields().items())}\n"
        f"{args.events} events per sample; {K * stride} members (hidden (32, 32), batch 2048, "
        f"lr 5e-3, patience 8, <= 60 epochs) trained in {t_train:.0f} s on {args.threads} "
        f"thread(s), {np.mean(epochs):.1f} epochs on average (min {min(epochs)}, max "
        f"{max(epochs)}); {len(exact)} evaluation events with exact log r_S in "
        f"[{low:.2f}, {high:.2f}] (1st-99th percentile)"
    )

    members_eval = trained.member_log_ratios(x_eval)  # (K * stride, n_eval)
    members_pool = trained.member_log_ratios(pool)
    # each member normalised on its own on the reference pool: its spread has no constant offsets
    top = members_pool.max(1, keepdims=True)
    member_norm = top + np.log(
        np.sum(pool_weights * np.exp(members_pool - top), 1, keepdims=True) / pool_weights.sum()
    )
    members_eval_normalised = members_eval - member_norm

    # results[(M, aggregation)] = list over k of dicts
    results: dict[tuple[int, str], list[dict]] = {}
    spreads: dict[int, list[np.ndarray]] = {}
    normalised_spreads: dict[int, list[np.ndarray]] = {}
    for M in sizes:
        spreads[M], normalised_spreads[M] = [], []
        for k in range(K):
            index = list(range(k * stride, k * stride + M))
            for aggregation in AGGREGATIONS:
                ensemble = RatioEnsemble(
                    [trained.members[i] for i in index], trained.observables, aggregation
                )
                ensemble.normalise(pool, pool_weights)
                estimate = ensemble.aggregate(members_eval[index]) - ensemble.log_normalisation
                if k == 0 and M == sizes[-1]:  # the cached member tables are the API's values
                    assert np.allclose(estimate, ensemble.log_ratio(x_eval))
                    unnormalised = ensemble.aggregate(members_pool[index])
                    top = unnormalised.max()
                    assert np.isclose(
                        ensemble.log_normalisation,
                        top
                        + np.log(
                            np.sum(pool_weights * np.exp(unnormalised - top)) / pool_weights.sum()
                        ),
                    )
                results.setdefault((M, aggregation), []).append(
                    {
                        "estimate": estimate,
                        "rmse": rms(estimate - exact),
                        "bias": float(np.mean(estimate - exact)),
                        "log_norm": ensemble.log_normalisation,
                    }
                )
                if aggregation == "mean_ratio":
                    spreads[M].append(ensemble.spread(x_eval))
                    normalised_spreads[M].append(
                        members_eval_normalised[index].std(0, ddof=1) if M > 1 else 0 * exact
                    )

    print()
    print("(a, b) member spread of log r_S and ensemble-to-ensemble variation of the normalised")
    print(f"aggregated log r_S (std across K = {K} ensembles, RMS over events)")
    print("predicted standard error: RMS over events of spread/sqrt(M), with the spread of the")
    print("members as they are (RatioEnsemble.spread) and of members each normalised on the pool")
    print(
        f"{'M':>4} {'median spread':>14} {'RMS spread':>11} {'SE':>8} {'SE (norm.)':>11} "
        f"{'measured mean_ratio':>20} {'measured mean_log_ratio':>24}"
    )
    variation = {}
    for M in sizes:
        median_spread = np.mean([np.median(s) for s in spreads[M]])
        rms_spread = np.mean([rms(s) for s in spreads[M]])
        rms_normalised = np.mean([rms(s) for s in normalised_spreads[M]])
        for aggregation in AGGREGATIONS:
            stack = np.stack([r["estimate"] for r in results[(M, aggregation)]])
            variation[(M, aggregation)] = rms(stack.std(0, ddof=1))
        predicted = f"{rms_spread / np.sqrt(M):.4f}" if M > 1 else "n/a"
        predicted_normalised = f"{rms_normalised / np.sqrt(M):.4f}" if M > 1 else "n/a"
        print(
            f"{M:>4d} {median_spread:>14.4f} {rms_spread:>11.4f} {predicted:>8} "
            f"{predicted_normalised:>11} {variation[(M, 'mean_ratio')]:>20.4f} "
            f"{variation[(M, 'mean_log_ratio')]:>24.4f}"
        )

    # the whole pool as one ensemble, for reference (no K-spread)
    pooled = {}
    for aggregation in AGGREGATIONS:
        ensemble = RatioEnsemble(trained.members, trained.observables, aggregation)
        unnormalised = ensemble.aggregate(members_pool)
        top = unnormalised.max()
        ensemble.log_normalisation = float(
            top + np.log(np.sum(pool_weights * np.exp(unnormalised - top)) / pool_weights.sum())
        )
        estimate = ensemble.aggregate(members_eval) - ensemble.log_normalisation
        pooled[aggregation] = (
            rms(estimate - exact),
            float(np.mean(estimate - exact)),
            ensemble.log_normalisation,
        )

    print()
    print("(c, d) normalised aggregated log r_S against the exact one: RMSE and mean bias")
    print(f"(mean +- std over the K = {K} ensembles); log_norm = normalisation removed")
    print(f"{'M':>4} {'aggregation':>15} {'RMSE':>17} {'bias':>18} {'log_norm':>10}")
    for M in sizes:
        for aggregation in AGGREGATIONS:
            rows = results[(M, aggregation)]
            rmse = np.array([r["rmse"] for r in rows])
            bias = np.array([r["bias"] for r in rows])
            log_norm = np.mean([r["log_norm"] for r in rows])
            print(
                f"{M:>4d} {aggregation:>15} {rmse.mean():>8.4f} +- {rmse.std(ddof=1):.4f} "
                f"{bias.mean():>+9.4f} +- {bias.std(ddof=1):.4f} {log_norm:>+10.4f}"
            )
    for aggregation in AGGREGATIONS:
        rmse, bias, log_norm = pooled[aggregation]
        print(
            f"{K * stride:>4d} {aggregation:>15} {rmse:>8.4f} {'(all)':>8} "
            f"{bias:>+9.4f} {'(all)':>8} {log_norm:>+10.4f}"
        )

    # conclusion, from the numbers: aggregations compared pairwise (same members, same events)
    mean_rmse = {key: float(np.mean([r["rmse"] for r in rows])) for key, rows in results.items()}
    multi = [M for M in sizes if M > 1]
    print()
    print("paired RMSE difference mean_ratio - mean_log_ratio (same members; > 0: geometric wins)")
    print(f"{'M':>4} {'difference':>11} {'std. error':>11} {'mean_log_ratio lower in':>24}")
    log_wins, ensembles = 0, 0
    significant = []
    for M in multi:
        difference = np.array(
            [
                a["rmse"] - b["rmse"]
                for a, b in zip(
                    results[(M, "mean_ratio")], results[(M, "mean_log_ratio")], strict=True
                )
            ]
        )
        error = difference.std(ddof=1) / np.sqrt(len(difference))
        wins = int((difference > 0).sum())
        log_wins, ensembles = log_wins + wins, ensembles + len(difference)
        significant.append(abs(difference.mean()) > 2 * error)
        print(f"{M:>4d} {difference.mean():>+11.5f} {error:>11.5f} {wins:>17d} of {K}")
    if not multi:
        verdict = "no comparison (all M = 1, where both aggregations are the same)"
    elif log_wins == ensembles:
        verdict = f"mean_log_ratio has the lower RMSE in all K = {K} ensembles at every M > 1"
    elif log_wins == 0:
        verdict = f"mean_ratio has the lower RMSE in all K = {K} ensembles at every M > 1"
    else:
        verdict = f"mean_log_ratio has the lower RMSE in {log_wins} of {ensembles} (M, k) pairs"
    if multi:
        verdict += (
            " (difference > 2 standard errors at M = "
            + (
                ", ".join(str(M) for M, sig in zip(multi, significant, strict=True) if sig)
                or "none"
            )
            + ")"
        )
    largest = sizes[-1]
    falling = all(
        variation[(a, "mean_ratio")] > variation[(b, "mean_ratio")]
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    )
    first, last = variation[(sizes[0], "mean_ratio")], variation[(largest, "mean_ratio")]
    rmse_first = mean_rmse[(sizes[0], "mean_ratio")]
    rmse_last = mean_rmse[(largest, "mean_ratio")]
    common = np.sqrt(max(rmse_last**2 - last**2, 0.0))
    print()
    print(
        f"conclusion: {verdict}; with mean_ratio the ensemble-to-ensemble variation "
        f"{'falls' if falling else 'does not fall monotonically'} with M ({first:.4f} at "
        f"M = {sizes[0]} -> {last:.4f} at M = {largest}, x{last / first:.2f}; 1/sqrt(M) gives "
        f"x{np.sqrt(sizes[0] / largest):.2f}) while the RMSE only goes {rmse_first:.4f} -> "
        f"{rmse_last:.4f}: at M = {largest} an error of {common:.4f} common to all ensembles "
        f"(sqrt(RMSE^2 - variation^2)) dominates"
    )


if __name__ == "__main__":
    main()
