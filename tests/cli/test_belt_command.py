"""`nsbi belt` end to end: the documented JSON, checkpoints, a real kill and resume, Dask."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from nsbi.cli.main import cli
from tests.conftest import simple_spec

KEYS = {
    "poi",
    "grid",
    "cl",
    "critical_values",
    "critical_value_errors",
    "observed",
    "toys_per_point",
}


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def belt_args(workspace: Path, output: Path, toys: int = 300, chunk: int = 100) -> list:
    return [
        "belt",
        workspace,
        "--poi-grid",
        "0:3:4",
        "--toys",
        toys,
        "--chunk-size",
        chunk,
        "--seed",
        7,
        "--output",
        output,
        "--quiet",
    ]


def chunk_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("g*_c*.npz")) if folder.exists() else []


def test_output_shape_checkpoints_and_plots(write_spec, tmp_path):
    workspace = write_spec(simple_spec())
    out = tmp_path / "belt.json"
    result = run(*belt_args(workspace, out), "--scheduler", "serial", "--plot", tmp_path / "fig")
    assert result.exit_code == 0, result.output + result.stderr
    document = json.loads(out.read_text())
    assert KEYS <= set(document)
    assert document["poi"] == "mu" and document["grid"] == [0.0, 1.0, 2.0, 3.0]
    assert document["cl"] == [0.6827, 0.9545] and document["toys_per_point"] == 300
    for cl in ("0.6827", "0.9545"):
        assert len(document["critical_values"][cl]) == 4
        assert len(document["observed"]["interval"][cl]) == 2
    # the larger CL has the larger critical values
    assert np.all(
        np.array(document["critical_values"]["0.9545"])
        >= np.array(document["critical_values"]["0.6827"])
    )
    # 4 grid points x 3 chunks, and the manifest, in OUTPUT.checkpoints
    folder = tmp_path / "belt.checkpoints"
    assert len(chunk_files(folder)) == 12 and (folder / "manifest.json").exists()
    assert {p.name for p in (tmp_path / "fig").iterdir()} == {
        "belt.png",
        "belt.pdf",
        "belt_toys.png",
        "belt_toys.pdf",
    }


def test_killed_run_resumes_to_the_uninterrupted_result(write_spec, tmp_path):
    """SIGKILL a real `nsbi belt` process after a few checkpoints; `--resume` computes only the
    missing chunks and gives exactly the belt of a run that was never interrupted."""
    workspace = write_spec(simple_spec())
    killed = tmp_path / "killed.json"
    args = belt_args(workspace, killed, toys=3000, chunk=100)  # 4 x 30 chunks
    process = subprocess.Popen(
        [sys.executable, "-m", "nsbi.cli.main", *map(str, args), "--scheduler", "serial"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    folder = tmp_path / "killed.checkpoints"
    deadline = time.monotonic() + 300
    while len(chunk_files(folder)) < 3 and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint within 300 s"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, process.stderr.read().decode()
    before = {p.name: p.stat().st_mtime_ns for p in chunk_files(folder)}
    assert 3 <= len(before) < 120 and not killed.exists()

    # without --resume the folder is refused, with the fix in the message
    refused = run(*args, "--scheduler", "serial")
    assert refused.exit_code == 1 and "--resume" in refused.stderr
    resumed = run(*args, "--scheduler", "serial", "--resume")
    assert resumed.exit_code == 0, resumed.output + resumed.stderr
    after = {p.name: p.stat().st_mtime_ns for p in chunk_files(folder)}
    assert len(after) == 120
    assert all(after[name] == stamp for name, stamp in before.items())  # nothing redone

    straight = tmp_path / "straight.json"
    clean = run(*belt_args(workspace, straight, toys=3000, chunk=100), "--scheduler", "serial")
    assert clean.exit_code == 0, clean.output + clean.stderr
    assert json.loads(killed.read_text()) == json.loads(straight.read_text())
    for name in after:
        a = np.load(folder / name)["t"]
        b = np.load(tmp_path / "straight.checkpoints" / name)["t"]
        np.testing.assert_array_equal(a, b)


def test_resume_with_other_settings_is_refused(write_spec, tmp_path):
    workspace = write_spec(simple_spec())
    out = tmp_path / "belt.json"
    assert run(*belt_args(workspace, out, toys=100), "--scheduler", "serial").exit_code == 0
    other = run(*belt_args(workspace, out, toys=200), "--scheduler", "serial", "--resume")
    assert other.exit_code == 1
    assert "manifest.json" in other.stderr and "toys: 100 there" in other.stderr


def test_bad_grid_and_grid_outside_bounds(write_spec, tmp_path):
    workspace = write_spec(simple_spec())
    bad = run("belt", workspace, "--poi-grid", "3:0:5", "--scheduler", "serial")
    assert bad.exit_code == 2 and "LO:HI:N" in bad.stderr
    outside = run("belt", workspace, "--poi-grid", "-20:1:3", "--scheduler", "serial", "--quiet")
    assert outside.exit_code == 1
    assert "bounds" in outside.stderr and "'mu'" in outside.stderr


def test_local_dask_cluster_gives_the_serial_belt(write_spec, tmp_path):
    workspace = write_spec(simple_spec())
    serial, dask = tmp_path / "serial.json", tmp_path / "dask.json"
    assert run(*belt_args(workspace, serial), "--scheduler", "serial").exit_code == 0
    result = run(*belt_args(workspace, dask), "--scheduler", "local", "--workers", "2")
    assert result.exit_code == 0, result.output + result.stderr
    assert json.loads(serial.read_text()) == json.loads(dask.read_text())
