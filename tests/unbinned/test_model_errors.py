"""Bad inputs of unbinned workspaces: each gives a non-zero exit and a message with the fix."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.io import write_ntuple
from nsbi.simulators import InterferenceToy, write_toy_workspace

TINY = {"members": 1, "hidden_layers": [4], "epochs": 1, "batch_size": 512, "seed": 0}


@pytest.fixture
def small_workspace(tmp_path):
    return write_toy_workspace(
        InterferenceToy(), tmp_path, events_per_sample=500, seed=1, training=TINY
    )


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_fit_without_trained_models_says_to_train(small_workspace):
    result = run("fit", small_workspace)
    assert result.exit_code == 1
    assert "no ratio model" in result.output and "nsbi train" in result.output
    assert "'SR'" in result.output and "'S'" in result.output


def test_model_trained_on_other_observables_is_refused(small_workspace):
    assert run("train", small_workspace, "--quiet").exit_code == 0
    spec = json.loads(small_workspace.read_text())
    # the same branches under other observable names: the stored models no longer apply
    spec["channels"][0]["observables"] = [
        {"name": "a", "expression": "x1"},
        {"name": "b", "expression": "x2"},
    ]
    small_workspace.write_text(json.dumps(spec))
    result = run("fit", small_workspace)
    assert result.exit_code == 1
    assert "trained on observables ['x1', 'x2']" in result.output
    assert "['a', 'b']" in result.output and "nsbi train" in result.output


def test_missing_ntuple_names_the_file(small_workspace):
    (small_workspace.parent / "ntuples" / "data.root").unlink()
    result = run("fit", small_workspace)
    assert result.exit_code != 0
    assert "data.root" in result.output


def test_non_finite_observable_names_branch_and_count(small_workspace):
    assert run("train", small_workspace, "--quiet").exit_code == 0
    x = np.array([[0.1, 0.2], [np.nan, 0.3], [0.5, np.inf]])
    write_ntuple(
        small_workspace.parent / "ntuples" / "data.root",
        {"events": {"x1": x[:, 0], "x2": x[:, 1]}},
    )
    result = run("fit", small_workspace)
    assert result.exit_code == 1
    assert "x1" in result.output and "x2" in result.output
    assert "data.root" in result.output


def test_selection_keeping_nothing_is_an_error(small_workspace):
    spec = json.loads(small_workspace.read_text())
    spec["channels"][0]["samples"][0]["source"]["selection"] = "x1 > 1e9"
    small_workspace.write_text(json.dumps(spec))
    result = run("train", small_workspace, "--quiet")
    assert result.exit_code == 1
    assert "x1 > 1e9" in result.output and "S.root" in result.output


def test_unknown_only_sample(small_workspace):
    result = run("train", small_workspace, "--only", "nope")
    assert result.exit_code == 2  # bad input: an option naming nothing in the workspace
    assert "nope" in result.output and "SR/S" in result.output
