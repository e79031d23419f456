"""The example notebooks: each is in sync with its py:percent source, carries no outputs, and runs
from top to bottom (reduced settings) without an error in any cell."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NOTEBOOKS = sorted(EXAMPLES.glob("*.ipynb"))
CELL_TIMEOUT_S = 600


def _build_notebooks():
    spec = importlib.util.spec_from_file_location(
        "build_notebooks", EXAMPLES / "build_notebooks.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build_notebooks = _build_notebooks()


def test_every_notebook_source_has_its_notebook():
    expected = {p.with_suffix(".ipynb").name for p in build_notebooks.sources(EXAMPLES)}
    assert expected, "no py:percent notebook source in examples/"
    assert expected == {p.name for p in NOTEBOOKS}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_in_sync_with_source(path):
    committed = nbformat.read(path, as_version=4)
    rebuilt = build_notebooks.notebook_of(path.with_suffix(".py"))
    assert [(c.cell_type, c.source) for c in committed.cells] == [
        (c.cell_type, c.source) for c in rebuilt.cells
    ], f"{path.name} is out of sync: run python examples/build_notebooks.py"
    for cell in committed.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, (
                f"{path.name}: outputs are committed; rebuild it with examples/build_notebooks.py"
            )


def test_cells_of_percent_source():
    source = "# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n# %%\ny = x\n"
    assert build_notebooks.cells_of(source) == [
        ("markdown", "# Title\n\ntext"),
        ("code", "x = 1"),
        ("code", "y = x"),
    ]
    with pytest.raises(ValueError, match="before the first"):
        build_notebooks.cells_of("x = 1\n# %%\n")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, tmp_path, monkeypatch):
    """Execute the notebook in a fresh python3 kernel of this interpreter, in a temporary folder
    (the notebooks write their outputs below the working directory), with reduced settings."""
    for name in (
        "NSBI_FULL",
        "NSBI_OFFSHELL_OUT",
        "NSBI_MVN_OUT",
        "NSBI_STATISTIC_OUT",
        "NSBI_BUMP_HUNT_OUT",
        "NSBI_SEED",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NSBI_THREADS", "1")
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT_S,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()  # raises CellExecutionError, naming the cell, if any cell raises
