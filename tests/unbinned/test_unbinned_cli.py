"""`nsbi fit`, `nsbi diagnose` and `nsbi train` on the trained interference workspace."""

import json

import numpy as np
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.infer import scan
from nsbi.infer.baseline import histogram_baseline
from nsbi.infer.profile import crossings
from nsbi.model import Model
from nsbi.workspace import Workspace


def test_train_skips_up_to_date_ensembles(trained_workspace):
    result = CliRunner().invoke(cli, ["train", str(trained_workspace)])
    assert result.exit_code == 0, result.output
    assert result.output.count("up to date") == 3


def test_fit_command_on_unbinned_workspace(trained_workspace, tmp_path):
    output = tmp_path / "fit.json"
    args = [
        "fit",
        str(trained_workspace),
        "--asimov",
        "--asimov-poi",
        "1.5",
        "--output",
        str(output),
        "--scan",
        "mu",
        "--points",
        "11",
        "--range",
        "0.5",
        "2.5",
        "--plot",
        str(tmp_path / "plots"),
        "--quiet",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert abs(report["parameters"]["mu"]["value"] - 1.5) < 1e-4
    assert report["valid"]
    t = np.array(report["scan"]["t"])
    assert t.min() >= -1e-6 and np.argmin(t) == 5
    assert (tmp_path / "plots" / "scan_mu.png").exists()


def test_diagnose_reports_closure_and_two_sample_auc(trained_workspace, tmp_path):
    output = tmp_path / "diagnostics.json"
    result = CliRunner().invoke(
        cli,
        [
            "diagnose",
            str(trained_workspace),
            "--output",
            str(output),
            "--plot",
            str(tmp_path / "plots"),
        ],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(output.read_text())
    assert set(report) == {"SR/S", "SR/SBI", "SR/B"}
    for name, entry in report.items():
        # a good ratio leaves nothing for a fresh classifier to find: AUC ~ 0.5
        assert abs(entry["two_sample_auc"] - 0.5) < 0.02, (name, entry["two_sample_auc"])
        for observable in ("x1", "x2"):
            closure = entry["closure"][observable]
            assert closure["chi2"] / closure["ndf"] < 3.0, (name, observable, closure)
    assert any(p.suffix == ".png" for p in (tmp_path / "plots").iterdir())


def test_nsbi_interval_is_not_wider_than_the_histogram_interval(trained_workspace):
    """Expected (Asimov, mu = 1) 68% intervals: the unbinned model uses the full per-event
    information, so its interval cannot be wider than that of 6x6 histograms of the same
    samples (a pyhf model)."""
    ws = Workspace.load(trained_workspace)
    model = Model.from_workspace(ws)
    values = np.linspace(0.0, 3.0, 61)
    nsbi_scan = scan(model.asimov(model.parameter_vector({"mu": 1.0})), values=values)
    baseline = histogram_baseline(ws, "SR", bins=6)
    _, t_binned, best = baseline.scan(values, asimov_poi=1.0)
    assert abs(best - 1.0) < 1e-3
    lo, hi = nsbi_scan.interval(1.0)
    binned_lo, binned_hi = crossings(values, t_binned, 1.0)
    assert hi - lo <= binned_hi - binned_lo
