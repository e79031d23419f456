"""``nsbi inspect``: what a workspace holds (:func:`nsbi.workspace.summary.summarise`), as
``pyhf inspect`` shows it for a pyhf workspace, with the unbinned channels and the state of
their ratio models."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nsbi.cli.common import _fail, _write_outputs
from nsbi.exceptions import NSBIError

__all__ = ["inspect"]


@click.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--measurement",
    default=None,
    help="Measurement whose POI and parameter settings are shown (default: the first).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the summary as JSON (atomically).",
)
def inspect(workspace: Path, measurement: str | None, output: Path | None) -> None:
    """Summarise WORKSPACE: channels, samples, modifiers, the parameters of a measurement
    (init, bounds, constraint, fixed), the measurements, and whether each ratio model of the
    unbinned channels is up to date, missing or stale (and why).

    Exits 2 on an invalid workspace and 1 when an ntuple cannot be read (after printing what
    could be read).
    """
    from nsbi.workspace.summary import summarise

    try:
        summary = summarise(workspace, measurement)
    except NSBIError as error:
        _fail(error)
    for warning in summary.warnings:
        click.echo(f"warning: {workspace}: {warning}", err=True)
    click.echo(str(summary))
    _write_outputs(summary.to_dict(), output, quiet=False)
    if summary.problems:
        click.echo(
            f"error: {workspace}: {len(summary.problems)} input(s) could not be read "
            "(see 'problems' above)",
            err=True,
        )
        sys.exit(1)
