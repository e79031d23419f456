"""Fits, scans and Asimov fits compared with pyhf live (pyhf.infer.mle with its minuit optimizer).

Agreement criterion for "1e-3 relative": |nsbi - pyhf| <= 1e-3 * max(|pyhf|, sigma_pyhf), i.e.
relative to the value, or to the uncertainty where the value sits near zero (a pull of 1e-17
has no meaningful relative difference).
"""

from __future__ import annotations

import numpy as np
import pyhf
import pytest
import torch

from nsbi.infer import asimov_model, fit, fixed_poi_fit, scan
from nsbi.model import Model
from nsbi.workspace import Workspace


def _pyhf(spec):
    workspace = pyhf.Workspace(spec)
    model = workspace.model()
    return model, workspace.data(model)


def _pyhf_minuit():
    # pyhf's own optimizer, tightened so that pyhf's answer is a converged reference
    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-4, strategy=2))


def test_fit_matches_pyhf(pyhf_spec):
    """Values and errors; pyhf's ``uncertainties`` are Minuit's external errors, which for a
    bounded parameter are the average of the bound transform's image of the internal error
    (sig_xsec, a unit Gaussian constraint the data do not touch, gets 0.993 there), so the
    errors are compared with pyhf's covariance, whose square-rooted diagonal nsbi reports."""
    _pyhf_minuit()
    pmodel, data = _pyhf(pyhf_spec)
    pars_unc, twice_nll, result_obj = pyhf.infer.mle.fit(
        data, pmodel, return_uncertainties=True, return_fitted_val=True, return_result_obj=True
    )
    values = pars_unc[:, 0]
    errors = np.sqrt(np.diag(np.asarray(result_obj.minuit.covariance)))

    result = fit(Model.from_workspace(Workspace(pyhf_spec)))
    assert result.valid
    assert result.names == list(pmodel.config.par_names)
    free = ~np.array(pmodel.config.suggested_fixed())
    scale = np.maximum(np.abs(values), errors)
    assert np.all(np.abs(result.values - values)[free] <= 1e-3 * scale[free])
    assert np.all(np.abs(result.errors - errors)[free] <= 1e-3 * errors[free])
    assert result.nll == pytest.approx(float(twice_nll) / 2, abs=1e-6)


def test_fit_leaves_pyhf_backend_alone(pyhf_spec):
    before = pyhf.get_backend()
    fit(Model.from_workspace(Workspace(pyhf_spec)))
    after = pyhf.get_backend()
    assert after[0].name == before[0].name == "numpy"
    assert after[1] is before[1]


def test_nll_equals_pyhf_logpdf_and_autograd_matches_finite_differences(pyhf_spec):
    pmodel, data = _pyhf(pyhf_spec)
    model = Model.from_workspace(Workspace(pyhf_spec))
    rng = np.random.default_rng(7)
    init = np.array(pmodel.config.suggested_init(), dtype=float)
    pars = init + 0.05 * rng.standard_normal(init.size)
    expected = -float(pmodel.logpdf(pars, data)[0])
    x = torch.tensor(pars, requires_grad=True)
    value = model.nll(x)
    (grad,) = torch.autograd.grad(value, x)
    assert float(value) == pytest.approx(expected, rel=1e-12)
    eps = 1e-6
    for i in range(init.size):
        up, down = pars.copy(), pars.copy()
        up[i] += eps
        down[i] -= eps
        numeric = -(pmodel.logpdf(up, data)[0] - pmodel.logpdf(down, data)[0]) / (2 * eps)
        assert float(grad[i]) == pytest.approx(numeric, rel=1e-5, abs=1e-6)


def test_scan_matches_pyhf_twice_nll_differences(pyhf_spec):
    _pyhf_minuit()
    pmodel, data = _pyhf(pyhf_spec)
    model = Model.from_workspace(Workspace(pyhf_spec))
    values = np.linspace(0.0, 3.0, 7)
    profile = scan(model, "mu", values)
    _, twice_nll_best = pyhf.infer.mle.fit(data, pmodel, return_fitted_val=True)
    for value, t in zip(values, profile.t, strict=True):
        _, twice_nll = pyhf.infer.mle.fixed_poi_fit(value, data, pmodel, return_fitted_val=True)
        assert t == pytest.approx(float(twice_nll - twice_nll_best), abs=1e-3)
    assert profile.valid


@pytest.mark.parametrize("mu", [0.0, 0.4, 1.7])
def test_asimov_fit_returns_injected_parameters(pyhf_spec, mu):
    model = Model.from_workspace(Workspace(pyhf_spec))
    injected = model.parameter_vector({"mu": mu}).numpy()
    result = fit(asimov_model(model, {"mu": mu}))
    assert result.valid
    free = ~np.array(result.fixed)
    # mu = 0 sits on the lower bound of the simple model: MIGRAD returns it to within 1e-4 too
    np.testing.assert_allclose(result.values[free], injected[free], atol=1e-4, rtol=0)


def test_fixed_poi_fit_holds_the_poi_and_fix_is_applied():
    spec = pyhf_spec_multi()
    model = Model.from_workspace(Workspace(spec))
    result = fixed_poi_fit(model, 2.0, fix={"lumi": 1.01})
    assert result.value("mu") == 2.0 and result.value("lumi") == 1.01
    assert result.error("mu") == 0.0 and result.fixed[result.names.index("lumi")]


def test_minos_brackets_the_best_fit_and_agrees_with_scan_crossings():
    spec = pyhf_spec_multi()
    model = Model.from_workspace(Workspace(spec))
    result = fit(model, minos=["mu"])
    lo, hi = result.minos["mu"]
    assert lo < 0 < hi
    mu_hat = result.value("mu")
    profile = scan(model, "mu", np.linspace(mu_hat + 1.2 * lo, mu_hat + 1.2 * hi, 25))
    crossing_lo, crossing_hi = profile.interval(1.0)
    assert crossing_lo == pytest.approx(mu_hat + lo, abs=5e-3)
    assert crossing_hi == pytest.approx(mu_hat + hi, abs=5e-3)


def pyhf_spec_multi():
    from tests.conftest import multichannel_spec

    return multichannel_spec()
