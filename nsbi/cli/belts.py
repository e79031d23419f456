"""``nsbi belt``: the Neyman belt of the POI from pseudo-experiments, checkpointed and resumable,
on a Dask cluster (:func:`nsbi.infer.distributed.run_belt`)."""

from __future__ import annotations

from pathlib import Path

import click

from nsbi.cli.common import (
    echo_paths,
    fail,
    parse_grid,
    parse_interpolation,
    warn_failed,
    write_outputs,
)
from nsbi.cli.options import (
    allow_stale_option,
    interpolation_option,
    measurement_option,
    output_option,
    plot_option,
    quiet_option,
    scheduler_option,
    seed_option,
    toys_option,
    workers_option,
    workspace_argument,
)
from nsbi.exceptions import NSBIError

__all__ = ["belt_command"]


@click.command("belt")
@workspace_argument
@measurement_option
@click.option(
    "--poi-grid", "grid", required=True, metavar="LO:HI:N", help="POI values: N from LO to HI."
)
@toys_option(1000, minimum=1, help="Pseudo-experiments per grid point.")
@click.option(
    "--cl",
    "cl",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    multiple=True,
    help="Confidence level (repeatable; default 0.6827 and 0.9545).",
)
@seed_option()
@click.option(
    "--construction",
    type=click.Choice(["profile", "fixed"]),
    default="profile",
    show_default=True,
    help="Nuisances of the toys: conditional MLE on the data (profile) or their inits (fixed).",
)
@click.option(
    "--chunk-size",
    type=click.IntRange(min=1),
    default=250,
    show_default=True,
    help="Toys per task and per checkpoint.",
)
@scheduler_option("local", "A local Dask cluster, this process alone, or a Dask scheduler address.")
@workers_option
@click.option(
    "--checkpoints",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Checkpoint folder (default: OUTPUT.checkpoints, or WORKSPACE-stem_belt.checkpoints).",
)
@click.option("--resume", is_flag=True, help="Continue a run from its checkpoints.")
@click.option(
    "--statistic",
    "statistic",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Order the toys by a learned statistic (a folder from `nsbi train-statistic`) "
    "instead of the profile likelihood ratio; no toy is fitted.",
)
@allow_stale_option
@interpolation_option
@output_option("the belt")
@plot_option("the belt and the t distributions (PNG and PDF)")
@quiet_option("No progress bar; print nothing but errors.")
def belt_command(workspace, grid, cl, scheduler, workers, checkpoints, interpolation, output,
                 plot_dir, quiet, **options) -> None:  # fmt: skip
    """Neyman confidence belt of the POI of WORKSPACE from pseudo-experiments (likelihood-ratio
    ordering, profile construction), and the observed intervals.

    Every chunk of toys is checkpointed; after a kill, the same command with --resume
    computes only what is missing.
    """
    from nsbi.infer.belt import DEFAULT_CL
    from nsbi.infer.distributed import belt_checkpoints, dask_client, run_belt
    from nsbi.plot.reports import save_belt_figures

    values, codes = parse_grid(grid), parse_interpolation(interpolation)
    checkpoints = checkpoints or belt_checkpoints(workspace, output)
    try:
        with dask_client(scheduler, workers) as client:
            result = run_belt(
                workspace, values, interpolation=codes, cl=cl or DEFAULT_CL,
                checkpoints=checkpoints, client=client, progress=not quiet, **options,
            )  # fmt: skip
    except NSBIError as error:
        fail(error)
    if not quiet:
        click.echo(str(result))
        if result.fallbacks:
            click.echo(f"{result.fallbacks} toy fits fell back to iminuit")
    warn_failed(result.failed_fits, "the belt")
    write_outputs(result.to_dict(), output, quiet)
    if plot_dir is not None:
        echo_paths(save_belt_figures(result, plot_dir), quiet)
