r"""Pseudo-experiments per second: batched toy fits against iminuit loops and pyhf's toy calculator.

Each pseudo-experiment costs its test statistic: an unconditional fit and a fit at the tested
POI value, :math:`t_\mu = 2[\mathrm{NLL}(\mu, \hat{\hat\theta}) - \mathrm{NLL}(\hat\mu,
\hat\theta)]`. Three ways, in one process, on the same binned pyhf model:

1. nsbi batched: :func:`nsbi.infer.toys.generate` and two calls of
   :func:`nsbi.infer.batch_fit.fit_toys` (vectorised projected Newton in torch over all toys,
   iminuit only for toys that do not converge, counted);
2. nsbi one at a time: the same toys, each bound as its own model and fitted twice with
   :func:`nsbi.infer.minimize` (MIGRAD with exact gradients: the plain iminuit loop);
3. pyhf: ``pyhf.infer.calculators.ToyCalculator(..., test_stat="qtilde").distributions(mu)``,
   which samples ``ntoys`` signal-plus-background and ``ntoys`` background-only toys and fits
   each twice (numpy backend with pyhf's default scipy optimizer, and with the minuit one).

The batched t values are checked against the loop's (max |difference| printed).

    python benchmarks/toys.py [--toys 500] [--model simple|multichannel] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pyhf
import torch

from nsbi.infer import minimize
from nsbi.infer.batch_fit import fit_toys
from nsbi.infer.toys import generate
from nsbi.model import Model
from nsbi.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def spec(name: str) -> dict:
    if name == "multichannel":
        return json.loads((ROOT / "workspaces" / "binned_sr_cr.json").read_text())
    simple = pyhf.simplemodels.uncorrelated_background(
        signal=[12.0, 11.0, 6.0], bkg=[50.0, 52.0, 30.0], bkg_uncertainty=[3.0, 7.0, 4.0]
    )
    return {
        "channels": simple.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [66.0, 59.0, 40.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--toys", type=int, default=500)
    parser.add_argument("--loop-toys", type=int, default=100, help="toys of the iminuit loop")
    parser.add_argument("--pyhf-toys", type=int, default=100, help="ntoys of pyhf's calculator")
    parser.add_argument("--model", choices=["simple", "multichannel"], default="simple")
    parser.add_argument("--mu", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    document = spec(args.model)
    model = Model.from_workspace(Workspace(document))
    poi = model.parameters.poi
    point = model.parameter_vector({poi: args.mu}).numpy()
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), pyhf {pyhf.__version__}; "
        f"model {args.model} ({len(point)} parameters); toys at {poi} = {args.mu}; "
        "one toy = unconditional + conditional fit"
    )

    # 1. batched
    fit_toys(model, generate(model, point, range(8), (99,)), init=point)  # warm-up
    start = time.perf_counter()
    toys = generate(model, point, range(args.toys), (0,))
    free = fit_toys(model, toys, init=point)
    fixed = fit_toys(model, toys, init=point, fix={poi: args.mu})
    batched_time = time.perf_counter() - start
    t_batched = np.clip(2 * (fixed.nll - free.nll), 0, None)
    batched_rate = args.toys / batched_time
    print(
        f"nsbi batched:      {args.toys:>6d} toys in {batched_time:7.2f} s = "
        f"{batched_rate:8.1f} toys/s ({free.fallbacks + fixed.fallbacks} iminuit fallbacks)"
    )

    # 2. the same toys, one at a time through iminuit
    n = min(args.loop_toys, args.toys)
    start = time.perf_counter()
    t_loop = []
    for row in range(n):
        one = toys.bind(model, row)
        best = minimize(one, init=point, errors=False)
        conditional = minimize(one, init=point, fix={poi: args.mu}, errors=False)
        t_loop.append(max(2 * (conditional.nll - best.nll), 0.0))
    loop_time = time.perf_counter() - start
    loop_rate = n / loop_time
    difference = np.max(np.abs(np.array(t_loop) - t_batched[:n]))
    print(
        f"nsbi iminuit loop: {n:>6d} toys in {loop_time:7.2f} s = {loop_rate:8.1f} toys/s; "
        f"max |t_batched - t_loop| = {difference:.1e}"
    )

    # 3. pyhf's toy calculator on the same model and observed data
    rates = {}
    for label, optimizer in (("scipy", pyhf.optimize.scipy_optimizer()), ("minuit", None)):
        if optimizer is None:
            optimizer = pyhf.optimize.minuit_optimizer()
        pyhf.set_backend("numpy", optimizer)
        workspace = pyhf.Workspace(document)
        pyhf_model = workspace.model()
        data = workspace.data(pyhf_model)
        calculator = pyhf.infer.calculators.ToyCalculator(
            data, pyhf_model, test_stat="qtilde", ntoys=args.pyhf_toys, track_progress=False
        )
        start = time.perf_counter()
        calculator.distributions(args.mu)
        elapsed = time.perf_counter() - start
        rates[label] = 2 * args.pyhf_toys / elapsed  # s+b and b-only toys
        print(
            f"pyhf ToyCalculator ({label}): {2 * args.pyhf_toys:>6d} toys in {elapsed:7.2f} s = "
            f"{rates[label]:8.1f} toys/s"
        )
    print(
        f"ratios: batched / iminuit loop = {batched_rate / loop_rate:.1f}x; "
        + "; ".join(f"batched / pyhf {k} = {batched_rate / v:.1f}x" for k, v in rates.items())
    )


if __name__ == "__main__":
    main()
