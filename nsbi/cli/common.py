"""Helpers shared by the ``nsbi`` commands: option parsing, model loading, error exits and
atomic JSON outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nsbi.exceptions import InvalidOption, InvalidWorkspace, NSBIError


def _fail(error: NSBIError) -> None:
    if isinstance(error, InvalidWorkspace):
        where = f"{error.source}: " if error.source else ""
        for problem in error.problems:
            click.echo(f"{where}{problem}", err=True)
        sys.exit(2)
    click.echo(f"error: {error}", err=True)
    sys.exit(2 if isinstance(error, InvalidOption) else 1)


def _warn_failed(failed: int, what: str) -> None:
    """Warn on stderr (also under ``--quiet``) that ``failed`` fits of ``what`` are not valid."""
    if failed:
        click.echo(
            f"WARNING: {failed} of the fits of {what} are not valid (failed_fits in the JSON); "
            "the numbers rest on them all the same",
            err=True,
        )


def _parse_fix(values: tuple[str, ...]) -> dict[str, float]:
    fixed = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            if not sep or not name:
                raise ValueError
            fixed[name.strip()] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{item!r}; expected NAME=VALUE, e.g. --fix lumi=1.0", param_hint="--fix"
            ) from None
    return fixed


def _parse_interpolation(values: tuple[str, ...]) -> dict[str, str]:
    codes = {}
    for item in values:
        kind, sep, code = item.partition("=")
        if not sep or not kind or not code:
            raise click.BadParameter(
                f"{item!r}; expected TYPE=CODE, e.g. --interpolation normsys=code1",
                param_hint="--interpolation",
            )
        from nsbi.model.model import INTERPOLATION_CODES

        kind, code = kind.strip(), code.strip()
        if code not in INTERPOLATION_CODES.get(kind, ()):
            choices = "; ".join(f"{k}: {', '.join(v)}" for k, v in INTERPOLATION_CODES.items())
            raise click.BadParameter(
                f"{item!r}; the codes are {choices}", param_hint="--interpolation"
            )
        codes[kind] = code
    return codes


def _model(workspace: Path, measurement: str | None, interpolation: tuple[str, ...] = ()):
    """Load WORKSPACE (warnings to stderr) and build the measurement's model."""
    from nsbi.model import Model
    from nsbi.workspace import Workspace

    codes = _parse_interpolation(interpolation)
    ws = Workspace.load(workspace)
    for warning in ws.warnings:
        click.echo(f"warning: {workspace}: {warning}", err=True)
    return Model.from_workspace(ws, measurement, codes)


_interpolation_option = click.option(
    "--interpolation",
    multiple=True,
    metavar="TYPE=CODE",
    help="Interpolation code per modifier type, e.g. normsys=code1 histosys=code0 (the "
    "ROOT-era codes); default: the measurement's, else pyhf's (code4, code4p). Repeatable.",
)


def _write_outputs(document: dict, output: Path | None, quiet: bool) -> None:
    if output is not None:
        from nsbi.io import write_json

        write_json(output, document)
        if not quiet:
            click.echo(f"wrote {output}")
