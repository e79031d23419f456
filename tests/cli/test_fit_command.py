"""`nsbi fit` end to end: the JSON it writes, against pyhf live."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pyhf
import pytest
from click.testing import CliRunner

from nsbi.cli.main import cli
from tests.conftest import WORKSPACES, multichannel_spec

SHAPE_KEYS = {"poi", "parameter_order", "parameters", "nll", "valid", "edm", "covariance"}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_fit_output_has_the_documented_shape_and_pyhf_values(tmp_path):
    out = tmp_path / "fit.json"
    result = run(
        "fit", WORKSPACES / "binned_sr_cr.json", "--minos-parameter", "mu", "--output", out
    )
    assert result.exit_code == 0, result.output
    document = json.loads(out.read_text())
    assert SHAPE_KEYS <= set(document)
    assert document["poi"] == "mu" and document["valid"] is True
    order = document["parameter_order"]
    assert "staterror_SR[0]" in order and "fakes_shape_SR[3]" in order
    n = len(order)
    assert np.array(document["covariance"]).shape == (n, n)
    assert document["parameters"]["mu"]["minos"][0] < 0 < document["parameters"]["mu"]["minos"][1]
    assert document["parameters"]["jes"]["minos"] is None

    pyhf.set_backend("numpy", pyhf.optimize.minuit_optimizer(tolerance=1e-4, strategy=2))
    workspace = pyhf.Workspace(multichannel_spec())
    model = workspace.model()
    reference, result_obj = pyhf.infer.mle.fit(
        workspace.data(model), model, return_uncertainties=True, return_result_obj=True
    )
    # errors against pyhf's covariance (its `uncertainties` are Minuit's bound-transformed
    # external errors; see tests/infer/test_fit_against_pyhf.py)
    errors = np.sqrt(np.diag(np.asarray(result_obj.minuit.covariance)))
    for name, value, error in zip(model.config.par_names, reference[:, 0], errors, strict=True):
        ours = document["parameters"][name]
        assert abs(ours["value"] - value) <= 1e-3 * max(abs(value), error), name
        assert ours["error"] == pytest.approx(error, rel=1e-3), name
    # table on stdout with the POI marked and the fit health
    assert "mu *" in result.output and "valid = True" in result.output


def test_asimov_poi_and_fix(tmp_path):
    out = tmp_path / "asimov.json"
    result = run(
        "fit",
        WORKSPACES / "binned_sr_cr.json",
        "--asimov-poi",
        "2.5",
        "--fix",
        "lumi=1.0",
        "--output",
        out,
        "--quiet",
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""
    parameters = json.loads(out.read_text())["parameters"]
    assert parameters["mu"]["value"] == pytest.approx(2.5, abs=1e-4)
    assert parameters["lumi"] == {"value": 1.0, "error": 0.0, "minos": None}


def test_scan_output_and_plot(tmp_path):
    out = tmp_path / "scan.json"
    result = run(
        "fit",
        WORKSPACES / "binned_sr_cr.json",
        "--scan",
        "mu",
        "--points",
        "5",
        "--range",
        "0",
        "2",
        "--output",
        out,
        "--plot",
        tmp_path / "figures",
    )
    assert result.exit_code == 0, result.output
    scan = json.loads(out.read_text())["scan"]
    assert scan["values"] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert len(scan["t"]) == 5 and min(scan["t"]) >= -1e-6
    for suffix in ("png", "pdf"):
        for name in ("scan_mu", "correlation", "pulls"):
            assert (tmp_path / "figures" / f"{name}.{suffix}").stat().st_size > 1000


def test_scan_outside_bounds_is_an_error():
    result = run("fit", WORKSPACES / "binned_sr_cr.json", "--scan", "mu", "--range", "-5", "2")
    assert result.exit_code == 2  # bad input: the option names values the model refuses
    assert "leaves its bounds [-3.0, 10.0]" in result.output


def test_unknown_measurement_is_named():
    result = run("fit", WORKSPACES / "binned_sr_cr.json", "--measurement", "nope")
    assert result.exit_code == 2
    assert "no measurement named 'nope'; available: signal_strength" in result.output


def test_console_script_is_installed():
    completed = subprocess.run(
        [sys.executable, "-m", "nsbi.cli.main", "--version"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "nsbi" in completed.stdout
    completed = subprocess.run(
        ["nsbi", "validate", str(WORKSPACES / "binned_sr_cr.json")], capture_output=True, text=True
    )
    assert completed.returncode == 0 and completed.stdout.strip() == "valid"


def test_a_measurement_pyhf_cannot_build_is_named_not_a_traceback(tmp_path):
    """A lumi parameter without inits passes the schema but pyhf's model building raises a
    TypeError; the CLI names the file and the measurement's config and exits 2."""
    spec = json.loads((WORKSPACES / "binned_sr_cr.json").read_text())
    for parameter in spec["measurements"][0]["config"]["parameters"]:
        if parameter["name"] == "lumi":
            del parameter["inits"]
    with pytest.raises(TypeError):
        pyhf.Workspace(spec).model()  # pyhf's own failure
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(spec))
    result = run("fit", path)
    assert result.exit_code == 2
    assert f"{path}: measurements[0].config: pyhf cannot build" in result.output
    assert "needs inits" in result.output
