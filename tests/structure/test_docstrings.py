r"""No docstring of the package holds a control character: a ``\t`` or ``\a`` in a non-raw
docstring silently turns ``\theta`` into TAB + ``heta`` (ruff's D301 keeps backslashes in raw
docstrings; this checks the values themselves, everywhere)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted(
    p
    for folder in ("nsbi", "benchmarks", "examples", "docs", "tests")
    for p in (ROOT / folder).rglob("*.py")
)


def _docstrings(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            text = ast.get_docstring(node, clean=False)
            if text is not None:
                yield getattr(node, "name", "<module>"), text


def test_the_scan_sees_the_package():
    assert len([p for p in SOURCES if "nsbi" in p.parts]) > 50


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_docstring_holds_a_control_character(path):
    bad = [
        (name, repr(c))
        for name, text in _docstrings(path)
        for c in sorted(set(text))
        if ord(c) < 32 and c != "\n"
    ]
    assert not bad, f"{path}: control characters in docstrings (use r-strings): {bad}"


def test_a_corrupted_docstring_is_caught(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text('def f():\n    """The angle :math:`\\theta`."""\n')
    assert [c for _, text in _docstrings(sample) for c in text if ord(c) < 32] == ["\t"]
