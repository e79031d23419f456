"""``nsbi train`` and ``nsbi diagnose``: the ratio ensembles a workspace declares
(:mod:`nsbi.workflows`)."""

from __future__ import annotations

import click

from nsbi.cli.common import echo_warnings, fail, write_outputs
from nsbi.cli.options import (
    only_option,
    output_option,
    plot_option,
    quiet_option,
    scheduler_option,
    workers_option,
    workspace_argument,
)
from nsbi.exceptions import NSBIError

__all__ = ["train_command", "diagnose_command"]


@click.command("train")
@workspace_argument
@only_option(
    "Train only this sample with its learned variations, or one ensemble by its label "
    "(SAMPLE_MODIFIER_SIDE); either as CHANNEL/NAME; repeatable."
)
@click.option(
    "--members",
    type=click.IntRange(min=1),
    default=None,
    help="Ensemble members (default: the channel's training.members, else 5).",
)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Override the maximum number of epochs.",
)
@click.option(
    "--device",
    type=click.Choice(["cpu", "cuda"]),
    default=None,
    help="Where to train (default cpu).",
)
@scheduler_option(
    None, "Train members in parallel on Dask: a local cluster or a scheduler address."
)
@workers_option
@click.option("--force", is_flag=True, help="Retrain even ensembles that are up to date.")
@quiet_option("No progress bars or summaries.")
def train_command(workspace, only, members, epochs, device, scheduler, workers, force, quiet):
    """Train the per-event ratio ensembles that WORKSPACE declares.

    Ensembles whose stored checksum matches the current inputs and settings are skipped.
    """
    from nsbi.infer.distributed import dask_client
    from nsbi.workflows import train_workspace
    from nsbi.workspace import Workspace

    try:
        ws = Workspace.load(workspace)
        with dask_client(scheduler, workers) as client:
            train_workspace(
                ws, only=only, members=members, device=device, client=client, force=force,
                progress=not quiet, overrides={"epochs": epochs} if epochs else None,
                report=None if quiet else (lambda r: click.echo(r.line())),
            )  # fmt: skip
    except NSBIError as error:
        fail(error)


@click.command("diagnose")
@workspace_argument
@only_option(
    "Only this sample (with its learned variations) or ensemble label "
    "(SAMPLE_MODIFIER_SIDE), or CHANNEL/NAME; repeatable."
)
@click.option("--no-two-sample-test", is_flag=True, help="Skip the classifier two-sample test.")
@plot_option("closure and calibration figures")
@output_option("the diagnostics")
def diagnose_command(workspace, only, no_two_sample_test, plot_dir, output) -> None:
    """Diagnostics of the trained ratio ensembles: reweighting closure, classifier two-sample
    test, calibration and member spread (on the held-out events when the workspace holds some
    out), and the POI's MC-statistical error when every channel has bootstrap replicas."""
    from nsbi.plot.reports import save_diagnosis_figures
    from nsbi.workflows.diagnosis import diagnose_workspace, mc_stat_check
    from nsbi.workspace import Workspace

    try:
        ws = Workspace.load(workspace)
        results = diagnose_workspace(ws, only=only, two_sample=not no_two_sample_test)
        for line in results.lines():
            click.echo(line)
        check = mc_stat_check(ws)
    except NSBIError as error:
        fail(error)
    if check is not None:
        click.echo(check.line())
        echo_warnings([check.warning] if check.warning else [])
    write_outputs(results.to_dict(), output, quiet=True)
    if plot_dir is not None:
        save_diagnosis_figures(results, plot_dir)
        click.echo(f"wrote figures to {plot_dir}")
