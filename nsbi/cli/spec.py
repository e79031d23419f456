"""``nsbi validate`` and ``nsbi inspect``: what a workspace is, before anything is fitted."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nsbi.cli.common import fail, write_outputs
from nsbi.cli.options import measurement_option, output_option, workspace_argument
from nsbi.exceptions import InvalidWorkspace, NSBIError

__all__ = ["validate_command", "inspect_command"]


@click.command("validate")
@workspace_argument
def validate_command(workspace: Path) -> None:
    """Check WORKSPACE against the nsbi schema and its rules.

    Prints 'valid' and exits 0, or prints one line per problem (file, JSON path, value, what
    was expected) and exits 2.
    """
    from nsbi.workspace import load

    try:
        _, warnings = load(workspace)
    except InvalidWorkspace as error:
        fail(error)
    for warning in warnings:
        click.echo(f"warning: {workspace}: {warning}", err=True)
    click.echo("valid")


@click.command("inspect")
@workspace_argument
@measurement_option
@output_option("the summary")
def inspect_command(workspace: Path, measurement: str | None, output: Path | None) -> None:
    """Summarise WORKSPACE: channels, samples, modifiers, the parameters of a measurement
    (init, bounds, constraint, fixed), the measurements, and whether each ratio model of the
    unbinned channels is up to date, missing or stale (and why).

    Exits 2 on an invalid workspace and 1 when an ntuple cannot be read (after printing what
    could be read).
    """
    from nsbi.workflows import summarise

    try:
        summary = summarise(workspace, measurement)
    except NSBIError as error:
        fail(error)
    for warning in summary.warnings:
        click.echo(f"warning: {workspace}: {warning}", err=True)
    click.echo(str(summary))
    write_outputs(summary.to_dict(), output, quiet=False)
    if summary.problems:
        click.echo(
            f"error: {workspace}: {len(summary.problems)} input(s) could not be read "
            "(see 'problems' above)",
            err=True,
        )
        sys.exit(1)
