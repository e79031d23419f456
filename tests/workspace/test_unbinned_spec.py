"""The unbinned extension of the schema: a complete workspace validates, typos do not."""

from __future__ import annotations

import copy
import json

import pyhf
import pytest

from nsbi.exceptions import InvalidWorkspace
from nsbi.workspace import Workspace, load_schema, validate
from tests.conftest import multichannel_spec, simple_spec


def offshell_spec() -> dict:
    """Binned CR plus an unbinned SR with interference coefficients and every modifier kind."""
    return {
        "channels": [
            {
                "name": "CR",
                "samples": [
                    {
                        "name": "qqZZ",
                        "data": [210.0, 150.0],
                        "modifiers": [
                            {"name": "lumi", "type": "lumi", "data": None},
                            {"name": "qqZZ_norm", "type": "normfactor", "data": None},
                        ],
                    }
                ],
            },
            {
                "name": "SR",
                "type": "unbinned",
                "observables": [
                    "m4l",
                    {"name": "lead_pt", "expression": "lep_pt[:, 0]", "bounds": [0, 500]},
                ],
                "reference": {"samples": ["S", "B"]},
                "training": {"members": 5, "hidden_layers": [64, 64], "epochs": 50, "seed": 1},
                "samples": [
                    {
                        "name": "S",
                        "source": {
                            "file": "S.root",
                            "tree": "nominal",
                            "weight": "weight",
                            "selection": "m4l > 220",
                        },
                        "coefficient": "mu - sqrt(mu)",
                        "ratio": "models/SR/S",
                        "modifiers": [
                            {"name": "lumi", "type": "lumi", "data": None},
                            {
                                "name": "qcd_scale",
                                "type": "normsys",
                                "data": {"hi": 1.05, "lo": 0.95},
                            },
                        ],
                    },
                    {
                        "name": "SBI",
                        "source": {"file": "SBI.root", "tree": "nominal"},
                        "coefficient": "sqrt(mu)",
                        "scale": 0.5,
                        "modifiers": [
                            {
                                "name": "jes",
                                "type": "shape",
                                "data": {"hi": {"tree": "jes_up"}, "lo": {"tree": "jes_down"}},
                            }
                        ],
                    },
                    {
                        "name": "B",
                        "source": {"file": "B.root", "tree": "nominal"},
                        "coefficient": "1 - sqrt(mu)",
                        "yield": 812.5,
                        "modifiers": [
                            {
                                "name": "pdf",
                                "type": "shape",
                                "data": {
                                    "hi": {"weight": "w_pdf_up"},
                                    "lo": {"weight": "w_pdf_down"},
                                },
                            },
                            {"name": "qqZZ_norm", "type": "normfactor", "data": None},
                        ],
                    },
                ],
            },
        ],
        "observations": [
            {"name": "CR", "data": [221, 149]},
            {"name": "SR", "source": {"file": "data.root", "tree": "nominal"}},
        ],
        "measurements": [
            {
                "name": "offshell",
                "config": {
                    "poi": "mu",
                    "parameters": [
                        {"name": "mu", "inits": [1.0], "bounds": [[0.0, 20.0]]},
                        {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017]},
                    ],
                    "interpolation": {"normsys": "code4", "shape": "code4"},
                },
            }
        ],
        "version": "1.0.0",
    }


@pytest.fixture
def files(tmp_path):
    for name in ("S.root", "SBI.root", "B.root", "data.root"):
        (tmp_path / name).write_bytes(b"")
    return tmp_path


def test_schema_is_shipped_as_package_data():
    schema = load_schema()
    assert schema["$id"].endswith("/1.0.0/workspace.json")


@pytest.mark.parametrize("spec", [simple_spec(), multichannel_spec()])
def test_pyhf_workspaces_are_valid_unchanged(spec):
    pyhf.Workspace(spec)  # pyhf agrees it is a pyhf workspace
    assert validate(spec) == ([], [])


def test_complete_unbinned_workspace_is_valid(files):
    assert validate(offshell_spec(), base_dir=files) == ([], [])


def _problems(spec, base_dir):
    return [str(p) for p in validate(spec, base_dir=base_dir)[0]]


CASES = [
    (
        lambda s: s["channels"][1]["samples"][0].update(coeficient="mu"),
        "channels[1].samples[0].coeficient: unknown key",
    ),
    (
        lambda s: s["channels"][1]["samples"][0].update(coefficient="mu - sqr(mu)"),
        "channels[1].samples[0].coefficient: 'mu - sqr(mu)' at character 5: unknown function 'sqr'",
    ),
    (
        lambda s: s["channels"][1]["samples"][2].update(scale=2.0),
        "channels[1].samples[2]: 'yield' and 'scale' exclude each other",
    ),
    (
        lambda s: s["channels"][1]["reference"].update(samples=["S", "Bkg"]),
        "channels[1].reference.samples[1]: 'Bkg' is not a sample of this channel",
    ),
    (
        lambda s: s["channels"][1]["samples"][1]["source"].update(file="missing.root"),
        "channels[1].samples[1].source.file: file not found",
    ),
    (
        lambda s: s["channels"][1]["samples"][1]["modifiers"][0]["data"]["hi"].update(
            file="x.root"
        ),
        "channels[1].samples[1].modifiers[0].data.hi.file: file not found",
    ),
    (
        lambda s: s["channels"][1]["samples"][0]["modifiers"][1].update(type="histosys"),
        "channels[1].samples[0].modifiers[1].type: 'histosys'; expected one of: normfactor, normsys",
    ),
    (
        lambda s: s["channels"][1]["training"].update(epoch=3),
        "channels[1].training.epoch: unknown key",
    ),
    (
        lambda s: s["channels"][1].update(observables=["m4l", "m4l"]),
        "channels[1].observables[1]: duplicate observable 'm4l'",
    ),
    (
        lambda s: s["observations"][1].update(source={"file": "data.root"}),
        "observations[1].source: 'tree' is missing",
    ),
    (
        lambda s: s["observations"].__setitem__(1, {"name": "SR", "data": [3.0]}),
        "observations[1]: unbinned channel 'SR' needs an ntuple 'source'",
    ),
    (
        lambda s: s["measurements"][0]["config"]["interpolation"].update(shape="code9"),
        "measurements[0].config.interpolation.shape: 'code9'; expected one of",
    ),
    (
        lambda s: s["channels"][1]["samples"][1]["source"].update(entry_start=10, entry_stop=5),
        "channels[1].samples[1].source.entry_stop: entry_stop 5 must be greater than entry_start 10",
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), CASES)
def test_unbinned_mistakes_are_named(mutate, expected, files):
    spec = copy.deepcopy(offshell_spec())
    mutate(spec)
    problems = _problems(spec, files)
    assert any(p.startswith(expected) for p in problems), problems


def test_coefficient_symbols_are_free_parameters_and_can_be_the_poi(files):
    spec = offshell_spec()
    spec["channels"][1]["samples"][0]["coefficient"] = "kappa**2"
    spec["measurements"][0]["config"]["poi"] = "kappa"
    assert validate(spec, base_dir=files)[0] == []


def test_workspace_file_round_trip_and_binned_view(files):
    path = files / "ws.json"
    path.write_text(json.dumps(offshell_spec()))
    ws = Workspace.load(path)
    assert [c["name"] for c in ws.unbinned_channels()] == ["SR"]
    binned = ws.binned_spec()
    pyhf.Workspace(binned)  # the binned view is a valid pyhf workspace on its own
    assert "interpolation" not in binned["measurements"][0]["config"]
    assert [p["name"] for p in binned["measurements"][0]["config"]["parameters"]] == ["lumi"]


def test_invalid_workspace_exception_lists_problems():
    spec = multichannel_spec()
    spec["channels"][0]["name"] = "CR_ttbar"
    with pytest.raises(InvalidWorkspace) as info:
        Workspace(spec)
    assert info.value.problems[0].path == "channels[1].name"
