"""``nsbi validate`` sees every data problem ``nsbi fit`` would hit: on a trained unbinned
workspace, each case below breaks one ntuple or source; ``fit`` must fail on it, and
``validate`` must reject it with exit 2 and the same place (file, tree, branch or sample).
``--no-data`` checks the JSON alone; untrained or stale ratio models are warnings."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import uproot
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.io import write_ntuple
from nsbi.simulators import InterferenceToy, write_toy_workspace

TRAINING = {"members": 1, "hidden_layers": [8], "epochs": 2, "batch_size": 512, "seed": 0}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small mu S + B workspace (reference B), trained, with a weight-based shape modifier
    (its per-event factor read from branch ``w_up`` of every ntuple, the data's included)."""
    directory = tmp_path_factory.mktemp("validate_data")
    toy = InterferenceToy(d=2, nu_signal=10.0, nu_background=100.0, interference=0.0)
    path = write_toy_workspace(toy, directory, events_per_sample=400, seed=3, training=TRAINING,
                               samples=("S", "B"), reference=("B",))  # fmt: skip
    for name in ("S", "B", "data"):
        file = directory / "ntuples" / f"{name}.root"
        branches = _branches(file)
        branches["w_up"] = np.full(len(branches["x1"]), 1.05)
        branches.setdefault("weight", np.ones(len(branches["x1"])))  # the data's unit weights
        write_ntuple(file, {"events": branches})
    spec = json.loads(path.read_text())
    spec["channels"][0]["samples"][1]["modifiers"].append(
        {"name": "eff", "type": "shape",
         "data": {"hi": {"weight": "weight * w_up"}, "lo": {"weight": "weight / w_up"}}}
    )  # fmt: skip
    path.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["train", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    return path


def _branches(file) -> dict:
    with uproot.open(file) as root:
        return {
            k: np.asarray(v, dtype=float) for k, v in root["events"].arrays(library="np").items()
        }


def _ntuple_with(trained, name, change, new_name):
    """A copy of ntuple ``name`` with ``change(branches)`` applied, as ``new_name``."""
    branches = _branches(trained.parent / "ntuples" / f"{name}.root")
    change(branches)
    write_ntuple(trained.parent / "ntuples" / new_name, {"events": branches})
    return f"ntuples/{new_name}"


def _nan_in_x1(branches):
    branches["x1"][7] = np.nan


def _inf_weight(branches):
    branches["weight"][3] = np.inf


def _drop_x2(branches):
    del branches["x2"]


def _drop_w_up(branches):
    del branches["w_up"]


#: case -> (how to break the workspace: (spec, trained) -> None, words the messages must hold)
CASES = {
    "sample file missing": (
        lambda spec, t: spec["channels"][0]["samples"][1]["source"].update(file="ntuples/no.root"),
        ["no.root"],
    ),
    "sample tree missing": (
        lambda spec, t: spec["channels"][0]["samples"][1]["source"].update(tree="nope"),
        ["nope"],
    ),
    "selection of an unknown branch": (
        lambda spec, t: spec["channels"][0]["samples"][0]["source"].update(selection="zz > 0"),
        ["zz"],
    ),
    "weight of an unknown branch": (
        lambda spec, t: spec["channels"][0]["samples"][0]["source"].update(weight="w_nope"),
        ["w_nope"],
    ),
    "NaN in an observable": (
        lambda spec, t: spec["channels"][0]["samples"][0]["source"].update(
            file=_ntuple_with(t, "S", _nan_in_x1, "S_nan.root")
        ),
        ["S_nan.root", "x1", "NaN"],
    ),
    "infinite weight": (
        lambda spec, t: spec["channels"][0]["samples"][1]["source"].update(
            file=_ntuple_with(t, "B", _inf_weight, "B_inf.root")
        ),
        ["B_inf.root", "weight"],
    ),
    "observed ntuple missing an observable": (
        lambda spec, t: spec["observations"][0]["source"].update(
            file=_ntuple_with(t, "data", _drop_x2, "data_no_x2.root")
        ),
        ["data_no_x2.root", "x2"],
    ),
    "observed file missing": (
        lambda spec, t: spec["observations"][0]["source"].update(file="ntuples/gone.root"),
        ["gone.root"],
    ),
    "selection that keeps nothing": (
        lambda spec, t: spec["channels"][0]["samples"][1]["source"].update(selection="x1 > 1e9"),
        ["B.root"],
    ),
    "weight variation without its branch in the data": (
        lambda spec, t: spec["observations"][0]["source"].update(
            file=_ntuple_with(t, "data", _drop_w_up, "data_no_w_up.root")
        ),
        ["data_no_w_up.root", "w_up"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_validate_rejects_what_fit_would_hit(trained, tmp_path, case):
    breaks, words = CASES[case]
    spec = json.loads(trained.read_text())
    breaks(spec, trained)
    target = trained.parent / f"case_{case.replace(' ', '_')}.json"
    target.write_text(json.dumps(spec))
    fitted = CliRunner().invoke(cli, ["fit", str(target), "--allow-stale", "--quiet"])
    assert fitted.exit_code != 0, f"fit accepted {case}: {fitted.output}"
    validated = CliRunner().invoke(cli, ["validate", str(target)])
    for result in (fitted, validated):
        assert "Traceback" not in result.output, result.output
        for word in words:
            assert word in result.output, (case, word, result.output)
    assert validated.exit_code == 2, validated.output
    assert "valid\n" not in validated.output


def test_a_sound_workspace_is_valid_and_fits(trained):
    validated = CliRunner().invoke(cli, ["validate", str(trained)])
    assert validated.exit_code == 0 and validated.output.endswith("valid\n"), validated.output
    assert "warning" not in validated.output
    fitted = CliRunner().invoke(cli, ["fit", str(trained), "--quiet"])
    assert fitted.exit_code == 0, fitted.output


def test_no_data_checks_the_json_alone(trained):
    spec = json.loads(trained.read_text())
    spec["channels"][0]["samples"][1]["source"]["tree"] = "nope"
    target = trained.parent / "no_data.json"
    target.write_text(json.dumps(spec))
    assert CliRunner().invoke(cli, ["validate", str(target), "--no-data"]).exit_code == 0
    assert CliRunner().invoke(cli, ["validate", str(target)]).exit_code == 2


def test_untrained_and_stale_models_are_warnings(trained, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(trained.parent, copy, ignore=shutil.ignore_patterns("models"))
    untrained = CliRunner().invoke(cli, ["validate", str(copy / trained.name)])
    assert untrained.exit_code == 0, untrained.output
    assert "is missing" in untrained.output and "nsbi train" in untrained.output
    spec = json.loads(trained.read_text())
    spec["channels"][0]["samples"][1]["source"]["selection"] = "x1 > 0"
    moved = trained.parent / "stale.json"
    moved.write_text(json.dumps(spec))
    stale = CliRunner().invoke(cli, ["validate", str(moved)])
    assert stale.exit_code == 0 and "is stale" in stale.output, stale.output
