"""Helpers shared by the ``nsbi`` commands: the error-to-exit-code contract (:class:`Commands`),
option parsing, model loading, and outputs (atomic JSON, the paths written, warnings)."""

from __future__ import annotations

import errno
import math
import os
import sys
from pathlib import Path

import click
import numpy as np

from nsbi.exceptions import (
    InvalidArgument,
    InvalidOption,
    InvalidWorkspace,
    NSBIError,
    StaleModel,
)

#: set (to anything but 0) to let tracebacks through, as ``nsbi --debug`` does
DEBUG_VARIABLE = "NSBI_DEBUG"

#: exit codes of the contract
BAD_INPUT, RUNTIME_FAILURE = 2, 1


def debugging(ctx: click.Context | None = None) -> bool:
    """``nsbi --debug`` (recorded in the context's ``meta``) or ``NSBI_DEBUG=1``."""
    if ctx is not None and ctx.meta.get("nsbi.debug"):
        return True
    return os.environ.get(DEBUG_VARIABLE, "0") not in ("", "0")


class Commands(click.Group):
    """The ``nsbi`` group: no traceback reaches the user. Every exception a command lets
    through becomes one line on stderr and an exit code: 2 for bad input (an nsbi input error,
    a file that is missing, unreadable or not text), 1 for a failure while running (anything
    else, a full disk included); ``nsbi --debug`` or ``NSBI_DEBUG=1`` re-raises instead."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except Exception as error:  # the one place every error becomes a line
            if debugging(ctx):
                raise
            code, message = describe(error)
            click.echo(f"error: {message}", err=True)
            if code == RUNTIME_FAILURE:
                click.echo(
                    f"(rerun with `nsbi --debug ...` or {DEBUG_VARIABLE}=1 for the traceback)",
                    err=True,
                )
            sys.exit(code)
        except KeyboardInterrupt:
            if debugging(ctx):
                raise
            click.echo("interrupted", err=True)
            sys.exit(130)


def describe(error: Exception) -> tuple[int, str]:
    """``(exit code, message)`` of an exception a command did not handle itself."""
    if isinstance(error, InvalidWorkspace):
        where = f"{error.source}: " if error.source else ""
        return BAD_INPUT, "; ".join(f"{where}{p}" for p in error.problems)
    if isinstance(error, (InvalidOption, StaleModel, InvalidArgument)):
        return BAD_INPUT, str(error)
    if isinstance(error, NSBIError):
        return RUNTIME_FAILURE, str(error)
    if isinstance(error, UnicodeDecodeError):
        return BAD_INPUT, f"a file is not UTF-8 text ({error.reason} at byte {error.start})"
    if isinstance(error, (FileNotFoundError, IsADirectoryError, NotADirectoryError)):
        return BAD_INPUT, f"{error.filename}: {error.strerror}"
    if isinstance(error, PermissionError):
        return BAD_INPUT, f"{error.filename}: permission denied; check the path and its folder"
    if isinstance(error, OSError):
        where = f"{error.filename}: " if error.filename else ""
        if error.errno == errno.ENOSPC:
            return RUNTIME_FAILURE, f"{where}no space left on the device; nothing was replaced"
        return RUNTIME_FAILURE, f"{where}{error.strerror or error}"
    if isinstance(error, MemoryError):
        return RUNTIME_FAILURE, "out of memory; use smaller batches or fewer events"
    if isinstance(error, RecursionError):
        return BAD_INPUT, "an input nests too deeply (an expression or document)"
    return RUNTIME_FAILURE, f"internal error ({type(error).__name__}: {error})"


def fail(error: NSBIError) -> None:
    """Print an nsbi error a command caught and exit: 2 for bad input, 1 otherwise."""
    if isinstance(error, InvalidWorkspace):
        where = f"{error.source}: " if error.source else ""
        for problem in error.problems:
            click.echo(f"{where}{problem}", err=True)
        sys.exit(2)
    click.echo(f"error: {error}", err=True)
    bad = isinstance(error, (InvalidOption, StaleModel, InvalidArgument))
    sys.exit(BAD_INPUT if bad else RUNTIME_FAILURE)


def warn_failed(failed: int, what: str) -> None:
    """Warn on stderr (also under ``--quiet``) that ``failed`` fits of ``what`` are not valid."""
    if failed:
        click.echo(
            f"WARNING: {failed} of the fits of {what} are not valid (failed_fits in the JSON); "
            "the numbers rest on them all the same",
            err=True,
        )


class FiniteFloat(click.ParamType):
    """A float option that refuses ``nan`` and ``inf`` (click's ``float`` accepts both)."""

    name = "float"

    def convert(self, value, param, ctx) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


#: the type of every real-valued option
FINITE = FiniteFloat()


def ordered_range(ctx, param, value):
    """Callback of ``--range LO HI`` options: LO < HI."""
    if value is not None and not value[0] < value[1]:
        raise click.BadParameter(
            f"{value[0]:g} {value[1]:g}; expected LO < HI, e.g. {param.opts[0]} 0 3",
            ctx=ctx,
            param=param,
        )
    return value


def parse_fix(values: tuple[str, ...]) -> dict[str, float]:
    """``--fix NAME=VALUE`` options as ``{name: value}``."""
    fixed = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name or not math.isfinite(float(value)):
                raise ValueError
            fixed[name.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{item!r}; expected NAME=VALUE with a finite VALUE, e.g. --fix lumi=1.0",
                param_hint="--fix",
            ) from None
    return fixed


def parse_interpolation(values: tuple[str, ...]) -> dict[str, str]:
    """``--interpolation TYPE=CODE`` options as ``{type: code}``, each code checked."""
    codes = {}
    for item in values:
        kind, sep, code = item.partition("=")
        if not sep or not kind or not code:
            raise click.BadParameter(
                f"{item!r}; expected TYPE=CODE, e.g. --interpolation normsys=code1",
                param_hint="--interpolation",
            )
        from nsbi.model.interpolation import interpolation_problem

        kind, code = kind.strip(), code.strip()
        problem = interpolation_problem(kind, code)
        if problem:
            raise click.BadParameter(f"{item!r}: {problem}", param_hint="--interpolation")
        codes[kind] = code
    return codes


def load_model(
    workspace: Path,
    measurement: str | None,
    interpolation: tuple[str, ...] = (),
    allow_stale: bool = False,
):
    """Load WORKSPACE (warnings to stderr) and build the measurement's model (ratio models
    trained on other events refused unless ``allow_stale``)."""
    from nsbi.model import Model
    from nsbi.workspace import Workspace

    codes = parse_interpolation(interpolation)
    ws = Workspace.load(workspace)
    for warning in ws.warnings:
        click.echo(f"warning: {workspace}: {warning}", err=True)
    return Model.from_workspace(ws, measurement, codes, allow_stale=allow_stale)


def write_outputs(document: dict, output: Path | None, quiet: bool) -> None:
    """Write ``document`` to ``output`` as JSON (atomically), when given."""
    if output is not None:
        from nsbi.io import write_json

        write_json(output, document)
        if not quiet:
            click.echo(f"wrote {output}")


def echo_paths(paths, quiet: bool) -> None:
    """``wrote PATH, PATH``, unless ``quiet``."""
    if not quiet:
        click.echo("wrote " + ", ".join(str(path) for path in paths))


def echo_warnings(warnings) -> None:
    """Each warning on stderr as ``WARNING: ...`` (also under ``--quiet``)."""
    for warning in warnings:
        click.echo(f"WARNING: {warning}", err=True)


def parse_grid(text: str) -> np.ndarray:
    """``--poi-grid LO:HI:N``: N values from LO to HI."""
    try:
        lo, hi, n = text.split(":")
        lo, hi, n = float(lo), float(hi), int(n)
        if not (n >= 2 and hi > lo and np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError
    except ValueError:
        raise click.BadParameter(
            f"{text!r}; expected LO:HI:N with finite LO < HI and N >= 2 points, e.g. 0:3:31",
            param_hint="--poi-grid",
        ) from None
    return np.linspace(lo, hi, n)
