"""The API reference (``docs/api``, Sphinx autodoc over every public module) builds with no
warning: every docstring renders (maths, sections, cross-references as written)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest.importorskip("sphinx")


def test_the_api_reference_builds_without_warnings(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         str(ROOT / "docs" / "api"), str(tmp_path / "html")],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-4000:]
    pages = {p.stem for p in (tmp_path / "html").glob("nsbi*.html")}
    assert {"nsbi.infer.minimize", "nsbi.workflows.training", "nsbi.workspace.holdout"} <= pages
    page = (tmp_path / "html" / "nsbi.model.unbinned.html").read_text()
    assert "mathjax" in page and page.count("math notranslate") > 10  # the maths renders
