"""Sphinx configuration of nsbi's API reference, built from the docstrings.

    sphinx-build -W -b html docs/api build/api

The pages are written here at build time, one section per public module of the package (so
the reference never misses a module); the maths renders with MathJax, the Google-style
sections with napoleon. ``tests/docs/test_api_reference.py`` builds it with warnings as errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

project = "nsbi"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True  # "Attributes:" as fields: a dataclass's members are documented once
html_theme = "alabaster"
exclude_patterns = ["_build"]


def public_modules() -> list[str]:
    """Every module of ``nsbi`` but private ones (``_version``) and ``__main__``, in order."""
    names = []
    for path in sorted((ROOT / "nsbi").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts[1:]):
            continue
        names.append(".".join(parts))
    return names


def _write_pages(app) -> None:
    lines = ["nsbi API reference", "==================", "", ".. toctree::", "   :maxdepth: 1", ""]
    pages = Path(app.srcdir)
    for name in public_modules():
        lines.append(f"   {name}")
        title = f"``{name}``"
        body = [title, "=" * len(title), "", f".. automodule:: {name}"]
        if name.count(".") < 2 and (ROOT / Path(*name.split("."))).is_dir():
            body.append("   :no-members:")  # a package: its modules document its members
        _replace(pages / f"{name}.rst", "\n".join(body) + "\n")
    _replace(pages / "index.rst", "\n".join(lines) + "\n")


def _replace(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def setup(app):
    app.connect("builder-inited", _write_pages)
