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
@click.option(
    "--no-data",
    is_flag=True,
    help="Check the JSON only: do not open the ntuples of the unbinned channels.",
)
def validate_command(workspace: Path, no_data: bool) -> None:
    """Check WORKSPACE against the nsbi schema and its rules, and read every ntuple its
    unbinned channels declare as `nsbi fit` would (trees, branches, types, NaN or infinite
    values, selections, yields, variations; --no-data skips this).

    Prints 'valid' and exits 0, or prints one line per problem (file, JSON path or branch,
    value, what was expected) and exits 2. Ratio models not trained yet, or trained on other
    events, are warnings.
    """
    from nsbi.workflows.data_check import check_data
    from nsbi.workspace import Workspace

    try:
        ws = Workspace.load(workspace)
        warnings = ws.warnings
        check = None if no_data else check_data(ws)
    except InvalidWorkspace as error:
        fail(error)
    for warning in [*warnings, *(check.warnings() if check else [])]:
        click.echo(f"warning: {workspace}: {warning}", err=True)
    if check is not None and check.problems:
        for problem in check.problems:
            click.echo(f"{workspace}: {problem}", err=True)
        sys.exit(2)
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
