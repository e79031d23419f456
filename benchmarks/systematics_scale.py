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

Then a full fit (MIGRAD with exact gradients, then HESSE) of a model with 100 NPs on an Asimov
dataset at ``--fit-events`` events, timed.

    python benchmarks/systematics_scale.py [--sizes 100000 1000000] [--nps 1 10 100]
        [--code code4] [--threads N] [--fit-events 100000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

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
        # small per-event shape effects (a few per cent per NP, like real systematics)
        slope = rng.normal(0.0, 0.02, (n, 1)).astype(np.float32)
        scale = rng.uniform(0.2, 1.0, (1, len(pairs))).astype(np.float32)
        log_hi = slope * scale
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


def full_fit(n: int, k: int, code: str) -> None:
    import iminuit

    channel = build_channel(n, k, code, seed=1)
    truth = torch.zeros(k + 1, dtype=torch.float64)
    truth[0] = 1.0
    weights = channel.asimov_weights(truth).detach()

    def nll(p):
        return channel.nll(p, "reference", weights) + 0.5 * (p[1:] ** 2).sum()

    def value(x):
        with torch.no_grad():
            return float(nll(torch.as_tensor(x, dtype=torch.float64)))

    def grad(x):
        p = torch.as_tensor(x, dtype=torch.float64).clone().requires_grad_()
        nll(p).backward()
        return p.grad.numpy()

    start = np.zeros(k + 1)
    start[0] = 0.8
    start[1:] = 0.3
    t0 = time.perf_counter()
    minuit = iminuit.Minuit(value, start, grad=grad)
    minuit.errordef = iminuit.Minuit.LIKELIHOOD
    minuit.strategy = 0
    minuit.tol = 0.01
    minuit.migrad()
    t_migrad = time.perf_counter() - t0
    t1 = time.perf_counter()
    # central differences of the exact gradient (the fused shape pass is once-differentiable),
    # as nsbi.infer.minimize does for such models
    best = np.array(minuit.values)
    hessian = np.empty((k + 1, k + 1))
    for i in range(k + 1):
        step = 1e-4 * max(1.0, abs(best[i]))
        up, down = best.copy(), best.copy()
        up[i] += step
        down[i] -= step
        hessian[i] = (grad(up) - grad(down)) / (2 * step)
    covariance = np.linalg.inv(0.5 * (hessian + hessian.T))
    t_hesse = time.perf_counter() - t1
    print(
        f"full fit, {k} NPs, {n} reference events (Asimov at mu = 1, alpha = 0; start mu 0.8, "
        f"alpha 0.3): MIGRAD {t_migrad:.1f} s ({minuit.nfcn} calls, {minuit.ngrad} gradients, "
        f"valid {minuit.valid}), Hessian (gradient differences) {t_hesse:.1f} s; mu = {minuit.values[0]:.4f} "
        f"+- {np.sqrt(covariance[0, 0]):.4f}, max |alpha| = {np.abs(minuit.values[1:]).max():.2e}"
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
