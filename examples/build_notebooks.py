"""Write every ``examples/*.ipynb`` from its py:percent twin, ``examples/*.py``.

The ``.py`` file is the source that is reviewed and diffed; the notebook is generated from it,
without outputs. A ``.py`` file is a notebook source when it has ``# %%`` cell markers:

- ``# %%`` starts a code cell;
- ``# %% [markdown]`` starts a markdown cell, whose lines are comments (``# `` is removed).

Cell ids are numbered, so the same source always gives the same file. Run::

    python examples/build_notebooks.py           # (re)write the notebooks
    python examples/build_notebooks.py --check   # exit 1 if a notebook is not in sync
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

EXAMPLES = Path(__file__).resolve().parent
_MARKER = re.compile(r"^# %%(?P<rest>.*)$")


def cells_of(source: str) -> list[tuple[str, str]]:
    r"""``(cell_type, text)`` of each cell of a py:percent source, in order.

    Example:
        >>> cells_of("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\nx = 1\n\n")
        [('markdown', '# Title\n\ntext'), ('code', 'x = 1')]
    """
    cells: list[tuple[str, list[str]]] = []
    for line in source.splitlines():
        marker = _MARKER.match(line)
        if marker:
            kind = "markdown" if "[markdown]" in marker.group("rest") else "code"
            cells.append((kind, []))
        elif cells:
            kind, lines = cells[-1]
            if kind == "markdown" and line.strip():
                if not line.startswith("#"):
                    raise ValueError(f"markdown cell line is not a comment: {line!r}")
                line = line[2:] if line.startswith("# ") else line[1:]
            lines.append(line)
        elif line.strip():
            raise ValueError(f"text before the first '# %%' marker: {line!r}")
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def is_notebook_source(path: Path) -> bool:
    """Whether ``path`` is a py:percent notebook source (it has a ``# %%`` line)."""
    return any(_MARKER.match(line) for line in path.read_text().splitlines())


def notebook_of(path: Path) -> nbformat.NotebookNode:
    """The notebook (no outputs) of the py:percent source at ``path``."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }
    for index, (kind, text) in enumerate(cells_of(path.read_text())):
        make = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        notebook.cells.append(make(text, id=f"cell-{index}"))
    nbformat.validate(notebook)
    return notebook


def sources(directory: Path = EXAMPLES) -> list[Path]:
    """The notebook sources in ``directory``."""
    return sorted(p for p in directory.glob("*.py") if is_notebook_source(p))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Only check; write nothing.")
    args = parser.parse_args(argv)
    stale = []
    for source in sources():
        target = source.with_suffix(".ipynb")
        text = nbformat.writes(notebook_of(source)) + "\n"
        if target.exists() and target.read_text() == text:
            continue
        stale.append(target)
        if not args.check:
            target.write_text(text)
            print(f"wrote {target}")
    if args.check and stale:
        print("out of sync with their .py sources: " + ", ".join(map(str, stale)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
