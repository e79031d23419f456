"""Throughput of the strong-lensing simulator, batched against a per-image python loop.

For batch sizes B = 1, 64 and 1024, ``B`` parameter points are drawn from the prior
(:meth:`nsbi.simulators.LensingSimulator.sample_prior`, a mean of about 6 subhalos an image) and
simulated two ways with the same code:

* batched: one call ``sim.simulate(params, rng)`` for the ``B`` images;
* loop: ``for b in range(B): sim.simulate(params[b : b + 1], rng)``, one image per call.

Each is timed ``--repeat`` times (after a warm-up call) and the median wall time is reported as
images per second, with the ratio batched / loop. The simulator is numpy: its elementwise
kernels run on one core whatever the thread settings (``OMP_NUM_THREADS`` and friends are set to
``--threads`` before numpy is imported, for the BLAS it does not use), so on a shared machine
the wall times carry the other processes' load; the process CPU time of the batched run is
printed beside them for that reason. About 40 s with the defaults on a shared 2-core machine.

    python benchmarks/lensing_simulator.py [--threads 2] [--repeat 5] [--supersample 1]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def timed(function, calls: int, repeat: int) -> tuple[float, float]:
    """Median wall and CPU seconds of ``calls`` calls of ``function()``, over ``repeat`` timings
    after a warm-up call."""
    function()
    wall, cpu = [], []
    for _ in range(repeat):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        for _ in range(calls):
            function()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="thread-count variables (2)")
    parser.add_argument("--repeat", type=int, default=5, help="timed calls per configuration")
    parser.add_argument("--supersample", type=int, default=1, help="sub-pixel points per side")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[name] = str(args.threads)

    import numpy as np

    from nsbi.simulators import LensingSimulator

    sim = LensingSimulator(supersample=args.supersample)
    params = sim.sample_prior(max(args.batches), rng=args.seed)
    rng = np.random.default_rng(args.seed + 1)
    mean_subhalos = float(sim.mean_subhalos(params[:, 0], params[:, 1]).mean())
    print(
        f"LensingSimulator: {sim.n_pix}x{sim.n_pix} pixels, supersample {sim.supersample}, "
        f"{mean_subhalos:.1f} subhalos an image on average; numpy {np.__version__}, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, threads={args.threads}"
    )
    print(
        f"{'batch':>6} {'batched img/s':>14} {'loop img/s':>11} {'ratio':>6} "
        f"{'batched img/cpu-s':>18}"
    )
    for batch in args.batches:
        chunk = params[:batch]

        def batched(chunk=chunk) -> None:
            sim.simulate(chunk, rng)

        def loop(chunk=chunk) -> None:
            for b in range(len(chunk)):
                sim.simulate(chunk[b : b + 1], rng)

        # repeat small batches inside one timing so a timing lasts well over a millisecond
        inner = max(1, 256 // batch)
        wall_batched, cpu_batched = timed(batched, inner, args.repeat)
        wall_loop, _ = timed(loop, inner, args.repeat)
        images = batch * inner
        print(
            f"{batch:>6} {images / wall_batched:>14.0f} {images / wall_loop:>11.0f} "
            f"{wall_loop / wall_batched:>6.2f} {images / cpu_batched:>18.0f}"
        )


if __name__ == "__main__":
    main()
