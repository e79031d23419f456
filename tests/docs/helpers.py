"""Helpers of the documentation tests: the docs folder, and its scripts imported by path."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def load_docs_script(name: str):
    """Import ``docs/<name>.py`` (the docs folder is no package) as a module."""
    path = DOCS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"nsbi_docs_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module
