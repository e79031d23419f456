"""The held-out split of a channel's simulation (``"holdout": {"fraction": f}``): the ratio
ensembles train on one part, the model's reference pool (normalisation, Asimov data, toys) and
``nsbi diagnose`` use the other, yields use every event; replicas and staleness checks follow."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import optimize

from nsbi.cli.main import cli
from nsbi.infer import fit
from nsbi.io import EventSample
from nsbi.model import Model
from nsbi.simulators import InterferenceToy, write_toy_workspace
from nsbi.workspace import Workspace
from nsbi.workspace.events import (
    observed_events,
    ratio_training_pair,
    reference_events,
    sample_events,
)
from nsbi.workspace.holdout import ALL, HELD_OUT, TRAINING, held_out_mask, part_of

TRAINING_SPEC = {
    "members": 2,
    "hidden_layers": [16, 16],
    "epochs": 8,
    "batch_size": 2048,
    "learning_rate": 0.01,
    "patience": 20,
    "seed": 0,
}
FRACTION = 0.4


@pytest.fixture(scope="module")
def toy():
    return InterferenceToy(d=2, nu_signal=100.0, nu_background=2000.0, interference=0.0)


@pytest.fixture(scope="module")
def held_out(tmp_path_factory, toy):
    """A mu S + B toy, reference B, 10000 events per sample, 40% held out, two replicas."""
    directory = tmp_path_factory.mktemp("holdout")
    path = write_toy_workspace(
        toy, directory, events_per_sample=10_000, seed=4, training=TRAINING_SPEC,
        poi_bounds=(-5.0, 10.0), samples=("S", "B"), reference=("B",),
    )  # fmt: skip
    spec = json.loads(path.read_text())
    spec["channels"][0]["holdout"] = {"fraction": FRACTION, "seed": 3}
    spec["channels"][0]["mc_stat"] = {"replicas": 2}
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["train", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    return path


def _channel(fraction=0.5):
    return {
        "name": "SR",
        "holdout": {"fraction": fraction, "seed": 1},
        "observables": ["x"],
        "reference": {"samples": ["A", "B"]},
        "samples": [{"name": "A", "modifiers": []}, {"name": "B", "modifiers": []}],
    }


def test_the_split_is_a_partition_fixed_by_the_workspace():
    events = EventSample(np.arange(20_000.0)[:, None], np.ones(20_000), ["x"], "toy")
    channel = _channel(0.3)
    training, held = (part_of(events, channel, "A", p) for p in (TRAINING, HELD_OUT))
    together = np.sort(np.concatenate([training.features[:, 0], held.features[:, 0]]))
    np.testing.assert_array_equal(together, events.features[:, 0])  # disjoint, complete
    # Bernoulli(0.3) per event: within 4 binomial SE
    assert abs(held.n_events / 20_000 - 0.3) < 4 * np.sqrt(0.3 * 0.7 / 20_000)
    # fixed by (seed, key): the same again, another split for another sample or seed
    mask = held_out_mask(20_000, channel, "A")
    np.testing.assert_array_equal(events.features[mask], held.features)
    assert (held_out_mask(20_000, channel, "B") != held_out_mask(20_000, channel, "A")).any()
    other = {**channel, "holdout": {"fraction": 0.3, "seed": 2}}
    assert (held_out_mask(20_000, other, "A") != held_out_mask(20_000, channel, "A")).any()
    assert part_of(events, {}, "A", HELD_OUT) is events and part_of(events, {}, "A", ALL) is events


def test_the_pool_keeps_every_reference_samples_full_yield():
    rng = np.random.default_rng(0)
    events = {
        name: EventSample(rng.normal(size=(5000, 1)), rng.uniform(0.5, 1.5, 5000), ["x"], name)
        for name in ("A", "B")
    }
    channel = _channel(0.5)
    for part in (TRAINING, HELD_OUT, ALL):
        pool = reference_events(None, channel, events, part)
        # each sample's part scaled to its yield over all its events (no "yield" key)
        assert pool.weights.sum() == pytest.approx(
            sum(e.weights.sum() for e in events.values()), rel=1e-12
        )
    held = reference_events(None, channel, events, HELD_OUT)
    training = reference_events(None, channel, events, TRAINING)
    assert held.n_events + training.n_events == 10_000
    assert not np.isin(held.features[:, 0], training.features[:, 0]).any()


def test_networks_train_on_one_part_and_the_model_is_built_from_the_other(held_out):
    workspace = Workspace.load(held_out)
    channel = workspace.channel("SR")
    events = {s["name"]: sample_events(workspace, channel, s) for s in channel["samples"]}
    (declared,) = workspace.ratio_ensembles(channel)
    numerator, denominator = ratio_training_pair(workspace, channel, declared, events)
    assert numerator.n_events < events["S"].n_events
    model = Model.from_workspace(workspace)  # refuses a model trained on other events
    from nsbi.ratios import load_ensemble

    ensemble = load_ensemble(declared.path)
    arrays = (numerator.features, numerator.weights, denominator.features, denominator.weights)
    assert ensemble.trained_on(*arrays)
    everything = (events["S"].features, events["S"].weights, events["B"].features,
                  events["B"].weights)  # fmt: skip
    assert not ensemble.trained_on(*everything)
    # the model's pool: exactly the held-out background events, none the networks saw
    pool = model.unbinned[0].weights["reference"].numpy()
    mask = held_out_mask(events["B"].n_events, channel, "B")
    assert len(pool) == mask.sum() and abs(mask.mean() - FRACTION) < 0.03
    held = reference_events(workspace, channel, events, HELD_OUT)
    assert not np.isin(held.features[:, 0], denominator.features[:, 0]).any()
    np.testing.assert_allclose(pool, held.weights / held.weights.sum(), rtol=1e-12)
    # every ratio is normalised over that pool: sum_i omega_i r_j(x_i) = 1
    ratios = model.unbinned[0].ratios["reference"].numpy()
    np.testing.assert_allclose(pool @ ratios, 1.0, rtol=1e-9)
    # replicas are built the same way and are current
    assert model.replica(1).unbinned[0].weights["reference"].shape == (mask.sum(),)


def test_the_fit_agrees_with_the_exact_likelihood(held_out, toy):
    workspace = Workspace.load(held_out)
    result = fit(Model.from_workspace(workspace))
    channel = workspace.channel("SR")
    data = observed_events(workspace, channel)
    s = toy.nu_signal * np.exp(toy.log_density("S", data.features))
    b = toy.nu_background * np.exp(toy.log_density("B", data.features))
    exact = optimize.minimize_scalar(
        lambda mu: mu * toy.nu_signal - np.log(mu * s + b).sum(),
        bounds=(-5.0, 10.0), method="bounded", options={"xatol": 1e-8},
    )  # fmt: skip
    # the learned model's MC error is a fraction of the statistical one at this size
    assert result.valid and abs(result.value("mu") - exact.x) < 0.5 * result.error("mu")


def test_cli_reports_the_split_and_refuses_a_changed_one(held_out, tmp_path):
    diagnosis = CliRunner().invoke(cli, ["diagnose", str(held_out), "--no-two-sample-test"])
    assert diagnosis.exit_code == 0, diagnosis.output
    assert "SR/S: (held-out events)" in diagnosis.output
    inspect = CliRunner().invoke(cli, ["inspect", str(held_out)])
    assert inspect.exit_code == 0 and "stale" not in inspect.output, inspect.output
    # another split: the networks were trained on other events; fit refuses, inspect says so
    spec = json.loads(held_out.read_text())
    spec["channels"][0]["holdout"]["seed"] = 4
    moved = held_out.with_name("moved.json")
    moved.write_text(json.dumps(spec))
    refused = CliRunner().invoke(cli, ["fit", str(moved)])
    assert refused.exit_code == 2 and "trained on other events" in refused.output, refused.output
    inspect = CliRunner().invoke(cli, ["inspect", str(moved)])
    assert "stale" in inspect.output and "training events changed" in inspect.output


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5])
def test_a_fraction_outside_zero_one_is_refused(held_out, fraction):
    spec = json.loads(held_out.read_text())
    spec["channels"][0]["holdout"] = {"fraction": fraction}
    bad = held_out.with_name(f"bad_{fraction}.json")
    bad.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["validate", str(bad)])
    assert result.exit_code == 2 and "holdout" in result.output, result.output


@pytest.mark.parametrize(
    "command",
    [
        ["fit"],
        ["cls"],
        ["significance"],
        ["limit", "--range", "0", "5"],
        ["belt", "--poi-grid", "0:2:2", "--toys", "20", "--scheduler", "serial"],
    ],
    ids=lambda c: c[0],
)
def test_stale_models_are_refused_unless_allowed(held_out, tmp_path, command):
    spec = json.loads(held_out.read_text())
    spec["channels"][0]["holdout"]["seed"] = 7  # another split: other training events
    moved = held_out.with_name(f"stale_{command[0]}.json")
    moved.write_text(json.dumps(spec))
    extra = ["--checkpoints", str(tmp_path / "c")] if command[0] == "belt" else []
    refused = CliRunner().invoke(cli, [command[0], str(moved), *command[1:], *extra, "--quiet"])
    assert refused.exit_code == 2 and "trained on other events" in refused.output, refused.output
    assert "--allow-stale" in refused.output
    allowed = CliRunner().invoke(
        cli, [command[0], str(moved), *command[1:], *extra, "--quiet", "--allow-stale"]
    )
    assert allowed.exit_code == 0, allowed.output
