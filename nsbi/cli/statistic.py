"""``nsbi train-statistic``: train a learned dataset-wide test statistic
(:mod:`nsbi.sets.profile_statistic`) on a workspace or on the paper's simulator."""

from __future__ import annotations

from pathlib import Path

import click

from nsbi.cli.common import echo_paths, fail, parse_interpolation, write_outputs
from nsbi.cli.options import (
    interpolation_option,
    measurement_option,
    plot_option,
    quiet_option,
    range_option,
    seed_option,
    statistic_output_option,
)
from nsbi.exceptions import NSBIError

__all__ = ["train_statistic_command"]


@click.command("train-statistic")
@click.argument("workspace", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--simulator",
    type=click.Choice(["signal-background"]),
    default=None,
    help="Train on a simulator instead of a workspace: the Gaussian mixture of section 3.2 of "
    "arXiv:2306.12584.",
)
@measurement_option
@statistic_output_option
@range_option(
    "--theta-range",
    "theta_range",
    "Range of the tested POI values theta_0 (default: 3 7 for the simulator, the POI's "
    "bounds for a workspace).",
)
@range_option(
    "--delta-range",
    "delta_range",
    "Range of the alternatives' distance Delta (default: 0.5 2 for the simulator, 1/8 to "
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
@seed_option("everything drawn")
@interpolation_option
@click.option(
    "--report",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the training history as JSON (atomically).",
)
@plot_option("the validation loss against the step (training.png/pdf)")
@quiet_option("No progress bar; print nothing but errors.")
def train_statistic_command(
    workspace, simulator, measurement, output, interpolation, report, plot_dir, quiet, **settings
) -> None:
    """Train a deep set t_ML(theta; {x}) one-to-one with the profile likelihood ratio of
    WORKSPACE (one unbinned channel; datasets by Poisson reweighting of its reference events
    with random nuisances) or of --simulator. Use it with `nsbi belt --statistic OUTPUT`."""
    from nsbi.plot import plot_training_history, save_figure
    from nsbi.sets import StatisticTraining, WorkspaceSource, save_statistic, train_statistic
    from nsbi.simulators import SimulatorSource

    if (workspace is None) == (simulator is None):
        raise click.UsageError("give either WORKSPACE or --simulator")
    codes = parse_interpolation(interpolation)
    try:
        source = (
            SimulatorSource()
            if simulator is not None
            else WorkspaceSource.from_workspace(workspace, measurement, codes)
        )
        config = StatisticTraining.for_source(source, **settings)
        statistic, history = train_statistic(source, config, progress=not quiet)
        save_statistic(statistic, output)
    except (NSBIError, ValueError) as error:
        fail(error if isinstance(error, NSBIError) else NSBIError(str(error)))
    if not quiet:
        click.echo(
            f"trained {config.steps} steps in {history.seconds:.0f} s; best validation loss "
            f"{min(history.validation_loss):.4f} at step {history.best_step}; wrote {output}"
        )
    write_outputs({"output": str(output), **history.to_dict()}, report, quiet)
    if plot_dir is not None:
        figure = plot_training_history(
            history.steps, history.validation_loss, history.best_step, "validation loss (BCE)"
        )
        echo_paths(save_figure(figure, plot_dir, "training"), quiet)
