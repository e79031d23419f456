"""Fits with fixed parameters: values, errors and MINOS intervals against pyhf and iminuit live.

iminuit 2.33 handed a user Hessian maps it onto the wrong parameters when some are fixed (the
free parameters get the leading block); nsbi minimises over the free parameters only. Each case
fixes the first, a middle, the last or several parameters (at values off their nominal, so a
wrong block cannot pass by symmetry), or the POI (a conditional fit).

Agreement: |nsbi - reference| <= 1e-3 * max(|reference|, sigma_reference), as in
``test_fit_against_pyhf.py``; errors are compared with the reference's covariance (pyhf's
``uncertainties`` are Minuit's bound-transformed external errors, see there).
"""

from __future__ import annotations

import copy
import json

import iminuit
import numpy as np
import pyhf
import pytest
import torch

from nsbi.infer import fit
from nsbi.model import Model, pyhf_torch_backend
from nsbi.workspace import Workspace
from tests.conftest import WORKSPACES
from tests.unbinned.conftest import (
    CONTROL_REGION,
    weighted_shape_channel,
    write_weighted_shape_workspace,
)

RTOL = 1e-3


def _simplemodels_spec() -> dict:
    model = pyhf.simplemodels.uncorrelated_background(
        signal=[5.0, 10.0, 8.0], bkg=[50.0, 60.0, 40.0], bkg_uncertainty=[7.0, 8.0, 6.0]
    )
    return {
        "channels": model.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [58, 75, 45]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _binned_sr_cr() -> dict:
    return json.loads((WORKSPACES / "binned_sr_cr.json").read_text())


def _close(ours, reference, scale, what):
    ours, reference, scale = map(np.asarray, (ours, reference, scale))
    bad = np.abs(ours - reference) > RTOL * np.maximum(np.abs(reference), scale)
    assert not bad.any(), f"{what}: nsbi {ours[bad]} vs reference {reference[bad]}"


# (workspace, {parameter: fixed value}, MINOS parameters)
BINNED_CASES = {
    "sr_cr-first": (_binned_sr_cr, {"jes": 0.5}, ["mu", "lumi"]),
    "sr_cr-middle": (_binned_sr_cr, {"fakes_shape_SR[2]": 1.05}, ["mu", "jes"]),
    "sr_cr-last": (_binned_sr_cr, {"staterror_SR[3]": 0.97}, ["mu", "jes"]),
    "sr_cr-several": (
        _binned_sr_cr,
        {"jes": -0.3, "lumi": 1.01, "fakes_norm": 0.4, "staterror_SR[3]": 1.02},
        ["mu", "mu_ttbar"],
    ),
    "sr_cr-poi": (_binned_sr_cr, {"mu": 1.5}, ["jes"]),
    "simple-first": (_simplemodels_spec, {"mu": 0.8}, ["uncorr_bkguncrt[1]"]),
    "simple-middle": (_simplemodels_spec, {"uncorr_bkguncrt[1]": 1.05}, ["mu"]),
    "simple-last": (_simplemodels_spec, {"uncorr_bkguncrt[2]": 0.95}, ["mu"]),
    "simple-several": (
        _simplemodels_spec,
        {"uncorr_bkguncrt[0]": 1.03, "uncorr_bkguncrt[2]": 0.95},
        ["mu", "uncorr_bkguncrt[1]"],
    ),
}


@pytest.mark.parametrize("case", list(BINNED_CASES))
def test_fixed_parameters_match_pyhf(case):
    make, fixes, minos = BINNED_CASES[case]
    spec = make()
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-5, strategy=2))
    workspace = pyhf.Workspace(copy.deepcopy(spec))
    pmodel = workspace.model()
    names = list(pmodel.config.par_names)
    init = np.array(pmodel.config.suggested_init(), dtype=float)
    fixed = list(pmodel.config.suggested_fixed())
    for name, value in fixes.items():
        init[names.index(name)] = value
        fixed[names.index(name)] = True
    pars_unc, result_obj = pyhf.infer.mle.fit(
        workspace.data(pmodel), pmodel, init_pars=init.tolist(), fixed_params=fixed,
        return_uncertainties=True, return_result_obj=True,
    )  # fmt: skip
    minuit = result_obj.minuit
    minuit.minos(*minos)
    reference_errors = np.sqrt(np.diag(np.asarray(minuit.covariance)))

    result = fit(Model.from_workspace(Workspace(spec)), fix=fixes, minos=minos)
    assert result.valid, result.reasons
    assert result.names == names
    free = ~np.array(fixed)
    _close(result.values[free], pars_unc[free, 0], reference_errors[free], "values")
    _close(result.errors[free], reference_errors[free], 0, "errors")
    assert np.all(result.errors[~free] == 0)
    for name in minos:
        error = minuit.merrors[name]
        sigma = reference_errors[names.index(name)]
        _close(result.minos[name], (error.lower, error.upper), sigma, f"MINOS {name}")


def _unbinned_spec(directory) -> dict:
    """SR (unbinned, exact densities: one weighted sample, weight-based shape 'jes') + CR
    (binned), with two more normalisation systematics: k_B (POI), jes, eff, xsec_cr."""
    sr = weighted_shape_channel()
    sr["samples"][0]["modifiers"].append(
        {"name": "eff", "type": "normsys", "data": {"hi": 1.05, "lo": 0.96}}
    )
    cr = copy.deepcopy(CONTROL_REGION)
    cr["samples"][0]["modifiers"].append(
        {"name": "xsec_cr", "type": "normsys", "data": {"hi": 1.08, "lo": 0.93}}
    )
    path = write_weighted_shape_workspace(directory, [sr, cr])
    return Workspace.load(path)


def _iminuit_reference(model: Model, fixes: dict[str, float], minos: list[str]):
    """iminuit on the same NLL with its own numerical derivatives (no user gradient or
    Hessian): MIGRAD, HESSE, MINOS."""
    space = model.parameters
    start = np.array(space.init, dtype=float)
    fixed = list(space.fixed)
    for name, value in fixes.items():
        start[space.index(name)] = value
        fixed[space.index(name)] = True

    def nll(x):
        with torch.no_grad():
            return float(model.nll(torch.tensor(np.asarray(x, dtype=float))))

    with pyhf_torch_backend():
        minuit = iminuit.Minuit(nll, start, name=space.names)
        minuit.errordef = iminuit.Minuit.LIKELIHOOD
        minuit.limits = space.bounds
        minuit.fixed = fixed
        minuit.strategy = 2
        minuit.tol = 1e-5
        minuit.migrad()
        minuit.hesse()
        minuit.minos(*minos)
    assert minuit.valid
    return minuit, np.array(fixed)


UNBINNED_CASES = {
    "first": ({"jes": 0.4}, ["k_B"]),
    "middle": ({"eff": -0.5}, ["k_B", "jes"]),
    "last": ({"xsec_cr": 0.7}, ["k_B"]),
    "several": ({"jes": 0.4, "xsec_cr": -0.6}, ["k_B", "eff"]),
    "poi": ({"k_B": 1.05}, ["jes"]),
}


@pytest.mark.parametrize("case", list(UNBINNED_CASES))
def test_fixed_parameters_in_a_combined_unbinned_fit_match_iminuit(tmp_path, case):
    fixes, minos = UNBINNED_CASES[case]
    model = Model.from_workspace(_unbinned_spec(tmp_path))
    assert model.parameters.names[:1] == ["k_B"] or "k_B" in model.parameters.names
    minuit, fixed = _iminuit_reference(model, fixes, minos)
    free = ~fixed
    reference_errors = np.sqrt(np.diag(np.asarray(minuit.covariance)))

    result = fit(model, fix=fixes, minos=minos)
    assert result.valid, result.reasons
    _close(result.values[free], np.array(minuit.values)[free], reference_errors[free], "values")
    # iminuit's numerical HESSE (strategy 2) is good to a few 1e-4 here
    _close(result.errors[free], reference_errors[free], 0, "errors")
    for name in minos:
        error = minuit.merrors[name]
        sigma = reference_errors[model.parameters.index(name)]
        _close(result.minos[name], (error.lower, error.upper), sigma, f"MINOS {name}")


def _every_fit_workspace(tmp_path):
    yield "binned_sr_cr", Workspace(_binned_sr_cr())
    yield "simplemodels", Workspace(_simplemodels_spec())
    yield "combined", _unbinned_spec(tmp_path)


def test_error_is_the_square_root_of_the_covariance_diagonal(tmp_path):
    """For every parameter of every fit, free or fixed, unconditional or conditional, with a
    bounded POI near its bound or not: error == sqrt(covariance[i][i]) to 1e-9."""
    for label, workspace in _every_fit_workspace(tmp_path):
        model = Model.from_workspace(workspace)
        space = model.parameters
        first, last = space.names[0], space.names[-1]
        for fixes in ({}, {first: space.init[0]}, {last: space.init[-1]}):
            result = fit(model, fix=fixes)
            diagonal = np.sqrt(np.diag(result.covariance))
            np.testing.assert_allclose(result.errors, diagonal, rtol=1e-9, atol=0, err_msg=label)
            as_json = result.to_dict()
            for i, name in enumerate(result.names):
                error = as_json["parameters"][name]["error"]
                assert error == pytest.approx(as_json["covariance"][i][i] ** 0.5, rel=1e-9)
