"""``nsbi train-statistic``: train a learned dataset-wide test statistic
(:mod:`nsbi.sets.profile_statistic`) on a workspace or on the paper's simulator."""

from __future__ import annotations

from pathlib import Path

import click

from nsbi.cli.common import (
    FINITE,
    _fail,
    _interpolation_option,
    _parse_interpolation,
    _write_outputs,
    ordered_range,
)
from nsbi.exceptions import NSBIError

__all__ = ["train_statistic"]


@click.command("train-statistic")
@click.argument("workspace", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--simulator",
    type=click.Choice(["signal-background"]),
    default=None,
    help="Train on a simulator instead of a workspace: the Gaussian mixture of section 3.2 of "
    "arXiv:2306.12584.",
)
@click.option("--measurement", default=None, help="Measurement to use (default: the first).")
@click.option(
    "--output",
    "-o",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder of the trained statistic (safetensors + JSON; replaced atomically).",
)
@click.option(
    "--theta-range",
    type=FINITE,
    nargs=2,
    callback=ordered_range,
    default=None,
    metavar="LO HI",
    help="Range of the tested POI values theta_0 (default: 3 7 for the simulator, the POI's "
    "bounds for a workspace).",
)
@click.option(
    "--delta-range",
    type=FINITE,
    nargs=2,
    callback=ordered_range,
    default=None,
    metavar="LO HI",
    help="Range of the alternatives' distance Delta (default: 0.5 2 for the simulator, 1/8 to "
    "1/2 of the theta range for a workspace).",
)
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Training steps.")
@click.option(
    "--batch", type=click.IntRange(min=2), default=None, help="Datasets per class and step."
)
@click.option(
    "--validation",
    type=click.IntRange(min=2),
    default=None,
    help="Datasets per class in the fixed validation batch (default 1000 for the simulator, "
    "200 for a workspace, whose datasets are weight vectors over all reference events).",
)
@click.option(
    "--paper",
    is_flag=True,
    help="Appendix A.2's settings (30000 steps, constant rates 1e-4 per element, 1e-3 set-wide).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of everything drawn.")
@_interpolation_option
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the training history as JSON (atomically).",
)
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Draw the validation loss against the step (training.png/pdf) into this folder.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print nothing but errors.")
def train_statistic(
    workspace,
    simulator,
    measurement,
    output,
    theta_range,
    delta_range,
    steps,
    batch,
    validation,
    paper,
    seed,
    interpolation,
    report,
    plot_dir,
    quiet,
) -> None:
    """Train a deep set t_ML(theta; {x}) one-to-one with the profile likelihood ratio of
    WORKSPACE (one unbinned channel; datasets by Poisson reweighting of its reference events
    with random nuisances) or of --simulator. Use it with `nsbi belt --statistic OUTPUT`."""
    from nsbi.sets import SimulatorSource, StatisticTraining, WorkspaceSource, save_statistic
    from nsbi.sets import train_statistic as train

    if (workspace is None) == (simulator is None):
        raise click.UsageError("give either WORKSPACE or --simulator")
    codes = _parse_interpolation(interpolation)
    try:
        if simulator is not None:
            source = SimulatorSource()
            default_theta, default_delta = (3.0, 7.0), (0.5, 2.0)
        else:
            source = WorkspaceSource.from_workspace(workspace, measurement, codes)
            lo, hi = source.model.parameters.bounds[source.model.parameters.poi_index]
            default_theta = (lo, hi)
            default_delta = ((hi - lo) / 8, (hi - lo) / 2)
        changes = {"seed": seed, "validation": validation or (1000 if simulator else 200)}
        changes["theta_range"] = tuple(theta_range) if theta_range else default_theta
        changes["delta_range"] = tuple(delta_range) if delta_range else default_delta
        if steps is not None:
            changes["steps"] = steps
        if batch is not None:
            changes["batch"] = batch
        config = StatisticTraining.paper(**changes) if paper else StatisticTraining(**changes)
        statistic, history = train(source, config, progress=not quiet)
        save_statistic(statistic, output)
    except (NSBIError, ValueError) as error:
        _fail(error if isinstance(error, NSBIError) else NSBIError(str(error)))
    if not quiet:
        click.echo(
            f"trained {config.steps} steps in {history.seconds:.0f} s; best validation loss "
            f"{min(history.validation_loss):.4f} at step {history.best_step}; wrote {output}"
        )
    _write_outputs(
        {
            "output": str(output),
            "steps": history.steps,
            "validation_loss": history.validation_loss,
            "best_step": history.best_step,
            "seconds": history.seconds,
        },
        report,
        quiet,
    )
    if plot_dir is not None:
        from nsbi.plot import plot_training_history, save_figure

        figure = plot_training_history(
            history.steps, history.validation_loss, history.best_step, "validation loss (BCE)"
        )
        paths = save_figure(figure, plot_dir, "training")
        if not quiet:
            click.echo("wrote " + ", ".join(str(path) for path in paths))
