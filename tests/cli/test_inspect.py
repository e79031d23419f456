"""`nsbi inspect` and :func:`nsbi.workflows.summarise`: binned parameters as pyhf sees
them, unbinned channels as their ntuples hold them, and the state of the ratio models as
`nsbi train` decides it."""

from __future__ import annotations

import copy
import json
import os

import numpy as np
import pyhf
import pytest
import uproot
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.io import write_ntuple
from nsbi.model import Model
from nsbi.simulators import InterferenceToy, write_toy_workspace
from nsbi.workflows.summary import summarise
from nsbi.workspace import Workspace
from tests.conftest import WORKSPACES, multichannel_spec

#: the smallest training of the unbinned tests (tests/unbinned/test_model_errors.py)
TINY = {"members": 1, "hidden_layers": [4], "epochs": 1, "batch_size": 512, "seed": 0}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def small_spec() -> dict:
    """Every binned modifier type, a zero staterror (pyhf fixes that bin), a fixed parameter
    and two measurements with other POIs and bounds."""
    return {
        "channels": [
            {
                "name": "A",
                "samples": [
                    {
                        "name": "sig",
                        "data": [3.0, 2.0, 1.0],
                        "modifiers": [
                            {"name": "mu", "type": "normfactor", "data": None},
                            {"name": "lumi", "type": "lumi", "data": None},
                        ],
                    },
                    {
                        "name": "bkg",
                        "data": [20.0, 10.0, 5.0],
                        "modifiers": [
                            {"name": "shape_bkg", "type": "shapefactor", "data": None},
                            {"name": "stat_A", "type": "staterror", "data": [1.0, 0.0, 0.5]},
                            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
                            {
                                "name": "bkg_shape",
                                "type": "histosys",
                                "data": {"hi_data": [21.0, 10.5, 5.0], "lo_data": [19.0, 9.6, 5.1]},
                            },
                            {"name": "unc_bkg", "type": "shapesys", "data": [2.0, 1.0, 0.5]},
                        ],
                    },
                ],
            }
        ],
        "observations": [{"name": "A", "data": [24, 12, 6]}],
        "measurements": [
            {
                "name": "m",
                "config": {
                    "poi": "mu",
                    "parameters": [
                        {
                            "name": "lumi",
                            "auxdata": [1.0],
                            "sigmas": [0.02],
                            "inits": [1.0],
                            "bounds": [[0.9, 1.1]],
                        },
                        {"name": "bkg_norm", "fixed": True, "inits": [0.5]},
                        {"name": "mu", "bounds": [[-1.0, 4.0]], "inits": [0.5]},
                    ],
                },
            },
            {
                "name": "other",
                "config": {
                    "poi": "bkg_norm",
                    "parameters": [
                        {
                            "name": "lumi",
                            "auxdata": [1.0],
                            "sigmas": [0.05],
                            "inits": [1.0],
                            "bounds": [[0.5, 1.5]],
                        },
                        {"name": "mu", "fixed": True},
                    ],
                },
            },
        ],
        "version": "1.0.0",
    }


def _flat(summary, key):
    return [v for p in summary.parameters for v in getattr(p, key)]


@pytest.mark.parametrize(
    ("spec", "measurement"),
    [
        (multichannel_spec(), None),
        (small_spec(), None),
        (small_spec(), "other"),
    ],
    ids=["binned_sr_cr", "small", "small-other-measurement"],
)
def test_binned_parameters_are_pyhfs(spec, measurement, write_spec):
    path = write_spec(copy.deepcopy(spec))
    summary = summarise(path, measurement)
    model = pyhf.Workspace(spec).model(measurement_name=measurement)
    config = model.config

    assert [p.name for p in summary.parameters] == config.par_order
    assert [n for p in summary.parameters for n in p.component_names] == config.par_names
    assert _flat(summary, "init") == pytest.approx(config.suggested_init())
    bounds = np.array(_flat(summary, "bounds"))
    np.testing.assert_allclose(bounds, np.array(config.suggested_bounds(), dtype=float))
    assert _flat(summary, "fixed") == list(config.suggested_fixed())
    for parameter in summary.parameters:
        param_set = config.param_set(parameter.name)
        expected = {None: "none", "normal": "Gaussian", "poisson": "Poisson"}[
            param_set.pdf_type if param_set.constrained else None
        ]
        assert parameter.constraint == expected, parameter.name
        if param_set.constrained:
            np.testing.assert_allclose(parameter.width, param_set.width())
            np.testing.assert_allclose(parameter.auxdata, param_set.auxdata)
        assert parameter.poi == (parameter.name == config.poi_name)
    assert [(m.name, m.type) for m in summary.modifiers] == config.modifiers
    assert summary.samples == config.samples
    assert {c.name: c.n_bins for c in summary.channels} == config.channel_nbins
    assert summary.poi == config.poi_name


def test_inspect_command_prints_and_writes_json(tmp_path):
    path = WORKSPACES / "binned_sr_cr.json"
    output = tmp_path / "inspect.json"
    result = run("inspect", path, "--output", output)
    assert result.exit_code == 0, result.output
    assert "mu (POI)" in result.output and "staterror_SR[3]" in result.output
    assert "channel SR: binned, 4 bins, observed 180 events" in result.output
    document = json.loads(output.read_text())
    assert document == json.loads(json.dumps(summarise(path).to_dict()))
    assert document["summary"] == {"channels": 2, "samples": 3, "parameters": 9, "modifiers": 10}
    assert not list(tmp_path.glob(".inspect*"))  # the atomic write left no temporary file


def test_measurement_option(write_spec):
    path = write_spec(small_spec())
    result = run("inspect", path, "--measurement", "other")
    assert result.exit_code == 0, result.output
    assert "bkg_norm (POI)" in result.output and "* other" in result.output


# -- unbinned -------------------------------------------------------------------------------


@pytest.fixture
def toy_workspace(tmp_path):
    return write_toy_workspace(
        InterferenceToy(), tmp_path, events_per_sample=500, seed=1, training=TINY
    )


def _statuses(path):
    return {m.name: m for m in summarise(path).ratio_models}


def test_unbinned_channel_as_its_ntuples_hold_it(toy_workspace):
    spec = json.loads(toy_workspace.read_text())
    summary = summarise(toy_workspace)
    channel = summary.channel("SR")
    source = spec["observations"][0]["source"]
    with uproot.open(toy_workspace.parent / source["file"]) as root_file:
        entries = root_file[source["tree"]].num_entries
    assert channel.kind == "unbinned"
    assert channel.n_observed == entries
    assert channel.observables == ["x1", "x2"]
    assert channel.reference == ["S", "SBI", "B"]
    for sample, declared in zip(channel.samples, spec["channels"][0]["samples"], strict=True):
        with uproot.open(toy_workspace.parent / declared["source"]["file"]) as root_file:
            assert sample.n_events == root_file[declared["source"]["tree"]].num_entries
        assert sample.nominal_yield == pytest.approx(declared["yield"])
        assert sample.coefficient == declared["coefficient"]
    assert {(n.file, n.tree) for n in channel.ntuples} == {
        (s["source"]["file"], s["source"]["tree"]) for s in spec["channels"][0]["samples"]
    } | {(source["file"], source["tree"])}
    (mu,) = summary.parameters
    assert (mu.name, mu.poi, mu.constraint, mu.modifiers) == ("mu", True, "none", ["coefficient"])
    assert {m.name: m.status for m in summary.ratio_models} == dict.fromkeys(
        ["S", "SBI", "B"], "missing"
    )
    result = run("inspect", toy_workspace)
    assert result.exit_code == 0, result.output
    assert f"{entries} observed events" in result.output and "missing" in result.output


def test_model_status_missing_up_to_date_stale(toy_workspace):
    assert {m.status for m in _statuses(toy_workspace).values()} == {"missing"}
    assert run("train", toy_workspace, "--quiet").exit_code == 0
    statuses = _statuses(toy_workspace)
    assert {m.status for m in statuses.values()} == {"up to date"}
    assert all(m.members == 1 and m.trained for m in statuses.values())
    # inspect and train agree: train skips exactly the ensembles inspect calls up to date
    again = run("train", toy_workspace)
    assert again.exit_code == 0 and again.output.count("up to date") == 3

    # touching an ntuple changes nothing (the checksum is of the contents, as for nsbi train)
    ntuple = toy_workspace.parent / "ntuples" / "S.root"
    later = ntuple.stat().st_mtime + 10
    os.utime(ntuple, (later, later))
    assert {m.status for m in _statuses(toy_workspace).values()} == {"up to date"}

    # other events in S: its ratio and every ratio whose reference pools S are stale
    with uproot.open(ntuple) as root_file:
        branches = root_file["events"].arrays(library="np")
    write_ntuple(ntuple, {"events": {k: v[:-10] for k, v in branches.items()}})
    os.utime(ntuple, (later + 10, later + 10))
    statuses = _statuses(toy_workspace)
    for model in statuses.values():
        assert model.status == "stale", model
        (reason,) = model.reasons
        assert "training events changed" in reason and "ntuples/S.root" in reason
    result = run("inspect", toy_workspace)
    assert result.exit_code == 0, result.output
    assert "stale" in result.output and "S: its training events changed" in result.output

    # retrained, then other training settings in the workspace: stale, saying which
    assert run("train", toy_workspace, "--quiet").exit_code == 0
    assert {m.status for m in _statuses(toy_workspace).values()} == {"up to date"}
    spec = json.loads(toy_workspace.read_text())
    spec["channels"][0]["training"]["epochs"] = 2
    toy_workspace.write_text(json.dumps(spec))
    for model in _statuses(toy_workspace).values():
        assert model.status == "stale"
        assert model.reasons == ["training settings changed: epochs 1 -> 2"]


def test_combined_parameters_are_the_models(toy_workspace):
    """A binned channel sharing mu beside the unbinned one: the parameter table is the one
    the fit uses (nsbi.model.Model: pyhf's parameters first, then the unbinned-only ones)."""
    spec = json.loads(toy_workspace.read_text())
    spec["channels"][0]["samples"][0]["modifiers"] += [
        {"name": "alpha_u", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}},
        {"name": "lumi", "type": "lumi", "data": None},
    ]
    spec["channels"].append(
        {
            "name": "CR",
            "samples": [
                {
                    "name": "bkg",
                    "data": [50.0, 60.0],
                    "modifiers": [
                        {"name": "mu", "type": "normfactor", "data": None},
                        {"name": "alpha_b", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}},
                    ],
                }
            ],
        }
    )
    spec["observations"].append({"name": "CR", "data": [52, 61]})
    spec["measurements"][0]["config"]["parameters"] += [
        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.03], "bounds": [[0.8, 1.2]]},
        {"name": "alpha_u", "fixed": True, "inits": [0.5]},
    ]
    toy_workspace.write_text(json.dumps(spec))
    assert run("train", toy_workspace, "--quiet").exit_code == 0

    summary = summarise(toy_workspace)
    model = Model.from_workspace(Workspace.load(toy_workspace))
    space = model.parameters
    assert [n for p in summary.parameters for n in p.component_names] == space.names
    assert _flat(summary, "init") == pytest.approx(space.init)
    assert [tuple(b) for b in _flat(summary, "bounds")] == [tuple(b) for b in space.bounds]
    assert _flat(summary, "fixed") == space.fixed
    constrained = [p.constraint != "none" for p in summary.parameters]
    assert constrained == space.constrained
    widths = [p.width[0] if p.width else 0.0 for p in summary.parameters]
    np.testing.assert_allclose(widths, model.prefit_uncertainties)
    assert summary.parameter("mu").modifiers == ["coefficient", "normfactor"]
    assert summary.parameter("mu").channels == ["SR", "CR"]
    assert summary.parameter("lumi").auxdata == [1.0]


# -- bad input --------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    result = run("inspect", tmp_path / "nope.json")
    assert result.exit_code == 2
    assert "nope.json" in result.output and "file not found" in result.output


def test_invalid_json(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "channels": [\n    {"name": "SR",}\n  ]\n}\n')
    result = run("inspect", bad)
    assert result.exit_code == 2
    assert str(bad) in result.output and "JSON syntax error" in result.output
    assert "line 3, column 19" in result.output


def test_schema_error_names_file_and_json_path(write_spec):
    spec = multichannel_spec()
    spec["channels"][0]["samples"][0]["modifers"] = []
    path = write_spec(spec)
    result = run("inspect", path)
    assert result.exit_code == 2
    assert f"{path}: channels[0].samples[0].modifers: " in result.output


def test_unknown_measurement(write_spec):
    path = write_spec(multichannel_spec())
    result = run("inspect", path, "--measurement", "nope")
    assert result.exit_code == 2
    assert str(path) in result.output and "no measurement named 'nope'" in result.output


def test_unreadable_ntuple_is_reported_after_the_summary(toy_workspace):
    spec = json.loads(toy_workspace.read_text())
    spec["observations"][0]["source"]["selection"] = "no_such_branch > 0"
    toy_workspace.write_text(json.dumps(spec))
    result = run("inspect", toy_workspace)
    assert result.exit_code == 1
    assert "channel SR: unbinned" in result.output  # what could be read is shown
    assert "data.root" in result.output and "no_such_branch" in result.output
    assert summarise(toy_workspace).channel("SR").n_observed is None
