"""Time of an nsbi fit against pyhf.infer.mle.fit on the same binned model, in one process.

Both fits produce best-fit values and HESSE uncertainties. pyhf runs with its minuit optimizer
on the numpy backend (its default pairing, numerical gradients) and, for reference, on the
pytorch backend with autograd gradients. nsbi runs MIGRAD with exact gradients, a Newton
polish and HESSE with the exact Hessian. Model construction is excluded from all timings.

    python benchmarks/fit_binned.py [--repeat 20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import pyhf

from nsbi.infer import fit
from nsbi.model import Model
from nsbi.workspace import Workspace

ROOT = Path(__file__).resolve().parents[1]


def simple_spec():
    model = pyhf.simplemodels.uncorrelated_background(
        signal=[12.0, 11.0, 6.0], bkg=[50.0, 52.0, 30.0], bkg_uncertainty=[3.0, 7.0, 4.0]
    )
    return {
        "channels": model.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [66.0, 59.0, 40.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def timed(function, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def bench(name, spec, repeat):
    workspace = pyhf.Workspace(spec)
    pyhf.set_backend("numpy", "minuit")
    pmodel = workspace.model()
    data = workspace.data(pmodel)
    t_pyhf, ref = timed(lambda: pyhf.infer.mle.fit(data, pmodel, return_uncertainties=True), repeat)

    pyhf.set_backend("pytorch", "minuit", precision="64b")
    tmodel = workspace.model()
    tdata = pyhf.tensorlib.astensor(workspace.data(tmodel))
    t_torch, _ = timed(lambda: pyhf.infer.mle.fit(tdata, tmodel, return_uncertainties=True), repeat)
    pyhf.set_backend("numpy", "minuit")

    model = Model.from_workspace(Workspace(spec))
    t_nsbi, result = timed(lambda: fit(model), repeat)
    diff = np.max(np.abs(result.values - np.asarray(ref)[:, 0]) / np.asarray(ref)[:, 1])
    print(
        f"{name:<14} {len(result.names):>5} {t_pyhf * 1e3:>12.1f} {t_torch * 1e3:>14.1f} "
        f"{t_nsbi * 1e3:>10.1f} {t_nsbi / t_pyhf:>12.2f} {diff:>14.2e}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    print(f"median of {args.repeat} fits each; times in ms")
    print(
        f"{'model':<14} {'npar':>5} {'pyhf numpy':>12} {'pyhf pytorch':>14} {'nsbi':>10} "
        f"{'nsbi/pyhf':>12} {'max|dv|/sigma':>14}"
    )
    bench("simplemodels", simple_spec(), args.repeat)
    bench(
        "binned_sr_cr",
        json.loads((ROOT / "workspaces" / "binned_sr_cr.json").read_text()),
        args.repeat,
    )


if __name__ == "__main__":
    main()
