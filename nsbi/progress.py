"""Progress bars for the long steps (training, toys, scans, coverage), in one place.

A bar is drawn by tqdm when the caller asks for one (the CLI does unless ``--quiet``) and the
environment does not silence it: ``NSBI_PROGRESS=0``, or ``CI`` set to anything but ``0`` or
``false`` (CI services set ``CI=true``), keeps logs free of carriage-return noise.

Example:
    >>> import os
    >>> os.environ["NSBI_PROGRESS"] = "0"
    >>> bar = progress_bar(total=3, desc="toys", enabled=True)
    >>> bar.disable
    True
    >>> del os.environ["NSBI_PROGRESS"]
"""

from __future__ import annotations

import os

from tqdm.auto import tqdm

__all__ = ["progress_bar", "silenced"]


def silenced() -> bool:
    """Whether the environment turns progress bars off (``NSBI_PROGRESS=0`` or ``CI``)."""
    if os.environ.get("NSBI_PROGRESS", "").strip().lower() in ("0", "false", "no"):
        return True
    ci = os.environ.get("CI", "").strip().lower()
    return ci not in ("", "0", "false", "no")


def progress_bar(iterable=None, *, total=None, desc=None, unit="it", enabled=True, **kwargs):
    """A tqdm bar over ``iterable`` (or of ``total`` steps), disabled unless ``enabled`` and
    not :func:`silenced`."""
    return tqdm(iterable, total=total, desc=desc, unit=unit,
                disable=not enabled or silenced(), **kwargs)  # fmt: skip
