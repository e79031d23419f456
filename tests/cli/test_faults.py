"""Faults while writing: a writer killed with SIGKILL mid-save, a full disk, a read-only
folder, and killed `nsbi train` / `nsbi train-statistic` runs. Nothing is ever half-written,
the leftovers of killed writers are removed by the next write, and a rerun gives results
bit-identical to an uninterrupted run. (A killed and resumed belt: test_belt_command.py.)"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.io import atomic
from nsbi.io.atomic import atomic_directory, atomic_path, remove_leftovers, write_json
from nsbi.ratios import read_metadata
from nsbi.workspace.simplemodels import uncorrelated_background_spec

ROOT = Path(__file__).resolve().parents[2]

WRITER = """
import sys, time
from pathlib import Path
from nsbi.io.atomic import {context}
target = Path(sys.argv[1])
with {context}(target) as tmp:
    {write}
    Path(sys.argv[2]).write_text("writing")
    time.sleep(60)
"""


def _killed_writer(tmp_path, context: str, write: str, target: Path) -> Path:
    """Run a writer of ``target`` and SIGKILL it in the middle of its save."""
    ready = tmp_path / "ready"
    script = WRITER.format(context=context, write=write)
    process = subprocess.Popen([sys.executable, "-c", script, str(target), str(ready)], cwd=ROOT)
    deadline = time.monotonic() + 300
    while not ready.exists():
        assert process.poll() is None and time.monotonic() < deadline, "the writer did not start"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    return ready


def test_a_killed_file_write_leaves_the_old_file_and_its_leftover_is_removed(tmp_path):
    target = tmp_path / "result.json"
    write_json(target, {"old": True})
    _killed_writer(tmp_path, "atomic_path", 'tmp.write_text("{half")', target)
    assert json.loads(target.read_text()) == {"old": True}  # never half-written
    leftovers = [p for p in tmp_path.iterdir() if p.name.startswith(".result.json.tmp-")]
    assert len(leftovers) == 1
    write_json(target, {"new": True})
    assert json.loads(target.read_text()) == {"new": True}
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".result.json.")]


def test_a_killed_folder_write_leaves_the_old_folder_and_its_leftover_is_removed(tmp_path):
    target = tmp_path / "model"
    with atomic_directory(target) as folder:
        (folder / "weights").write_text("old")
    _killed_writer(tmp_path, "atomic_directory", '(tmp / "weights").write_text("half")', target)
    assert (target / "weights").read_text() == "old"
    assert len([p for p in tmp_path.iterdir() if p.name.startswith(".model.tmp-")]) == 1
    with atomic_directory(target) as folder:
        (folder / "weights").write_text("new")
    assert (target / "weights").read_text() == "new"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model.")]


def test_leftovers_of_live_writers_are_kept(tmp_path):
    target = tmp_path / "out.json"
    with atomic_path(target) as tmp:  # this process is alive and writing
        tmp.write_text("{}")
        assert remove_leftovers(target) == [] and tmp.exists()
    assert target.exists()


def test_a_full_disk_replaces_nothing_and_exits_1(tmp_path, monkeypatch):
    spec = tmp_path / "ws.json"
    spec.write_text(json.dumps(uncorrelated_background_spec([5.0], [50.0], [7.0], [52])))
    output = tmp_path / "fit.json"
    output.write_text('{"old": true}')

    def full(src, dst):
        raise OSError(errno.ENOSPC, "No space left on device", str(dst))

    monkeypatch.setattr(atomic.os, "replace", full)
    result = CliRunner().invoke(cli, ["fit", str(spec), "--output", str(output), "--quiet"])
    assert result.exit_code == 1 and "no space left" in result.output, result.output
    assert "Traceback" not in result.output
    assert json.loads(output.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_read_only_output_folder_is_a_clear_error(tmp_path, monkeypatch):
    spec = tmp_path / "ws.json"
    spec.write_text(json.dumps(uncorrelated_background_spec([5.0], [50.0], [7.0], [52])))

    def read_only(*args, **kwargs):  # as mkstemp fails in a read-only folder (even for root)
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "ro"))

    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only)
    result = CliRunner().invoke(
        cli, ["fit", str(spec), "--output", str(tmp_path / "ro" / "f.json")]
    )
    assert result.exit_code == 2 and "permission denied" in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "ro" / "f.json").exists()


@pytest.fixture(scope="module")
def small_workspace(tmp_path_factory):
    """An interference toy workspace whose training has five ensembles (S, SBI and, with two
    bootstrap replicas, each twice more), small enough to train in seconds."""
    from nsbi.simulators import InterferenceToy, write_toy_workspace

    directory = tmp_path_factory.mktemp("faults")
    training = {"members": 2, "hidden_layers": [16], "epochs": 10, "batch_size": 256,
                "patience": 10, "seed": 3}  # fmt: skip
    path = write_toy_workspace(InterferenceToy(), directory, events_per_sample=3000, seed=2,
                               training=training, reference=("B",))  # fmt: skip
    spec = json.loads(path.read_text())
    spec["channels"][0]["mc_stat"] = {"replicas": 2}
    path.write_text(json.dumps(spec))
    return path


def _copy_workspace(source: Path, target: Path) -> Path:
    target.mkdir()
    (target / "ntuples").symlink_to(source.parent / "ntuples")
    (target / source.name).write_text(source.read_text())
    return target / source.name


def _model_digests(workspace: Path) -> dict[str, str]:
    models = workspace.parent / "models"
    return {
        str(p.parent.relative_to(models)): read_metadata(p.parent)["weights_sha256"]
        for p in sorted(models.rglob("ensemble.json"))
    }


def _train(workspace: Path, **popen) -> subprocess.Popen:
    """``nsbi train`` in a fresh process (one thread: every run computes alike)."""
    return subprocess.Popen(
        [sys.executable, "-m", "nsbi", "train", str(workspace), *popen.pop("args", ["--quiet"])],
        cwd=ROOT, env={**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen,
    )  # fmt: skip


def test_a_killed_training_resumes_to_the_uninterrupted_result(small_workspace, tmp_path):
    straight = _copy_workspace(small_workspace, tmp_path / "straight")
    done = _train(straight)
    assert done.wait() == 0, done.stderr.read()
    expected = _model_digests(straight)
    assert len(expected) == 6  # S and SBI, each nominal and two replicas

    killed = _copy_workspace(small_workspace, tmp_path / "killed")
    process = _train(killed)
    first = killed.parent / "models" / "SR" / "S" / "ensemble.json"
    deadline = time.monotonic() + 600  # a loaded machine is slow
    while not first.exists():
        assert process.poll() is None and time.monotonic() < deadline, process.stderr.read()
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = _model_digests(killed)
    assert 1 <= len(partial) < 6 and all(expected[k] == v for k, v in partial.items())
    resumed = _train(killed, args=[])
    output, errors = resumed.communicate()
    assert resumed.returncode == 0, errors
    assert output.count("up to date") == len(partial), output
    assert _model_digests(killed) == expected  # bit-identical weights
    models = killed.parent / "models"
    assert not [p for p in models.rglob(".*") if ".tmp-" in p.name]  # no leftover


def test_a_killed_statistic_training_leaves_nothing_and_reruns_identically(tmp_path):
    args = ["train-statistic", "--simulator", "signal-background", "--steps", "100",
            "--batch", "16", "--validation", "20", "--seed", "5", "--quiet"]  # fmt: skip
    straight = tmp_path / "straight"
    done = CliRunner().invoke(cli, [*args, "--output", str(straight)])
    assert done.exit_code == 0, done.output
    killed = tmp_path / "killed"
    long = [*args[: args.index("--steps") + 1], "100000", *args[args.index("--steps") + 2 :]]
    process = subprocess.Popen([sys.executable, "-m", "nsbi", *long, "--output", str(killed)],
                               cwd=ROOT)  # fmt: skip
    time.sleep(4.0)  # inside training (the imports take about 2 s)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL  # killed while it ran
    assert not killed.exists()  # nothing half-written
    rerun = CliRunner().invoke(cli, [*args, "--output", str(killed)])
    assert rerun.exit_code == 0, rerun.output
    for name in ("network.safetensors",):
        assert (killed / name).read_bytes() == (straight / name).read_bytes()
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
