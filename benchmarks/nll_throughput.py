"""Throughput of the unbinned NLL and its gradient, against a plain torch reduction floor.

For n = 10^4, 10^5 and 10^6 events an :class:`nsbi.model.unbinned.UnbinnedChannel` is built
directly (no workspace, no training): three samples S, SBI and B with the interference
coefficients ``mu - sqrt(mu)``, ``sqrt(mu)`` and ``1 - sqrt(mu)``, nominal yields, a random
``(n, 3)`` table of log-ratios for the dataset ``observed`` and unit weights. One evaluation is
what a gradient-based minimiser asks for at each step::

    pars = pars.detach().clone().requires_grad_()
    nll = channel.nll(pars)
    nll.backward()

The floor is the memory-bound core of the same computation written in plain torch on the same
float64 ``(n, 3)`` table of ratios: ``torch.log(table @ c).sum()`` with a fixed coefficient
vector ``c`` and its backward with respect to ``c``. The ratio nsbi/floor is the overhead of the
parameter-to-coefficient graph (expression evaluation, stacking, yield sum), the intensity
floor (clamp) and the event weights.

Each configuration is warmed up, then timed in blocks of repeated evaluations (the number of
calls per block is re-aimed after every block so that a block lasts about ``--block-seconds``);
the median time per evaluation over ``--repeat`` blocks is reported. Everything is float64.
Model construction is excluded.

    python benchmarks/nll_throughput.py [--device cpu|cuda] [--threads N] [--repeat 7] [--quick]

``--quick`` runs n = 10^4 and 10^5 only, with fewer and shorter blocks (well under a minute).
On a machine whose cores are busy with other processes, torch's intra-op threads can stall
(about 8 ms per elementwise log/exp was seen with 2 threads on a shared 2-core machine, whatever
n); compare with ``--threads 1`` before reading anything into the numbers.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from nsbi.model.unbinned import UnbinnedChannel, UnbinnedSample
from nsbi.workspace import parse

#: (name, coefficient, nominal yield): the interference mixture of the analytic toy.
SAMPLES = (("S", "mu - sqrt(mu)", 50.0), ("SBI", "sqrt(mu)", 240.0), ("B", "1 - sqrt(mu)", 200.0))
MU = 1.3


def build_channel(n: int, device: str, seed: int = 0) -> UnbinnedChannel:
    """An UnbinnedChannel with a random (n, 3) log-ratio table, on ``device``."""
    rng = np.random.default_rng(seed)
    # log-ratios clipped to |log r| <= 0.6 keep the mixture positive at MU on every event
    # (273.6 r_SBI + 8.0 r_S - 28.0 r_B > 0), so no event hits the intensity floor
    log_ratios = np.clip(rng.normal(0.0, 0.3, size=(n, len(SAMPLES))), -0.6, 0.6)
    samples = [
        UnbinnedSample(name, parse(text), nominal_yield, [])
        for name, text, nominal_yield in SAMPLES
    ]
    channel = UnbinnedChannel(
        "bench",
        samples,
        log_ratios={"observed": log_ratios},
        weights={"observed": np.ones(n)},
        parameter_index={"mu": 0},
    )
    # UnbinnedChannel has no device argument: its tables are created on the CPU. Move them.
    if device != "cpu":
        channel.ratios = {k: v.to(device) for k, v in channel.ratios.items()}
        channel.weights = {k: v.to(device) for k, v in channel.weights.items()}
        channel.nominal_yields = channel.nominal_yields.to(device)
    return channel


def synchronise(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_per_call(function, device: str, repeat: int, block_seconds: float) -> float:
    """Median seconds per call of ``function`` over ``repeat`` blocks, after warm-up."""
    for _ in range(3):
        function()
    synchronise(device)
    # block size: enough calls that one block lasts at least block_seconds
    calls, elapsed = 1, 0.0
    while True:
        start = time.perf_counter()
        for _ in range(calls):
            function()
        synchronise(device)
        elapsed = time.perf_counter() - start
        if elapsed >= block_seconds:
            break
        calls = max(calls * 2, int(calls * 1.2 * block_seconds / max(elapsed, 1e-9)))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(calls):
            function()
        synchronise(device)
        elapsed = time.perf_counter() - start
        times.append(elapsed / calls)
        # re-aim the next block at block_seconds: the speed can change under a shared machine
        calls = max(1, round(calls * block_seconds / elapsed))
    return statistics.median(times)


def bench(n: int, device: str, repeat: int, block_seconds: float) -> tuple[float, float]:
    channel = build_channel(n, device)
    pars = torch.tensor([MU], dtype=torch.float64, device=device)

    def nsbi_eval():
        p = pars.detach().clone().requires_grad_()
        nll = channel.nll(p)
        nll.backward()
        return p.grad

    table = channel.ratios["observed"]
    c0 = channel.coefficients(pars).detach()

    def floor_eval():
        c = c0.clone().requires_grad_()
        value = torch.log(table @ c).sum()
        value.backward()
        return c.grad

    # sanity: the nsbi gradient is the chain rule through the floor's one,
    # dNLL/dmu = sum_j dc_j/dmu * (1 - d/dc_j sum_i log(c . r_i))
    jacobian = torch.autograd.functional.jacobian(channel.coefficients, pars)  # (3, 1)
    expected = ((1.0 - floor_eval())[:, None] * jacobian).sum(0)
    assert bool((table @ c0 > 0).all()), "the mixture must be positive on every event"
    grad = nsbi_eval()
    assert torch.allclose(grad, expected, rtol=1e-8), (grad, expected)

    t_nsbi = time_per_call(nsbi_eval, device, repeat, block_seconds)
    t_floor = time_per_call(floor_eval, device, repeat, block_seconds)
    return t_nsbi, t_floor


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda (default: cpu)")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)"
    )
    parser.add_argument("--repeat", type=int, default=7, help="timed blocks per measurement")
    parser.add_argument(
        "--block-seconds", type=float, default=0.5, help="minimum duration of one timed block"
    )
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=None, help="event counts (default 1e4 1e5 1e6)"
    )
    parser.add_argument("--quick", action="store_true", help="n = 1e4, 1e5; short blocks")
    args = parser.parse_args()

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("--device cuda: CUDA is not available")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    sizes = args.sizes or ([10**4, 10**5] if args.quick else [10**4, 10**5, 10**6])
    repeat = 3 if args.quick else args.repeat
    block_seconds = 0.2 if args.quick else args.block_seconds

    name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(
        f"device {args.device} ({name}), torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads, float64; NLL + gradient per evaluation; "
        f"median of {repeat} blocks of ~{block_seconds:g} s"
    )
    print(
        f"{'n':>9} {'nsbi ms':>10} {'nsbi eval/s':>12} {'floor ms':>10} {'floor eval/s':>13} "
        f"{'nsbi/floor':>11} {'floor GB/s':>11}"
    )
    for n in sizes:
        t_nsbi, t_floor = bench(n, args.device, repeat, block_seconds)
        # the floor reads the (n, 3) float64 table once forward and once backward
        bandwidth = 2 * n * 3 * 8 / t_floor / 1e9
        print(
            f"{n:>9d} {t_nsbi * 1e3:>10.3f} {1 / t_nsbi:>12.1f} {t_floor * 1e3:>10.3f} "
            f"{1 / t_floor:>13.1f} {t_nsbi / t_floor:>11.2f} {bandwidth:>11.1f}"
        )


if __name__ == "__main__":
    main()
