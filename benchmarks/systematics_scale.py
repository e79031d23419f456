"""NLL + gradient with per-event shape systematics at K = 1, 10, 100 NPs, against a memory floor.

An :class:`nsbi.model.unbinned.UnbinnedChannel` is built directly (no workspace, no training):
three processes (coefficients ``mu``, 1, 1), ``n`` observed and ``n`` reference events, and K
``shape`` nuisance parameters each acting on all three processes (P = 3K (process, NP) pairs),
with random float32 tables of ln g+ and ln g- on both event sets, a normsys-like yield change
per pair and unit Gaussian constraints. One evaluation is the NLL and its gradient with respect
to all K + 1 parameters, as MIGRAD asks for it.

The floor is the memory-bound core on the same tables in plain torch: one matrix-vector product
over every float32 table (``ln g+`` and ``ln g-``, observed and reference) forward and its
backward with respect to the vector, i.e. every table byte read twice. The ratio nsbi/floor is
the price of the interpolation (``code4`` by default: a polynomial per event and pair), the
exponentials and logarithms, the renormalisation, and checkpointing (each chunk's forward is
recomputed in the backward pass).

Then a full fit with :func:`nsbi.infer.minimize` (MIGRAD with exact gradients, started from the
positive-definite form of a one-sided gradient-difference Hessian; Newton polish and HESSE with
central gradient differences) of the model with 100 NPs on an Asimov dataset at
``--fit-events`` events, timed, also in units of one NLL+gradient evaluation.

    python benchmarks/systematics_scale.py [--sizes 100000 1000000] [--nps 1 10 100]
        [--code code4] [--threads N] [--fit-events 100000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from nsbi.infer import minimize
from nsbi.model.model import ParameterSpace
from nsbi.model.shapes import ShapeSystematics
from nsbi.model.unbinned import UnbinnedChannel, UnbinnedSample, YieldModifier
from nsbi.workspace import parse

SAMPLES = (("S", "mu", 100.0), ("B1", "1", 600.0), ("B2", "1", 300.0))


def build_channel(n: int, k: int, code: str, seed: int = 0) -> UnbinnedChannel:
    """The channel with ``n`` observed and ``n`` reference events and ``k`` shape NPs."""
    rng = np.random.default_rng(seed)
    index = {"mu": 0, **{f"alpha_{i}": 1 + i for i in range(k)}}
    samples = []
    for name, text, nominal in SAMPLES:
        modifiers = [
            YieldModifier(f"alpha_{i}", "shape", *(1 + rng.uniform(0.005, 0.03, 2) * [1, -1]))
            for i in range(k)
        ]
        samples.append(UnbinnedSample(name, parse(text), nominal, modifiers))
    pairs = [(j, index[f"alpha_{i}"]) for j in range(len(SAMPLES)) for i in range(k)]
    tables = {}
    for dataset in ("observed", "reference"):
        # small per-event shape effects (a few per cent per NP, like real systematics), each
        # pair's a mixture of 8 event-level directions (so NPs are partly degenerate, as real
        # ones are)
        directions = rng.normal(0.0, 0.02, (n, 8)).astype(np.float32)
        mixing = rng.uniform(-1.0, 1.0, (8, len(pairs))).astype(np.float32) / np.sqrt(8)
        log_hi = directions @ mixing
        log_lo = -0.9 * log_hi
        tables[dataset] = (log_hi, log_lo)
    shapes = ShapeSystematics(
        pairs,
        {d: t[0] for d, t in tables.items()},
        {d: t[1] for d, t in tables.items()},
        n_samples=len(SAMPLES),
        code=code,
    )
    log_ratios = {d: rng.normal(0.0, 0.3, (n, len(SAMPLES))) for d in ("observed", "reference")}
    weights = {"observed": np.ones(n), "reference": np.full(n, 1.0 / n)}
    return UnbinnedChannel("bench", samples, log_ratios, weights, index, shapes=shapes)


def time_per_call(function, repeat: int, block_seconds: float) -> float:
    """Median seconds per call over ``repeat`` blocks, after a warm-up call."""
    function()
    calls = 1
    start = time.perf_counter()
    function()
    single = time.perf_counter() - start
    calls = max(1, int(block_seconds / max(single, 1e-9)))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def bench(n: int, k: int, code: str, repeat: int, block_seconds: float) -> tuple[float, float]:
    channel = build_channel(n, k, code)
    pars = torch.zeros(k + 1, dtype=torch.float64)
    pars[0] = 1.0
    pars[1:] = torch.linspace(-0.6, 0.6, k)

    def nsbi_eval():
        p = pars.clone().requires_grad_()
        value = channel.nll(p) + 0.5 * (p[1:] ** 2).sum()
        value.backward()
        return p.grad

    shapes = channel.shapes
    tables = [t[d] for t in (shapes.log_hi, shapes.log_lo) for d in ("observed", "reference")]
    vector = torch.full((shapes.n_pairs,), 0.1, dtype=torch.float32)

    def floor_eval():
        v = vector.clone().requires_grad_()
        value = sum((table @ v).sum() for table in tables)
        value.backward()
        return v.grad

    return time_per_call(nsbi_eval, repeat, block_seconds), time_per_call(
        floor_eval, repeat, block_seconds
    )


class _AsimovFit:
    """The channel on its Asimov dataset at ``mu = 1``, alpha = 0, with unit Gaussian
    constraints on the alphas, in the shape :func:`nsbi.infer.minimize` takes a model."""

    twice_differentiable = False  # the fused shape pass is differentiated once

    def __init__(self, channel: UnbinnedChannel, k: int):
        self.channel = channel
        truth = torch.zeros(k + 1, dtype=torch.float64)
        truth[0] = 1.0
        self.weights = channel.asimov_weights(truth).detach()
        names = ["mu", *(f"alpha_{i}" for i in range(k))]
        self.parameters = ParameterSpace(
            names, [1.0] + [0.0] * k, [(0.0, 10.0)] + [(-5.0, 5.0)] * k, [False] * (k + 1), "mu"
        )

    def nll(self, pars: torch.Tensor, weights=None) -> torch.Tensor:
        return self.channel.nll(pars, "reference", self.weights) + 0.5 * (pars[1:] ** 2).sum()


def full_fit(n: int, k: int, code: str) -> None:
    """Time :func:`nsbi.infer.minimize` (MIGRAD from a start away from the truth, Newton
    polish, HESSE) on the Asimov dataset of the channel with ``k`` NPs."""
    model = _AsimovFit(build_channel(n, k, code, seed=1), k)
    start = np.zeros(k + 1)
    start[0] = 0.8
    start[1:] = 0.3
    t0 = time.perf_counter()
    result = minimize(model, init=start)
    elapsed = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(3):
        model.nll(torch.tensor(start).requires_grad_()).backward()
    per_gradient = (time.perf_counter() - t0) / 3
    alphas = result.values[1:]
    print(
        f"full fit, {k} NPs, {n} observed (Asimov at mu = 1, alpha = 0) and {n} reference "
        f"events, start mu = 0.8, alpha = 0.3: {elapsed:.1f} s = {elapsed / per_gradient:.0f} "
        f"NLL+gradient evaluations ({per_gradient * 1e3:.0f} ms each); MIGRAD {result.nfcn} "
        f"calls, {result.ngrad} gradients, valid {result.valid}; mu = {result.values[0]:.4f} "
        f"+- {result.errors[0]:.4f}, max |alpha| = {np.abs(alphas).max():.1e}, "
        f"errors of alpha in [{result.errors[1:].min():.3f}, {result.errors[1:].max():.3f}]"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10**5, 10**6])
    parser.add_argument("--nps", type=int, nargs="+", default=[1, 10, 100])
    parser.add_argument("--code", default="code4")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--block-seconds", type=float, default=1.0)
    parser.add_argument("--fit-events", type=int, default=10**5)
    parser.add_argument("--fit-nps", type=int, default=100)
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, code {args.code}; "
        f"n observed + n reference events, 3 processes, P = 3K pairs, float32 tables; "
        "NLL + gradient per evaluation"
    )
    print(
        f"{'n':>9} {'K':>4} {'nsbi ms':>10} {'floor ms':>10} {'nsbi/floor':>11} {'floor GB/s':>11}"
    )
    for n in args.sizes:
        for k in args.nps:
            t_nsbi, t_floor = bench(n, k, args.code, args.repeat, args.block_seconds)
            bandwidth = 2 * 4 * n * 3 * k * 4 / t_floor / 1e9
            print(
                f"{n:>9d} {k:>4d} {t_nsbi * 1e3:>10.2f} {t_floor * 1e3:>10.2f} "
                f"{t_nsbi / t_floor:>11.2f} {bandwidth:>11.1f}",
                flush=True,
            )
    if args.fit_events:
        full_fit(args.fit_events, args.fit_nps, args.code)


if __name__ == "__main__":
    main()
