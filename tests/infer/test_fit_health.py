"""Fit health: each kind of bad (or merely unusual) minimum gets the right verdict and reason,
next to iminuit's own verdict on the same function (iminuit with its numerical derivatives, no
user Hessian: the configuration pyhf's minuit optimizer uses)."""

from __future__ import annotations

import json

import iminuit
import numpy as np
import pyhf
import pytest
import torch
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.exceptions import InvalidWorkspace
from nsbi.infer import fit
from nsbi.model import Model, pyhf_torch_backend
from nsbi.workspace import Workspace


def _simple(signal, data, bkg=(50.0, 60.0)) -> dict:
    model = pyhf.simplemodels.uncorrelated_background(
        signal=list(signal), bkg=list(bkg), bkg_uncertainty=[7.0, 8.0]
    )
    return {
        "channels": model.spec["channels"],
        "observations": [{"name": "singlechannel", "data": list(data)}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def _iminuit(model: Model) -> iminuit.Minuit:
    space = model.parameters

    def nll(x):
        with torch.no_grad():
            return float(model.nll(torch.tensor(np.asarray(x, dtype=float))))

    with pyhf_torch_backend():
        minuit = iminuit.Minuit(nll, np.array(space.init, dtype=float), name=space.names)
        minuit.errordef = iminuit.Minuit.LIKELIHOOD
        minuit.limits = space.bounds
        minuit.fixed = list(space.fixed)
        minuit.strategy, minuit.tol = 2, 1e-6
        minuit.migrad()
        minuit.hesse()
    return minuit


def test_a_poi_the_likelihood_does_not_depend_on_is_a_flat_direction():
    model = Model.from_workspace(Workspace(_simple(signal=[0.0, 0.0], data=[52, 58])))
    result = fit(model)
    assert not result.valid and not result.accurate_covariance
    assert result.reasons == ["flat direction: the NLL does not determine mu"]
    reference = _iminuit(model)
    assert not reference.fmin.is_valid and reference.fmin.hesse_failed
    # the JSON and the table carry the reason
    assert result.to_dict()["reasons"] == result.reasons
    assert "not valid: flat direction" in str(result)


def test_a_flat_combination_of_parameters_is_named():
    """Two backgrounds with the same template, each with its own normalisation: the data fix
    k1 + k2 only. (iminuit's numerical HESSE calls this covariance accurate: the flat
    eigenvalue drowns in its step noise.)"""
    spec = {
        "channels": [
            {
                "name": "c",
                "samples": [
                    {"name": "s", "data": [5.0, 10.0],
                     "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
                    {"name": "b1", "data": [30.0, 20.0],
                     "modifiers": [{"name": "k1", "type": "normfactor", "data": None}]},
                    {"name": "b2", "data": [30.0, 20.0],
                     "modifiers": [{"name": "k2", "type": "normfactor", "data": None}]},
                ],
            }
        ],
        "observations": [{"name": "c", "data": [70, 55]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }  # fmt: skip
    model = Model.from_workspace(Workspace(spec))
    result = fit(model)
    # the truth: the NLL does not change along k1 - k2
    x = torch.tensor(result.values)
    along = torch.zeros(len(x), dtype=torch.float64)
    along[result.names.index("k1")], along[result.names.index("k2")] = 0.3, -0.3
    shifted = x + along
    assert float(model.nll(shifted)) == pytest.approx(float(model.nll(x)), abs=1e-12)
    assert not result.valid and not result.accurate_covariance
    assert result.reasons == ["flat direction: the NLL does not determine k1 - k2"]


def test_a_minimum_on_a_bound_is_valid_and_reported_at_limit():
    """Fewer events than the background alone: mu_hat sits on its lower bound 0."""
    model = Model.from_workspace(Workspace(_simple(signal=[5.0, 10.0], data=[40, 45])))
    result = fit(model)
    assert result.valid and result.accurate_covariance, result.reasons
    assert result.at_limit == ["mu"] and result.value("mu") == pytest.approx(0.0, abs=1e-12)
    reference = _iminuit(model)
    assert reference.fmin.is_valid and reference.fmin.has_parameters_at_limit
    np.testing.assert_allclose(result.values, np.array(reference.values), atol=1e-3 * 0.1)
    assert result.to_dict()["at_limit"] == ["mu"]


def test_a_minimum_inside_bounds_is_healthy_and_agrees_with_iminuit():
    model = Model.from_workspace(Workspace(_simple(signal=[5.0, 10.0], data=[58, 75])))
    result = fit(model)
    reference = _iminuit(model)
    assert result.valid and reference.fmin.is_valid
    assert result.reasons == [] and result.at_limit == []
    assert result.edm < 1e-8


@pytest.mark.parametrize(
    ("coefficient", "message"),
    [
        ("sqrt(mu - 5) - sqrt(mu)", "is nan at mu = 0"),
        ("log(mu) + mu", "is -inf at mu = 0"),
        ("exp(1000 * mu)", "is inf at mu ="),
    ],
)
def test_a_coefficient_not_finite_in_the_poi_range_is_refused(tmp_path, coefficient, message):
    from nsbi.workspace.coefficients import coefficient_problems

    spec = {
        "channels": [
            {"name": "SR", "type": "unbinned",
             "samples": [{"name": "S", "coefficient": coefficient}]}
        ]
    }  # fmt: skip
    [problem] = coefficient_problems(spec, ["mu"], [(0.0, 5.0)], [1.0])
    assert problem.path == "channels[0].samples[0].coefficient"
    assert message in problem.message and "bounds" in problem.message


def test_the_interference_workspace_with_a_nan_coefficient_fails_at_the_model(tmp_path):
    from nsbi.simulators import closure_toy, write_toy_workspace

    path = write_toy_workspace(closure_toy(), tmp_path, events_per_sample=2000, seed=1,
                               poi_bounds=(0, 5))  # fmt: skip
    spec = json.loads(path.read_text())
    spec["channels"][0]["samples"][0]["coefficient"] = "sqrt(mu - 5) - sqrt(mu)"
    path.write_text(json.dumps(spec))
    with pytest.raises(InvalidWorkspace) as error:
        Model.from_workspace(Workspace.load(path))
    assert "channels[0].samples[0].coefficient" in str(error.value)
    result = CliRunner().invoke(cli, ["fit", str(path)])
    assert result.exit_code == 2 and "channels[0].samples[0].coefficient" in result.output
    assert "Traceback" not in result.output
