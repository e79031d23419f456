"""docs/tutorial.md runs: every shell command in its ``bash``/``console`` blocks, in order.

The commands run in a temporary folder holding a copy of what a fresh clone provides and the
tutorial needs (``workspaces/``). Blocks preceded by ``<!-- tutorial-test: skip -->`` (the
installation, which CI does itself) are not run; a ``<!-- tutorial-test: creates PATH ... -->``
comment after a block lists files its commands must have written. The small settings (toys,
grid points, epochs, events) are in the tutorial itself, so what is tested is what readers run.

``nsbi ...`` commands run in this process through click's test runner (one interpreter start
instead of one per command); every other command (``python -c ...``) runs in a shell with this
interpreter first on ``PATH``. Set ``NSBI_TUTORIAL_SUBPROCESS=1`` to run the ``nsbi`` commands
as subprocesses too, exactly as typed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from nsbi.cli.main import cli
from tests.docs.helpers import DOCS, ROOT

TUTORIAL = DOCS / "tutorial.md"
SKIP = "<!-- tutorial-test: skip -->"
CREATES = re.compile(r"<!--\s*tutorial-test:\s*creates\s+(.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
#: what a fresh clone gives the tutorial
NEEDED = ["workspaces"]
#: the results the tutorial promises, whatever its creates-comments say
PROMISED = [
    "results/binned/fit.json",
    "results/binned/scan_mu.png",
    "results/binned/ranking.png",
    "results/binned/belt.json",
    "results/binned/belt.png",
    "toy/workspace.json",
    "toy/models/SR/S/ensemble.json",
    "results/toy/fit.json",
    "results/toy/scan_mu.png",
    "results/toy/belt.json",
    "results/toy/belt.png",
]


@dataclass
class Block:
    """A shell block of the tutorial: its commands, whether it runs, the files it creates."""

    line: int
    commands: list[str]
    skip: bool = False
    creates: list[str] = field(default_factory=list)


def _commands(language: str, body: list[str]) -> list[str]:
    """Commands of a block: in ``console`` blocks the ``$ `` lines, in ``bash`` blocks every
    line; backslash continuations joined, comment lines dropped."""
    commands, pending = [], ""
    for line in body:
        stripped = line.strip()
        if language == "console":  # "$ " starts a command, "> " may start a continuation
            if pending:
                stripped = stripped.removeprefix(">").strip()
            elif line.startswith("$ "):
                stripped = line[2:].strip()
            else:
                continue  # output
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1].rstrip() + " "
            continue
        commands.append((pending + stripped).strip())
        pending = ""
    if pending:
        commands.append(pending.strip())
    return commands


def parse_tutorial(text: str) -> list[Block]:
    """The shell blocks of a Markdown text, in order."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    previous = ""  # the last non-blank line outside a fence
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match is None:
            if lines[i].strip():
                creates = CREATES.search(lines[i])
                if creates and blocks:
                    blocks[-1].creates += creates.group(1).split()
                previous = lines[i].strip()
            i += 1
            continue
        language, start = match.group(1), i
        i += 1
        body = []
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        i += 1  # the closing fence
        if language in ("bash", "console"):
            blocks.append(Block(start + 1, _commands(language, body), skip=previous == SKIP))
        previous = ""
    return blocks


def run_command(command: str, folder: Path, in_process: bool) -> tuple[int, str]:
    """Run one tutorial command in ``folder``; return its exit code and output."""
    argv = shlex.split(command, comments=True)
    if in_process and argv and argv[0] == "nsbi":
        # as in a fresh process: building a binned model leaves torch's default dtype at
        # float64 (pyhf's torch backend sets it), which would change later trainings
        dtype = torch.get_default_dtype()
        try:
            result = CliRunner().invoke(cli, argv[1:], catch_exceptions=True)
        finally:
            torch.set_default_dtype(dtype)
        output = result.output
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            import traceback

            output += "".join(traceback.format_exception(*result.exc_info))
        return result.exit_code, output
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    done = subprocess.run(
        command, shell=True, cwd=folder, env=env, capture_output=True, text=True, check=False
    )
    return done.returncode, done.stdout + done.stderr


def test_tutorial_parses():
    blocks = parse_tutorial(TUTORIAL.read_text())
    skipped = [b for b in blocks if b.skip]
    assert skipped, f"the installation block should carry {SKIP}"
    assert any("pip install" in c for b in skipped for c in b.commands)
    assert all("pip install" not in c for b in blocks if not b.skip for c in b.commands)
    run = [c for b in blocks if not b.skip for c in b.commands]
    for command in ("nsbi validate", "nsbi inspect", "nsbi fit", "nsbi train", "nsbi diagnose"):
        assert any(c.startswith(command) for c in run), command
    assert any("--scan" in c and "--plot" in c for c in run)
    assert any("--ranking" in c for c in run)
    assert sum(c.startswith("nsbi belt") and "--plot" in c for c in run) >= 2


def test_parser_reads_markers():
    text = "\n".join(
        [
            SKIP,
            "```bash",
            "pip install nsbi",
            "```",
            "```console",
            "$ nsbi fit ws.json \\",
            ">     --minos",
            "output line",
            "```",
            "```bash",
            "# a comment",
            "nsbi fit ws.json \\",
            "    --scan mu  # trailing",
            "```",
            "<!-- tutorial-test: creates a.json b.png -->",
        ]
    )
    first, second, third = parse_tutorial(text)
    assert first.skip and first.commands == ["pip install nsbi"]
    assert not second.skip and second.commands == ["nsbi fit ws.json --minos"]
    assert third.commands == ["nsbi fit ws.json --scan mu  # trailing"]
    assert third.creates == ["a.json", "b.png"]


def test_tutorial_runs(tmp_path, monkeypatch):
    blocks = parse_tutorial(TUTORIAL.read_text())
    for name in NEEDED:
        shutil.copytree(ROOT / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    # one intra-op thread: on a shared CI machine torch's default (one per core) makes small
    # trainings and Hessians many times slower when the cores are busy
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    in_process = os.environ.get("NSBI_TUTORIAL_SUBPROCESS", "") in ("", "0")
    timings = []
    try:
        for block in blocks:
            if block.skip:
                continue
            for command in block.commands:
                start = time.perf_counter()
                code, output = run_command(command, tmp_path, in_process)
                timings.append((time.perf_counter() - start, command))
                assert code == 0, (
                    f"docs/tutorial.md line {block.line}: `{command}` exited {code}:\n{output}"
                )
            missing = [p for p in block.creates if not (tmp_path / p).is_file()]
            assert not missing, f"docs/tutorial.md line {block.line}: not written: {missing}"
    finally:
        torch.set_num_threads(threads)
    missing = [p for p in PROMISED if not (tmp_path / p).is_file()]
    assert not missing, f"the tutorial did not write {missing}"
    for seconds, command in timings:
        print(f"{seconds:6.1f} s  {command}")


@pytest.mark.parametrize("name", ["index", "concepts", "cli", "tutorial", "gpu_and_dask"])
def test_local_links_resolve(name):
    """Every relative link and image of the docs points at a file of the repository."""
    path = DOCS / f"{name}.md"
    for target in re.findall(r"\]\(([^)\s]+)\)", path.read_text()):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        file = target.split("#", 1)[0]
        assert (path.parent / file).exists(), f"{path.name}: broken link {target}"
