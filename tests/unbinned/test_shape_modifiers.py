"""Unbinned ``shape`` modifiers from a workspace: weight-based variations, learned-variation
training, errors, and a combined fit with a binned control region sharing the NP."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.exceptions import NSBIError
from nsbi.infer import fit
from nsbi.io import write_ntuple
from nsbi.model import Model
from nsbi.workspace import Workspace
from tests.unbinned.conftest import (
    CONTROL_REGION,
    N_SIM,
    SLOPE,
    weighted_shape_channel,
    write_weighted_shape_workspace,
)


def test_weight_based_shape_tables_are_the_weight_ratios(tmp_path):
    path = write_weighted_shape_workspace(tmp_path, [weighted_shape_channel()])
    model = Model.from_workspace(Workspace.load(path))
    shapes = model.unbinned[0].shapes
    assert shapes is not None and shapes.pairs == [(0, model.parameters.index("jes"))]
    # the reference events are the B sample's; ln(w_up/w) = SLOPE x on every event
    from nsbi.workspace.events import observed_events, reference_events

    ws = Workspace.load(path)
    x_ref = reference_events(ws, ws.channel("SR")).features[:, 0]
    x_obs = observed_events(ws, ws.channel("SR")).features[:, 0]
    np.testing.assert_allclose(
        shapes.log_hi["reference"].numpy(), SLOPE * x_ref[:, None], atol=1e-6
    )
    np.testing.assert_allclose(
        shapes.log_lo["observed"].numpy(), -SLOPE * x_obs[:, None], atol=1e-6
    )
    # the yield change enters G with the varied sums of weights
    [shape_yield] = [m for m in model.unbinned[0].samples[0].modifiers if m.kind == "shape"]
    rng = np.random.default_rng(5)
    x_sim = rng.normal(0, 1, N_SIM)
    assert shape_yield.hi == pytest.approx(np.mean(np.exp(SLOPE * x_sim)), rel=1e-9)
    assert shape_yield.lo == pytest.approx(np.mean(np.exp(-SLOPE * x_sim)), rel=1e-9)


def test_weight_based_shape_needs_its_branches_on_the_observed_events(tmp_path):
    path = write_weighted_shape_workspace(
        tmp_path, [weighted_shape_channel()], data_has_weights=False
    )
    with pytest.raises(NSBIError) as error:
        Model.from_workspace(Workspace.load(path))
    message = str(error.value)
    assert "'jes'" in message and "data.root" in message and '"ratio"' in message


def test_weight_based_shape_with_a_non_positive_weight_ratio_is_an_error(tmp_path):
    path = write_weighted_shape_workspace(tmp_path, [weighted_shape_channel()])
    spec = json.loads(path.read_text())
    spec["channels"][0]["samples"][0]["modifiers"][1]["data"]["hi"] = {"weight": "w_up * (x > 0)"}
    path.write_text(json.dumps(spec))
    with pytest.raises(NSBIError) as error:
        Model.from_workspace(Workspace.load(path))
    message = str(error.value)
    assert "B.root:events" in message and "'jes'" in message and "must be positive" in message


def test_combined_fit_constrains_the_shared_np_more_than_either_region(tmp_path):
    """SR (unbinned, weight-based shape 'jes') + CR (binned pyhf, histosys 'jes'), with a free
    background normalisation k_B shared too: the combined post-fit error of jes is below both
    single-region errors, and the pre-fit constraint appears once."""
    errors = {}
    for label, channels in (
        ("SR", [weighted_shape_channel()]),
        ("CR", [CONTROL_REGION]),
        ("SR+CR", [weighted_shape_channel(), CONTROL_REGION]),
    ):
        model = Model.from_workspace(
            Workspace.load(write_weighted_shape_workspace(tmp_path, channels))
        )
        assert model.parameters.names.count("jes") == 1
        result = fit(model)
        assert result.valid, label
        errors[label] = result.error("jes")
    assert errors["SR+CR"] < min(errors["SR"], errors["CR"])
    # combining two independent measurements of jes with the one unit prior:
    # 1/s^2 = 1/s_SR^2 + 1/s_CR^2 - 1 (each single-region error already includes the prior)
    expected = (errors["SR"] ** -2 + errors["CR"] ** -2 - 1.0) ** -0.5
    assert errors["SR+CR"] == pytest.approx(expected, rel=0.15)


def test_learned_variations_are_trained_by_nsbi_train(tmp_path):
    """A tree-based variation gets two ensembles, p(x|+1)/p(x|0) and p(x|-1)/p(x|0)."""
    rng = np.random.default_rng(1)
    write_ntuple(
        tmp_path / "B.root",
        {
            tree: {"x": rng.normal(shift, 1, 4000), "w": np.full(4000, 0.1)}
            for tree, shift in (("events", 0.0), ("up", 0.3), ("down", -0.3))
        },
    )
    write_ntuple(tmp_path / "data.root", {"events": {"x": rng.normal(0, 1, 400)}})
    channel = weighted_shape_channel()
    channel["samples"][0]["modifiers"][1]["data"] = {"hi": {"tree": "up"}, "lo": {"tree": "down"}}
    channel["training"] = {
        "members": 2,
        "hidden_layers": [16],
        "epochs": 40,
        "batch_size": 256,
        "learning_rate": 0.01,
        "seed": 0,
    }
    spec = {
        "version": "1.0.0",
        "channels": [channel],
        "observations": [{"name": "SR", "source": {"file": "data.root", "tree": "events"}}],
        "measurements": [{"name": "m", "config": {"poi": "k_B", "parameters": []}}],
    }
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["train", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    for side in ("hi", "lo"):
        assert (tmp_path / "models" / "SR" / f"B_jes_{side}" / "ensemble.json").exists()
    model = Model.from_workspace(Workspace.load(path))
    shapes = model.unbinned[0].shapes
    # a mean shift of +-0.3: ln g+ - ln g- = 0.6 x exactly; the learned tables follow it
    x = np.linspace(-1.5, 1.5, 7)[:, None]
    from nsbi.ratios import load_ensemble

    up = load_ensemble(tmp_path / "models" / "SR" / "B_jes_hi").log_ratio(x)
    down = load_ensemble(tmp_path / "models" / "SR" / "B_jes_lo").log_ratio(x)
    np.testing.assert_allclose(up - down, 0.6 * x[:, 0], atol=0.25)
    assert shapes.log_hi["observed"].shape == (400, 1)
    # training again is a no-op: every ensemble is up to date
    again = CliRunner().invoke(cli, ["train", str(path)])
    assert again.exit_code == 0 and again.output.count("up to date") == 2, again.output
    # nsbi diagnose covers the variations (the reference B has no ensemble of its own), by
    # label too; an unknown label exits 2 with the list
    diagnosed = CliRunner().invoke(cli, ["diagnose", str(path), "--no-two-sample-test"])
    assert diagnosed.exit_code == 0, diagnosed.output
    assert "SR/B_jes_hi:" in diagnosed.output and "SR/B_jes_lo:" in diagnosed.output
    one = CliRunner().invoke(
        cli, ["diagnose", str(path), "--only", "B_jes_hi", "--no-two-sample-test"]
    )
    assert one.exit_code == 0 and "SR/B_jes_hi:" in one.output
    assert "B_jes_lo" not in one.output
    # the closure of the nominal reweighted to the +0.3 shifted tree: chi2/ndf of order 1
    chi2 = float(one.output.split("chi2/ndf = ")[1].split("=")[1].split()[0])
    assert chi2 < 3.0, one.output
    for command in ("diagnose", "train"):
        unknown = CliRunner().invoke(cli, [command, str(path), "--only", "NOSUCH"])
        assert unknown.exit_code == 2, unknown.output
        assert "--only" in unknown.output and "NOSUCH" in unknown.output
        assert "SR/B_jes_hi" in unknown.output and "Traceback" not in unknown.output
    # nsbi train --only LABEL retrains one ensemble, leaving the other alone
    lo_weights = tmp_path / "models" / "SR" / "B_jes_lo" / "ensemble.json"
    before = lo_weights.stat().st_mtime_ns
    retrained = CliRunner().invoke(cli, ["train", str(path), "--only", "SR/B_jes_hi", "--force"])
    assert retrained.exit_code == 0, retrained.output
    assert "B_jes_hi" in retrained.output and "B_jes_lo" not in retrained.output
    assert lo_weights.stat().st_mtime_ns == before
