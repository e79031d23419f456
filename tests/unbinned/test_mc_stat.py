"""The MC-statistical uncertainty of a learned likelihood: bootstrap replicas trained by
``nsbi train``, refitted by ``nsbi fit``, and propagated into the likelihood.

The full check against independent simulations and the coverage table are in
``benchmarks/mc_stat_coverage.py``; here a small signal-strength toy (mu S + B, reference B)
with four replicas of a small network."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.infer import fit
from nsbi.infer.mc_stat import MCStatModel, MCStatUncertainty, mc_stat_uncertainty
from nsbi.model import Model
from nsbi.simulators import InterferenceToy, write_toy_workspace
from nsbi.workspace import Workspace
from nsbi.workspace.events import reference_events, sample_events
from nsbi.workspace.replicas import bootstrap_events

TRAINING = {
    "members": 2,
    "hidden_layers": [16, 16],
    "epochs": 8,
    "batch_size": 2048,
    "learning_rate": 0.01,
    "patience": 20,
    "seed": 0,
}
REPLICAS = 4


@pytest.fixture(scope="module")
def replicated(tmp_path_factory):
    """A mu S + B toy with S/B = 1/20, 8000 simulated events per sample, four replicas."""
    toy = InterferenceToy(d=2, nu_signal=100.0, nu_background=2000.0, interference=0.0)
    directory = tmp_path_factory.mktemp("mc_stat")
    path = write_toy_workspace(
        toy, directory, events_per_sample=8000, seed=2, training=TRAINING,
        poi_bounds=(-5.0, 10.0), samples=("S", "B"), reference=("B",),
    )  # fmt: skip
    spec = json.loads(path.read_text())
    spec["channels"][0]["mc_stat"] = {"replicas": REPLICAS}
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["train", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    return path


def test_replicas_are_trained_stored_and_up_to_date(replicated):
    for b in range(REPLICAS):
        assert (
            replicated.parent / "models" / "SR" / "S.replicas" / str(b) / "ensemble.json"
        ).exists()
    again = CliRunner().invoke(cli, ["train", str(replicated)])
    assert again.exit_code == 0
    assert again.output.count("up to date") == 1 + REPLICAS, again.output


def test_a_replica_reweights_the_whole_simulation_consistently(replicated):
    workspace = Workspace.load(replicated)
    channel = workspace.channel("SR")
    background = sample_events(workspace, channel, channel["samples"][1])
    replica = bootstrap_events(background, channel, 1, "B")
    factors = replica.weights / background.weights
    # Poisson(1) factors: mean 1, variance 1, integers
    assert np.allclose(factors, np.round(factors))
    assert abs(factors.mean() - 1) < 0.05 and abs(factors.var() - 1) < 0.08
    # the replica model's reference pool is the same events with those factors
    model = Model.from_workspace(workspace)
    copy = model.replica(1)
    nominal_pool = reference_events(workspace, channel)
    omega = copy.unbinned[0].weights["reference"].numpy()
    expected = nominal_pool.weights * factors
    np.testing.assert_allclose(omega, expected / expected.sum(), rtol=1e-6)
    assert copy.unbinned[0].ratios["reference"].shape == model.unbinned[0].ratios["reference"].shape


def test_fit_reports_the_mc_statistical_uncertainty(replicated, tmp_path):
    out = tmp_path / "fit.json"
    result = CliRunner().invoke(cli, ["fit", str(replicated), "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "MC-statistical uncertainty (4 bootstrap replicas)" in result.output
    document = json.loads(out.read_text())
    block = document["mc_stat"]
    assert block["replicas"] == REPLICAS and block["propagated"] is False
    values = np.array(block["replica_values"])[:, document["parameter_order"].index("mu")]
    assert block["errors"]["mu"] == pytest.approx(values.std(ddof=1), rel=1e-9)
    assert block["errors"]["mu"] > 0


def test_diagnose_reports_the_mc_statistical_uncertainty(replicated):
    result = CliRunner().invoke(cli, ["diagnose", str(replicated), "--no-two-sample-test"])
    assert result.exit_code == 0, result.output
    assert "MC-statistical uncertainty of mu (4 bootstrap replicas)" in result.output
    line = [x for x in result.output.splitlines() if x.startswith("MC-statistical")][0]
    mc, stat = (float(part.split()[-1]) for part in line.split(": ", 1)[1].split(";"))
    assert mc > 0 and stat > 0
    assert ("WARNING" in result.output) == (mc > 0.2 * stat)


def test_propagation_adds_the_mc_statistical_variance(replicated):
    """For the one-parameter model the profile of -ln L(mu - a gamma) + gamma^2/2 over gamma
    has the variance sigma_stat^2 + a^2: the propagated error equals the quadrature sum."""
    model = Model.from_workspace(Workspace.load(replicated))
    nominal = fit(model)
    uncertainty = mc_stat_uncertainty(model, nominal)
    extended = MCStatModel(model, uncertainty)
    total = fit(extended, minos=["mu"])
    assert total.valid, total.reasons
    expected = np.hypot(nominal.error("mu"), uncertainty.error("mu"))
    assert total.error("mu") == pytest.approx(expected, rel=0.02)
    assert total.value("mu") == pytest.approx(nominal.value("mu"), abs=1e-3 * expected)
    lo, hi = total.minos["mu"]
    assert -lo > nominal.error("mu") and hi > nominal.error("mu")


def test_the_shift_matrix_reproduces_the_covariance():
    covariance = np.array([[0.04, 0.01, 0.0], [0.01, 0.09, 0.0], [0.0, 0.0, 0.0]])
    u = MCStatUncertainty(["a", "b", "c"], np.zeros((5, 3)), covariance, 0, np.zeros(3))
    shifts = u.shifts()
    assert shifts.shape == (3, 2)
    np.testing.assert_allclose(shifts @ shifts.T, covariance, atol=1e-12)


def test_without_replicas_mc_stat_is_refused_with_the_fix(tmp_path):
    toy = InterferenceToy(d=2, nu_signal=10.0, nu_background=100.0, interference=0.0)
    path = write_toy_workspace(toy, tmp_path, events_per_sample=500, seed=1, training=TRAINING,
                               samples=("S", "B"), reference=("B",))  # fmt: skip
    CliRunner().invoke(cli, ["train", str(path), "--quiet"])
    result = CliRunner().invoke(cli, ["fit", str(path), "--mc-stat", "report"])
    assert result.exit_code == 2
    assert "--mc-stat" in result.output and '"mc_stat": {"replicas": 10}' in result.output
    assert "Traceback" not in result.output
