"""Time per observed + expected CLs computation: nsbi against pyhf on the same binned model.

One computation is CLs at one POI value, observed and the expected band, asymptotically
(qtilde): nsbi's :func:`nsbi.infer.hypotest.hypotest` and ``pyhf.infer.hypotest(...,
return_expected_set=True)`` with pyhf's default (scipy) and minuit optimizers, in one
process, on the same workspace; then a full upper limit (TOMS 748) each way. Values are
printed side by side with the relative difference, times as ratios.

    python benchmarks/hypotest.py [--model simple|multichannel] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pyhf

from nsbi.infer.hypotest import hypotest
from nsbi.infer.limits import upper_limit
from nsbi.model import Model, pyhf_torch_backend
from nsbi.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def spec(name: str) -> dict:
    if name == "multichannel":
        document = json.loads((ROOT / "workspaces" / "binned_sr_cr.json").read_text())
        for measurement in document["measurements"]:  # qtilde: the POI bounded at 0
            for parameter in measurement["config"]["parameters"]:
                if parameter["name"] == measurement["config"]["poi"]:
                    parameter["bounds"] = [[0.0, 10.0]]
        return document
    simple = pyhf.simplemodels.uncorrelated_background(
        signal=[12.0, 11.0, 6.0], bkg=[50.0, 52.0, 30.0], bkg_uncertainty=[3.0, 7.0, 4.0]
    )
    return {
        "channels": simple.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [56.0, 59.0, 33.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def timed(function, repeat):
    times, value = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        value = function()
        times.append(time.perf_counter() - start)
    return float(np.median(times)), value


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["simple", "multichannel"], default="simple")
    parser.add_argument("--mu", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    document = spec(args.model)
    model = Model.from_workspace(Workspace(document))
    print(f"pyhf {pyhf.__version__}; model {args.model} ({len(model.parameters.names)} parameters)")

    with pyhf_torch_backend():  # one backend switch for the whole session, as in a notebook
        hypotest(model, args.mu)  # warm-up
        t_nsbi, ours = timed(lambda: hypotest(model, args.mu), args.repeat)
        t_limit_nsbi, limit = timed(lambda: upper_limit(model, range=(0.0, 10.0)), 1)
    print(f"nsbi:          {t_nsbi * 1e3:8.1f} ms  CLs = {ours.cls_obs:.6f}")
    print(f"nsbi limit:    {t_limit_nsbi:8.2f} s   {limit.observed:.6f}")
    for label, optimizer in (
        ("scipy", pyhf.optimize.scipy_optimizer()),
        ("minuit", pyhf.optimize.minuit_optimizer()),
    ):
        pyhf.set_backend("numpy", optimizer)
        workspace = pyhf.Workspace(document)
        pyhf_model = workspace.model()
        data = workspace.data(pyhf_model)

        def run(pyhf_model=pyhf_model, data=data):
            return pyhf.infer.hypotest(args.mu, data, pyhf_model, return_expected_set=True)

        run()
        t_pyhf, (cls, band) = timed(run, args.repeat)
        t_limit, (observed, _) = timed(
            lambda pyhf_model=pyhf_model, data=data: pyhf.infer.intervals.upper_limits.toms748_scan(
                data, pyhf_model, 0.0, 10.0
            )[:2],
            1,
        )
        rel = abs(ours.cls_obs - float(cls)) / float(cls)
        rel_band = np.max(
            np.abs(np.array(ours.cls_exp) - np.array(band, float)) / np.array(band, float)
        )
        print(
            f"pyhf ({label}): {t_pyhf * 1e3:8.1f} ms  CLs = {float(cls):.6f} (|rel diff| {rel:.1e}, "
            f"band {rel_band:.1e}); nsbi/pyhf time = {t_nsbi / t_pyhf:.2f}"
        )
        print(
            f"pyhf ({label}) limit: {t_limit:8.2f} s   {float(observed):.6f}; "
            f"nsbi/pyhf time = {t_limit_nsbi / t_limit:.2f}"
        )


if __name__ == "__main__":
    main()
