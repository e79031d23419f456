"""Hostile input through the command line, family by family: every case must exit with the
contract's code (2 bad input, 1 a failure while running), print no traceback, and name the
place (the file, the JSON path, the option or the expression) in its message.

Each case is ``(command arguments, mutation of the workspace, expected code, words that must
appear)``; a mutation takes the parsed JSON (or, for the literal cases, the text) and returns
what is written to ``ws.json``."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from click.testing import CliRunner

from nsbi.cli.main import cli
from tests.conftest import WORKSPACES, simple_spec

BINNED = json.loads((WORKSPACES / "binned_sr_cr.json").read_text())


def _run(tmp_path, args, text):
    path = tmp_path / "ws.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    command = [a.replace("WS", str(path)) for a in args]
    return CliRunner().invoke(cli, command), path


def _check(result, code, words, path):
    output = result.output
    assert "Traceback" not in output, output
    assert not isinstance(result.exception, Exception) or isinstance(
        result.exception, SystemExit
    ), repr(result.exception)
    assert result.exit_code == code, output
    for word in words:
        assert word.replace("WS", str(path)) in output, (word, output)


# -- 1. non-finite numbers, as JSON literals (NaN, Infinity, -Infinity, 1e400) ---------------

LITERALS = ["NaN", "Infinity", "-Infinity", "1e400"]
# (JSON path in the document, how to reach it in the binned workspace)
PLACES = {
    "observations[0].data[0]": lambda s: s["observations"][0]["data"],
    "channels[0].samples[0].data[0]": lambda s: s["channels"][0]["samples"][0]["data"],
    "channels[1].samples[0].data[1]": lambda s: s["channels"][1]["samples"][0]["data"],
}


def _with_literal(place, literal):
    spec = copy.deepcopy(BINNED)
    target = PLACES[place](spec)
    index = int(place.rsplit("[", 1)[1].rstrip("]"))
    target[index] = "__LITERAL__"
    return json.dumps(spec).replace('"__LITERAL__"', literal)


@pytest.mark.parametrize("command", ["validate", "fit"])
@pytest.mark.parametrize("literal", LITERALS)
@pytest.mark.parametrize("place", list(PLACES))
def test_non_finite_numbers_are_refused_with_their_path(tmp_path, command, literal, place):
    result, path = _run(tmp_path, [command, "WS"], _with_literal(place, literal))
    _check(result, 2, [str(path), place, "not a finite number"], path)


def _normsys_literal(key, literal):
    spec = copy.deepcopy(BINNED)
    for c, channel in enumerate(spec["channels"]):
        for s, sample in enumerate(channel["samples"]):
            for m, modifier in enumerate(sample["modifiers"]):
                if modifier["type"] == "normsys":
                    modifier["data"][key] = "__LITERAL__"
                    text = json.dumps(spec).replace('"__LITERAL__"', literal)
                    return text, f"channels[{c}].samples[{s}].modifiers[{m}].data.{key}"
    raise AssertionError("no normsys in the workspace")


@pytest.mark.parametrize("literal", LITERALS)
@pytest.mark.parametrize("key", ["hi", "lo"])
def test_non_finite_normsys_factors_are_refused(tmp_path, literal, key):
    text, where = _normsys_literal(key, literal)
    result, path = _run(tmp_path, ["validate", "WS"], text)
    _check(result, 2, [where, "not a finite number"], path)


@pytest.mark.parametrize("literal", LITERALS)
def test_non_finite_measurement_inits_are_refused(tmp_path, literal):
    spec = copy.deepcopy(BINNED)
    spec["measurements"][0]["config"]["parameters"].append({"name": "mu", "inits": ["__L__"]})
    text = json.dumps(spec).replace('"__L__"', literal)
    result, path = _run(tmp_path, ["fit", "WS"], text)
    _check(result, 2, ["measurements[0].config.parameters", "not a finite number"], path)


# -- 2. files that are not workspaces ---------------------------------------------------------

FILES = {
    "not UTF-8": (b"\xff\xfe{}", ["not UTF-8"]),
    "truncated JSON": (json.dumps(BINNED)[:200], ["JSON syntax error", "line"]),
    "empty file": ("", ["JSON syntax error"]),
    "a list": ("[1, 2, 3]", ["WS"]),
    "a pickle": (b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.", ["WS"]),
    "deep nesting": ("[" * 100_000 + "]" * 100_000, ["nests too deeply"]),
    "no channels": (json.dumps({"version": "1.0.0"}), ["WS", "channels"]),
}


@pytest.mark.parametrize("command", ["validate", "fit", "inspect"])
@pytest.mark.parametrize("case", list(FILES))
def test_files_that_are_not_workspaces(tmp_path, command, case):
    text, words = FILES[case]
    result, path = _run(tmp_path, [command, "WS"], text)
    _check(result, 2, words, path)


@pytest.mark.parametrize("command", ["validate", "fit", "cls", "limit", "significance"])
def test_a_missing_workspace(tmp_path, command):
    result = CliRunner().invoke(cli, [command, str(tmp_path / "nope.json")])
    _check(result, 2, ["nope.json", "not found"], tmp_path)


def test_a_folder_as_workspace(tmp_path):
    result = CliRunner().invoke(cli, ["fit", str(tmp_path)])
    _check(result, 2, [str(tmp_path)], tmp_path)


# -- 3. options -------------------------------------------------------------------------------

OPTIONS = [
    (["fit", "WS", "--scan", "mu", "--range", "1", "1"], ["--range", "LO < HI"]),
    (["fit", "WS", "--scan", "mu", "--range", "2", "1"], ["--range", "LO < HI"]),
    (["fit", "WS", "--scan", "mu", "--range", "nan", "2"], ["--range", "not a finite number"]),
    (["fit", "WS", "--scan", "mu", "--range", "0", "inf"], ["--range", "not a finite number"]),
    (["fit", "WS", "--scan", "mu", "--range", "a", "b"], ["--range", "not a number"]),
    (["fit", "WS", "--asimov-poi", "nan"], ["--asimov-poi", "not a finite number"]),
    (["fit", "WS", "--asimov-poi", "inf"], ["--asimov-poi", "not a finite number"]),
    (["fit", "WS", "--fix", "mu=nan"], ["--fix", "finite"]),
    (["fit", "WS", "--fix", "mu=inf"], ["--fix", "finite"]),
    (["fit", "WS", "--fix", "mu"], ["--fix", "NAME=VALUE"]),
    (["fit", "WS", "--fix", "=1"], ["--fix", "NAME=VALUE"]),
    (["fit", "WS", "--points", "1", "--scan", "mu"], ["--points"]),
    (["fit", "WS", "--tolerance", "0"], ["--tolerance"]),
    (["fit", "WS", "--tolerance", "-1"], ["--tolerance"]),
    (["fit", "WS", "--interpolation", "normsys=code9"], ["code9"]),
    (["fit", "WS", "--interpolation", "normsys"], ["--interpolation"]),
    (["fit", "WS", "--mc-stat", "sometimes"], ["--mc-stat"]),
    (["fit", "WS", "--mc-stat", "report"], ["--mc-stat", "replicas"]),
    (["cls", "WS", "--poi-value", "nan"], ["--poi-value", "not a finite number"]),
    (["cls", "WS", "--poi-value", "inf"], ["--poi-value", "not a finite number"]),
    (["cls", "WS", "--test-stat", "q7"], ["--test-stat"]),
    (["cls", "WS", "--toys", "0", "--calculator", "toys"], ["--toys"]),
    (["limit", "WS", "--range", "2", "1"], ["--range", "LO < HI"]),
    (["limit", "WS", "--range", "nan", "1"], ["--range", "not a finite number"]),
    (["limit", "WS", "--cl", "1.5"], ["--cl"]),
    (["limit", "WS", "--cl", "0"], ["--cl"]),
    (["significance", "WS", "--calculator", "guess"], ["--calculator"]),
    (["belt", "WS", "--poi-grid", "0:inf:5"], ["--poi-grid", "finite"]),
    (["belt", "WS", "--poi-grid", "nan:1:5"], ["--poi-grid", "finite"]),
    (["belt", "WS", "--poi-grid", "3:1:5"], ["--poi-grid", "LO < HI"]),
    (["belt", "WS", "--poi-grid", "0:1:1"], ["--poi-grid", "N >= 2"]),
    (["belt", "WS", "--poi-grid", "0:1"], ["--poi-grid"]),
    (["belt", "WS", "--poi-grid", "a:b:c"], ["--poi-grid"]),
    (["belt", "WS", "--poi-grid", "0:1:3", "--toys", "0"], ["--toys"]),
    (["belt", "WS", "--poi-grid", "0:1:3", "--cl", "2"], ["--cl"]),
    (["train", "WS", "--members", "0"], ["--members"]),
    (["train", "WS", "--device", "tpu"], ["--device"]),
    (["diagnose", "WS", "--only", "NOSUCH"], ["--only", "NOSUCH"]),
    (["train", "WS", "--only", "NOSUCH"], ["--only", "NOSUCH"]),
]


@pytest.mark.parametrize(("args", "words"), OPTIONS, ids=[" ".join(a[::1][2:]) for a, _ in OPTIONS])
def test_bad_options_exit_2_naming_the_option(tmp_path, args, words):
    result, path = _run(tmp_path, args, json.dumps(BINNED))
    _check(result, 2, words, path)


PARAMETERS = [
    (["fit", "WS", "--fix", "nosuch=1"], ["nosuch", "unknown parameter"]),
    (["fit", "WS", "--scan", "nosuch"], ["nosuch", "unknown parameter"]),
    (["fit", "WS", "--minos-parameter", "nosuch"], ["nosuch"]),
    (["fit", "WS", "--measurement", "nosuch"], ["nosuch"]),
    (["fit", "WS", "--fix", "mu=100"], ["mu", "bounds"]),
    (["fit", "WS", "--scan", "mu", "--range", "-50", "1"], ["mu", "bounds"]),
]


@pytest.mark.parametrize(
    ("args", "words"), PARAMETERS, ids=[" ".join(a[2:]) for a, _ in PARAMETERS]
)
def test_options_naming_what_the_workspace_does_not_have(tmp_path, args, words):
    result, path = _run(tmp_path, args, json.dumps(BINNED))
    _check(result, 2, words, path)


# -- 4. unbinned channels: expressions, names, files -----------------------------------------


@pytest.fixture(scope="module")
def unbinned(tmp_path_factory):
    """A small mu S + B unbinned workspace with its ntuples (no training needed to validate)."""
    from nsbi.simulators import InterferenceToy, write_toy_workspace

    directory = tmp_path_factory.mktemp("hostile")
    toy = InterferenceToy(d=2, nu_signal=10.0, nu_background=100.0, interference=0.0)
    path = write_toy_workspace(toy, directory, events_per_sample=300, seed=1,
                               samples=("S", "B"), reference=("B",))  # fmt: skip
    return path


COEFFICIENTS = {
    "mu + 1/0": "is inf",
    "mu * sqrt(-1)": "is nan",
    "mu + exp(1000)": "is inf",
    "log(mu) + mu": "is -inf at mu = 0",
    "sqrt(mu - 5) - sqrt(mu)": "is nan at mu = 0",
    "1 / (mu - 2)": "at mu = 2",
    "+".join(["mu"] * 150): "at most 100",
    "(" * 600 + "mu" + ")" * 600: "nests too deeply",
    "exec(mu)": "unknown function",
    "mu.real": "character",
    "__import__('os')": "character",
    "": "coefficient",
}


@pytest.mark.parametrize("command", ["validate", "fit"])
@pytest.mark.parametrize("coefficient", list(COEFFICIENTS), ids=lambda c: c[:24] or "empty")
def test_bad_coefficients_are_refused_by_validate_and_fit(unbinned, tmp_path, command, coefficient):
    spec = json.loads(unbinned.read_text())
    spec["channels"][0]["samples"][0]["coefficient"] = coefficient
    target = unbinned.parent / "bad_coefficient.json"
    target.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, [command, str(target)])
    _check(result, 2, ["channels[0].samples[0].coefficient", COEFFICIENTS[coefficient]], tmp_path)


def test_a_modifier_named_like_a_coefficient_parameter(unbinned):
    spec = json.loads(unbinned.read_text())
    spec["channels"][0]["samples"][1]["modifiers"].append(
        {"name": "mu", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}
    )
    target = unbinned.parent / "mu_normsys.json"
    target.write_text(json.dumps(spec))
    for command in ("validate", "fit"):
        result = CliRunner().invoke(cli, [command, str(target)])
        _check(result, 2, ["channels[0].samples[1].modifiers[0].name", "'mu'"], target)


SOURCES = {
    "missing file": ({"file": "ntuples/nope.root"}, ["nope.root"]),
    "missing tree": ({"tree": "nope"}, ["nope"]),
    "bad selection": ({"selection": "x1 >"}, ["x1 >"]),
    "selection of an unknown branch": ({"selection": "nope > 0"}, ["nope"]),
    "bad weight": ({"weight": "weight *"}, ["weight *"]),
    "attribute in a weight": ({"weight": "weight.__class__"}, ["__class__"]),
    "huge selection": ({"selection": " & ".join(["(x1 > 0)"] * 2000)}, ["at most"]),
}


@pytest.mark.parametrize("case", list(SOURCES))
def test_bad_sources_are_refused_with_the_place(unbinned, case):
    override, words = SOURCES[case]
    spec = json.loads(unbinned.read_text())
    spec["channels"][0]["samples"][1]["source"].update(override)
    target = unbinned.parent / f"source_{case.replace(' ', '_')}.json"
    target.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["fit", str(target)])
    assert "Traceback" not in result.output, result.output
    assert result.exit_code in (1, 2), result.output
    for word in words:
        assert word in result.output, (word, result.output)


def test_a_truncated_root_file_is_an_error_not_a_traceback(unbinned):
    data = unbinned.parent / "ntuples" / "B.root"
    broken = unbinned.parent / "ntuples" / "B_truncated.root"
    broken.write_bytes(data.read_bytes()[: len(data.read_bytes()) // 3])
    spec = json.loads(unbinned.read_text())
    spec["channels"][0]["samples"][1]["source"]["file"] = "ntuples/B_truncated.root"
    target = unbinned.parent / "truncated.json"
    target.write_text(json.dumps(spec))
    result = CliRunner().invoke(cli, ["fit", str(target)])
    assert "Traceback" not in result.output and result.exit_code in (1, 2), result.output
    assert "B_truncated.root" in result.output


@pytest.mark.parametrize(
    "content",
    [b"", b"not safetensors at all", b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01."],
    ids=["empty", "garbage", "pickle"],
)
def test_damaged_ratio_models_are_errors_not_tracebacks(unbinned, content):
    """The S ensemble's weights replaced by something else: fit refuses it, nothing runs."""
    models = unbinned.parent / "models" / "SR" / "S"
    models.mkdir(parents=True, exist_ok=True)
    (models / "ensemble.json").write_text(json.dumps({"format_version": 1}))
    (models / "weights.safetensors").write_bytes(content)
    result = CliRunner().invoke(cli, ["fit", str(unbinned)])
    assert "Traceback" not in result.output and result.exit_code in (1, 2), result.output
    assert "models/SR/S" in result.output or "SR/S" in result.output


def test_an_output_folder_that_does_not_exist_is_reported(tmp_path):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(simple_spec()))
    result = CliRunner().invoke(
        cli, ["fit", str(path), "--output", str(tmp_path / "no" / "such" / "dir" / "fit.json")]
    )
    assert "Traceback" not in result.output and result.exit_code in (0, 1, 2), result.output
    if result.exit_code:
        assert "fit.json" in result.output or "no/such" in result.output


def test_unexpected_errors_are_one_line_and_debug_shows_the_traceback(tmp_path, monkeypatch):
    """An internal error (here injected) is one line naming --debug; with --debug it raises."""
    import nsbi.infer.fit_report as fit_report

    def broken(*args, **kwargs):
        raise np.linalg.LinAlgError("injected")

    monkeypatch.setattr(fit_report, "fit_with_mc_stat", broken)
    monkeypatch.delenv("NSBI_DEBUG", raising=False)
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(simple_spec()))
    result = CliRunner().invoke(cli, ["fit", str(path)])
    _check(result, 1, ["internal error", "LinAlgError", "--debug"], path)
    debug = CliRunner().invoke(cli, ["--debug", "fit", str(path)])
    assert isinstance(debug.exception, np.linalg.LinAlgError)
    monkeypatch.setenv("NSBI_DEBUG", "1")
    debug = CliRunner().invoke(cli, ["fit", str(path)])
    assert isinstance(debug.exception, np.linalg.LinAlgError)


# -- 5. outputs -------------------------------------------------------------------------------


def test_output_onto_a_special_file_or_a_link_is_refused(tmp_path):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(simple_spec()))
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    for output, what in (("/dev/null", "special file"), (str(link), "symbolic link")):
        result = CliRunner().invoke(cli, ["fit", str(path), "--quiet", "--output", output])
        _check(result, 2, [output, what], path)
    assert target.read_text() == "{}"  # the link's target is untouched


def test_outputs_follow_the_umask(tmp_path):
    import os
    import stat

    path = tmp_path / "ws.json"
    path.write_text(json.dumps(simple_spec()))
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        old = os.umask(mask)
        try:
            out = tmp_path / f"fit_{mask:o}.json"
            result = CliRunner().invoke(cli, ["fit", str(path), "--quiet", "--output", str(out)])
        finally:
            os.umask(old)
        assert result.exit_code == 0, result.output
        assert stat.S_IMODE(out.stat().st_mode) == mode


def test_a_damaged_or_tampered_model_is_named(tmp_path):
    from nsbi.ratios import RatioClassifier, RatioEnsemble, RatioModelError, load_ensemble
    from nsbi.ratios.serialization import save_ensemble

    saved = save_ensemble(RatioEnsemble([RatioClassifier(2, (4,))], ["a", "b"]), tmp_path / "S")
    weights = saved / "members.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # one flipped bit pattern in the last byte
    weights.write_bytes(bytes(data))
    with pytest.raises(RatioModelError, match="SHA-256"):
        load_ensemble(saved)
    metadata = json.loads((saved / "ensemble.json").read_text())
    del metadata["architecture"], metadata["weights_sha256"]
    (saved / "ensemble.json").write_text(json.dumps(metadata))
    with pytest.raises(RatioModelError, match="malformed metadata"):
        load_ensemble(saved)


def test_an_interrupted_model_save_names_the_intact_copy(tmp_path):
    from nsbi.ratios import RatioClassifier, RatioEnsemble, RatioModelError, load_ensemble
    from nsbi.ratios.serialization import save_ensemble

    saved = save_ensemble(RatioEnsemble([RatioClassifier(2, (4,))], ["a", "b"]), tmp_path / "S")
    saved.rename(tmp_path / ".S.old")  # a kill between the two renames of the next save
    with pytest.raises(RatioModelError, match=r"intact earlier copy is at .*\.S\.old"):
        load_ensemble(tmp_path / "S")


def test_a_tampered_belt_checkpoint_is_refused(tmp_path):
    from nsbi.infer.distributed import run_belt

    path = tmp_path / "ws.json"
    path.write_text(json.dumps(simple_spec()))
    checkpoints = tmp_path / "c"
    run_belt(path, [0.5, 1.0], 40, checkpoints=checkpoints, chunk_size=20)
    chunk = checkpoints / "g0_c0.npz"
    with np.load(chunk, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["t"] = arrays["t"] + 1.0  # well-formed, other numbers
    with open(chunk, "wb") as handle:
        np.savez(handle, **arrays)
    result = CliRunner().invoke(
        cli, ["belt", str(path), "--poi-grid", "0.5:1:2", "--toys", "40", "--chunk-size", "20",
              "--scheduler", "serial", "--checkpoints", str(checkpoints), "--resume"],
    )  # fmt: skip
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    assert "g0_c0.npz" in result.output and "checksum" in result.output
