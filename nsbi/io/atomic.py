"""Atomic writes: a result file is either the old one or the complete new one, never half-written.

Everything is written to a temporary file in the destination's folder and moved into place with
:func:`os.replace`, which is atomic on POSIX and Windows when both are on one filesystem.

Only regular files (and folders, for models) are replaced: a destination that is a symbolic
link, a device, a FIFO or a socket is refused (:class:`UnsafeOutput`), so ``--output
/dev/null`` run as root cannot replace the system's ``/dev/null`` and a link planted in a
shared folder cannot redirect a write. The results get the permissions the umask gives a new
file (``0o666 & ~umask``; folders ``0o777 & ~umask``), like any file the user writes, so Dask
workers and colleagues read them as the umask intends.

A run killed while writing (SIGKILL, power loss) leaves its temporary file or folder
``.NAME.tmp-HOST-PID-XXXX`` beside the destination, never a half-written destination. The next
write of the same destination removes the leftovers of processes of this host that no longer
run (those of live processes, or of other hosts sharing the folder, are left alone).
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from nsbi.exceptions import InvalidOption

__all__ = ["atomic_directory", "atomic_path", "write_json", "remove_leftovers", "UnsafeOutput"]


class UnsafeOutput(InvalidOption):
    """An output path that is not a regular file (or folder): a link or a special file."""

    def __init__(self, path: Path, what: str):
        super().__init__(
            "output",
            f"{path} is {what}; nsbi replaces only regular files and folders: give another path",
        )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _refuse_special(path: Path, folder: bool = False) -> None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise UnsafeOutput(path, "a symbolic link")
    if folder and not stat.S_ISDIR(mode):
        raise UnsafeOutput(path, "not a folder")
    if not folder and not stat.S_ISREG(mode):
        raise UnsafeOutput(path, "a folder" if stat.S_ISDIR(mode) else "a special file")


def _prefix(path: Path) -> str:
    """The temporary names of this process for ``path``: ``.NAME.tmp-HOST-PID-``."""
    return f".{path.name}.tmp-{socket.gethostname()}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_leftovers(path: str | Path) -> list[Path]:
    """Remove the temporary files and folders that killed writers of ``path`` left beside it
    (of this host, whose process no longer runs); return what was removed.

    Example:
        >>> import tempfile, pathlib, subprocess, sys
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
        ...                       capture_output=True, text=True).stdout.strip()
        >>> leftover = folder / f".out.json.tmp-{socket.gethostname()}-{dead}-abc.json"
        >>> _ = leftover.write_text("half")
        >>> [p.name == leftover.name for p in remove_leftovers(folder / "out.json")]
        [True]
    """
    path = Path(path)
    pattern = re.compile(rf"^\.{re.escape(path.name)}\.tmp-(?P<host>.+)-(?P<pid>\d+)-")
    removed = []
    if not path.parent.is_dir():
        return removed
    host = socket.gethostname()
    for sibling in path.parent.iterdir():
        found = pattern.match(sibling.name)
        if not found or found["host"] != host or _alive(int(found["pid"])):
            continue
        try:
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling)
            else:
                sibling.unlink()
        except FileNotFoundError:  # another cleaner was first
            continue
        removed.append(sibling)
    return removed


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> with atomic_path(target) as tmp:
        ...     _ = tmp.write_text("done")
        >>> target.read_text()
        'done'
    """
    path = Path(path)
    _refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    handle, name = tempfile.mkstemp(prefix=_prefix(path), suffix=path.suffix, dir=path.parent)
    os.close(handle)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; on success it replaces ``path`` (a folder).

    A reader sees the old folder or the complete new one; the swap is two renames, so a crash
    between them leaves the old folder as ``.NAME.old`` beside it, never a half-written one.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "model"
        >>> with atomic_directory(target) as tmp:
        ...     _ = (tmp / "weights.txt").write_text("w")
        >>> sorted(p.name for p in target.iterdir())
        ['weights.txt']
    """
    path = Path(path)
    _refuse_special(path, folder=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(path)
    tmp = Path(tempfile.mkdtemp(prefix=_prefix(path), dir=path.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def _clean(value: Any) -> Any:
    """JSON has no NaN or infinity: they become ``null``."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json(path: str | Path, obj: Any) -> None:
    """Write ``obj`` as indented JSON to ``path`` atomically (NaN and inf become ``null``)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(_clean(obj), indent=2) + "\n")
