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

SLOPE = 0.2  # w_up / w = exp(+SLOPE x), w_down / w = exp(-SLOPE x)
N_SIM, N_DATA_EXPECTED = 20_000, 500.0


def _branches(x, weight):
    return {
        "x": x,
        "w": np.full(len(x), weight),
        "w_up": weight * np.exp(SLOPE * x),
        "w_down": weight * np.exp(-SLOPE * x),
    }


def _sr_channel():
    return {
        "name": "SR",
        "type": "unbinned",
        "observables": ["x"],
        "reference": {"samples": ["B"]},
        "samples": [
            {
                "name": "B",
                "source": {"file": "B.root", "tree": "events", "weight": "w"},
                "modifiers": [
                    {"name": "k_B", "type": "normfactor", "data": None},
                    {
                        "name": "jes",
                        "type": "shape",
                        "data": {"hi": {"weight": "w_up"}, "lo": {"weight": "w_down"}},
                    },
                ],
            }
        ],
    }


CR = {
    "name": "CR",
    "samples": [
        {
            "name": "B",
            "data": [300.0, 200.0],
            "modifiers": [
                {"name": "k_B", "type": "normfactor", "data": None},
                {
                    "name": "jes",
                    "type": "histosys",
                    "data": {"hi_data": [330.0, 185.0], "lo_data": [272.0, 214.0]},
                },
            ],
        }
    ],
}


def _write(directory, channels, data_has_weights=True):
    rng = np.random.default_rng(5)
    write_ntuple(
        directory / "B.root",
        {"events": _branches(rng.normal(0, 1, N_SIM), N_DATA_EXPECTED / N_SIM)},
    )
    x = rng.normal(0, 1, rng.poisson(N_DATA_EXPECTED))
    data = _branches(x, 1.0) if data_has_weights else {"x": x}
    write_ntuple(directory / "data.root", {"events": data})
    observations = []
    for channel in channels:
        if channel.get("type") == "unbinned":
            observations.append(
                {"name": channel["name"], "source": {"file": "data.root", "tree": "events"}}
            )
        else:
            observations.append({"name": channel["name"], "data": [300, 200]})
    spec = {
        "version": "1.0.0",
        "channels": channels,
        "observations": observations,
        "measurements": [{"name": "m", "config": {"poi": "k_B", "parameters": []}}],
    }
    path = directory / f"ws_{'_'.join(c['name'] for c in channels)}.json"
    path.write_text(json.dumps(spec))
    return path


def test_weight_based_shape_tables_are_the_weight_ratios(tmp_path):
    path = _write(tmp_path, [_sr_channel()])
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
    path = _write(tmp_path, [_sr_channel()], data_has_weights=False)
    with pytest.raises(NSBIError) as error:
        Model.from_workspace(Workspace.load(path))
    message = str(error.value)
    assert "'jes'" in message and "data.root" in message and '"ratio"' in message


def test_weight_based_shape_with_a_non_positive_weight_ratio_is_an_error(tmp_path):
    path = _write(tmp_path, [_sr_channel()])
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
    for label, channels in (("SR", [_sr_channel()]), ("CR", [CR]), ("SR+CR", [_sr_channel(), CR])):
        model = Model.from_workspace(Workspace.load(_write(tmp_path, channels)))
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
    channel = _sr_channel()
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
