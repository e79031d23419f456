"""`nsbi validate` and `nsbi fit` on malformed workspaces: exit 2 and a line naming the place."""

from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from nsbi.cli.main import cli
from tests.conftest import WORKSPACES, multichannel_spec


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _set(spec, path, value):
    target = spec
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return spec


def _unknown_key(spec):
    spec["channels"][0]["samples"][0]["modifers"] = []
    return spec


def _wrong_type(spec):
    return _set(spec, ["channels", 0, "samples", 1, "data"], "42.0")


def _missing_sample_data(spec):
    del spec["channels"][1]["samples"][1]["data"]
    return spec


def _unknown_modifier_type(spec):
    return _set(spec, ["channels", 0, "samples", 0, "modifiers", 2, "type"], "normsis")


def _duplicate_channel(spec):
    spec["channels"][1]["name"] = "SR"
    return spec


def _duplicate_sample(spec):
    spec["channels"][0]["samples"][2]["name"] = "ttbar"
    return spec


def _undefined_poi(spec):
    return _set(spec, ["measurements", 0, "config", "poi"], "mu_sig")


def _mismatched_bins(spec):
    return _set(spec, ["channels", 0, "samples", 1, "data"], [42.0, 35.0, 24.0])


def _mismatched_histosys(spec):
    return _set(spec, ["channels", 1, "samples", 0, "modifiers", 2, "data", "hi_data"], [1.0])


def _negative_observed(spec):
    return _set(spec, ["observations", 1, "data", 2], -3)


def _negative_normsys(spec):
    return _set(spec, ["channels", 1, "samples", 1, "modifiers", 0, "data", "lo"], -0.2)


def _negative_staterror(spec):
    return _set(spec, ["channels", 0, "samples", 1, "modifiers", 4, "data", 1], -1.9)


def _missing_observation(spec):
    del spec["observations"][1]
    return spec


def _bad_bounds(spec):
    return _set(spec, ["measurements", 0, "config", "parameters", 0, "bounds"], [[5.0, -3.0]])


def _init_outside_bounds(spec):
    return _set(spec, ["measurements", 0, "config", "parameters", 1, "inits"], [7.0])


def _wrong_version(spec):
    spec["version"] = "2.0.0"
    return spec


def _incompatible_sharing(spec):
    # a normsys named like the free normfactor mu_ttbar
    return _set(spec, ["channels", 1, "samples", 1, "modifiers", 0, "name"], "mu_ttbar")


def _missing_lumi_config(spec):
    spec["measurements"][0]["config"]["parameters"].pop(2)
    return spec


CASES = {
    "unknown key": (_unknown_key, "channels[0].samples[0].modifers", "unknown key"),
    "wrong type": (_wrong_type, "channels[0].samples[1].data", "wrong type"),
    "missing sample data": (_missing_sample_data, "channels[1].samples[1]", "'data' is missing"),
    "unknown modifier type": (
        _unknown_modifier_type,
        "channels[0].samples[0].modifiers[2].type",
        "unknown modifier type 'normsis'",
    ),
    "duplicate channel": (_duplicate_channel, "channels[1].name", "duplicate channel name 'SR'"),
    "duplicate sample": (_duplicate_sample, "channels[0].samples[2].name", "duplicate sample"),
    "undefined POI": (_undefined_poi, "measurements[0].config.poi", "'mu_sig' is not a parameter"),
    "mismatched bin counts": (_mismatched_bins, "channels[0].samples[1].data", "3 bins"),
    "mismatched histosys bins": (
        _mismatched_histosys,
        "channels[1].samples[0].modifiers[2].data.hi_data",
        "expected 3",
    ),
    "negative observed count": (_negative_observed, "observations[1].data[2]", "must be >= 0"),
    "negative normsys factor": (
        _negative_normsys,
        "channels[1].samples[1].modifiers[0].data.lo",
        "must be > 0",
    ),
    "negative staterror": (
        _negative_staterror,
        "channels[0].samples[1].modifiers[4].data[1]",
        "negative uncertainty",
    ),
    "missing observation": (_missing_observation, "channels[1].name", "no entry in 'observations'"),
    "bounds reversed": (
        _bad_bounds,
        "measurements[0].config.parameters[0].bounds[0]",
        "low < high",
    ),
    "init outside bounds": (
        _init_outside_bounds,
        "measurements[0].config.parameters[1].inits[0]",
        "outside bounds",
    ),
    "wrong version": (_wrong_version, "version", "'2.0.0'; expected '1.0.0'"),
    "incompatible parameter sharing": (
        _incompatible_sharing,
        "channels[1].samples[1].modifiers[0].type",
        "cannot share",
    ),
    "lumi without its configuration": (
        _missing_lumi_config,
        "measurements[0].config.parameters",
        "configure parameter 'lumi'",
    ),
}


def test_shipped_workspace_is_valid():
    result = run("validate", WORKSPACES / "binned_sr_cr.json")
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "valid"


@pytest.mark.parametrize("case", sorted(CASES))
def test_malformed_workspace_exits_2_naming_the_place(case, write_spec):
    mutate, path, message = CASES[case]
    spec_file = write_spec(mutate(copy.deepcopy(multichannel_spec())))
    result = run("validate", spec_file)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    hits = [line for line in lines if f": {path}: " in line and message in line]
    assert hits, f"no line names {path!r} with {message!r}:\n{result.output}"
    assert all(line.startswith(str(spec_file)) for line in lines)
    # the same workspace given to fit fails the same way, before any fitting
    fitted = run("fit", spec_file)
    assert fitted.exit_code == 2
    assert path in fitted.output


def test_json_syntax_error_reports_line_and_column(write_spec, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "channels": [\n    {"name": "SR",}\n  ]\n}\n')
    result = run("validate", bad)
    assert result.exit_code == 2
    assert "line 3, column 19" in result.output and "JSON syntax error" in result.output


def test_missing_workspace_file(tmp_path):
    result = run("validate", tmp_path / "nope.json")
    assert result.exit_code == 2
    assert "file not found" in result.output and "nope.json" in result.output


def test_every_problem_is_reported_not_only_the_first(write_spec):
    spec = _duplicate_sample(_negative_observed(_mismatched_bins(multichannel_spec())))
    result = run("validate", write_spec(spec))
    assert result.exit_code == 2
    assert len([line for line in result.output.splitlines() if line.strip()]) >= 3


def test_unused_measurement_parameter_is_a_warning_not_an_error(write_spec):
    spec = multichannel_spec()
    spec["measurements"][0]["config"]["parameters"].append({"name": "nonexistent", "fixed": True})
    result = run("validate", write_spec(spec))
    assert result.exit_code == 0
    assert "valid" in result.stdout
    assert "measurements[0].config.parameters[3].name" in result.stderr


def test_json_in_output_names_fix_errors(write_spec):
    result = run("fit", write_spec(multichannel_spec()), "--fix", "lumi")
    assert result.exit_code == 2 and "NAME=VALUE" in result.output
    result = run("fit", write_spec(multichannel_spec()), "--fix", "lumen=1")
    assert result.exit_code == 2 and "unknown parameter 'lumen'" in result.output  # bad input
    assert "lumi" in result.output
    json.dumps(result.output)
