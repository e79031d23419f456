"""``nsbi cls``, ``nsbi significance`` and ``nsbi limit``: hypothesis tests of the POI, by
asymptotic formulae or pseudo-experiments (:mod:`nsbi.infer.hypotest`, :mod:`nsbi.infer.limits`)."""

from __future__ import annotations

import click

from nsbi.cli.common import FINITE, echo_paths, fail, load_model, warn_failed, write_outputs
from nsbi.cli.options import (
    allow_stale_option,
    calculator_option,
    interpolation_option,
    measurement_option,
    output_option,
    plot_option,
    quiet_option,
    range_option,
    seed_option,
    test_stat_option,
    toys_option,
    workspace_argument,
)
from nsbi.exceptions import NSBIError

__all__ = ["cls_command", "significance_command", "limit_command"]


def _common(function):
    """The options every test takes after its own: seed, stale models, interpolation,
    outputs."""
    for option in reversed(
        (seed_option(), allow_stale_option, interpolation_option, output_option(), plot_option(),
         quiet_option())
    ):  # fmt: skip
        function = option(function)
    return function


def _report(result, what: str, output, plot_dir, quiet, save) -> None:
    """Print ``result``, warn of its failed fits, write its JSON and figures."""
    if not quiet:
        click.echo(str(result))
    warn_failed(result.failed_fits, what)
    write_outputs(result.to_dict(), output, quiet)
    if plot_dir is not None:
        echo_paths(save(result, plot_dir), quiet)


@click.command("cls")
@workspace_argument
@measurement_option
@click.option("--poi-value", type=FINITE, default=1.0, show_default=True, help="Tested POI value.")
@test_stat_option
@calculator_option
@toys_option(2000)
@_common
def cls_command(workspace, measurement, interpolation, allow_stale, output, plot_dir, quiet,
                **options) -> None:  # fmt: skip
    """CLs of the POI value on WORKSPACE's data, observed and expected (-2..+2 sigma)."""
    from nsbi.infer.hypotest import hypotest
    from nsbi.plot.reports import save_statistic_figures

    try:
        model = load_model(workspace, measurement, interpolation, allow_stale)
        result = hypotest(model, options.pop("poi_value"), **options)
    except NSBIError as error:
        fail(error)
    save = lambda r, d: save_statistic_figures(r, d, "test_statistic")  # noqa: E731
    _report(result, "the CLs test", output, plot_dir, quiet, save)


@click.command("significance")
@workspace_argument
@measurement_option
@calculator_option
@toys_option(10000)
@_common
def significance_command(workspace, measurement, interpolation, allow_stale, output, plot_dir,
                         quiet, **options) -> None:  # fmt: skip
    """Discovery significance (q0) of WORKSPACE's data, and the expected one at POI = 1."""
    from nsbi.infer.hypotest import significance
    from nsbi.plot.reports import save_statistic_figures

    try:
        model = load_model(workspace, measurement, interpolation, allow_stale)
        result = significance(model, **options)
    except NSBIError as error:
        fail(error)
    save = lambda r, d: save_statistic_figures(r, d, "q0")  # noqa: E731
    _report(result, "the discovery test", output, plot_dir, quiet, save)


@click.command("limit")
@workspace_argument
@measurement_option
@click.option(
    "--cl",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Confidence level of the limit.",
)
@range_option("--range", "poi_range", "Where the limit is searched (default: the POI's bounds "
              "from 0).")  # fmt: skip
@click.option(
    "--scan",
    "points",
    type=click.IntRange(min=2),
    default=None,
    help="CLs on this many points of the range, interpolated (default: TOMS 748 root-finding; "
    "required with --calculator toys).",
)
@test_stat_option
@calculator_option
@toys_option(2000)
@_common
def limit_command(workspace, measurement, poi_range, points, interpolation, allow_stale, output,
                  plot_dir, quiet, **options) -> None:  # fmt: skip
    """CLs upper limit on the POI of WORKSPACE, observed and expected (-2..+2 sigma)."""
    from nsbi.infer.limits import upper_limit
    from nsbi.plot.reports import save_limit_figures

    try:
        model = load_model(workspace, measurement, interpolation, allow_stale)
        result = upper_limit(model, range=poi_range, scan=points, **options)
    except NSBIError as error:
        fail(error)
    _report(result, "the limit", output, plot_dir, quiet, save_limit_figures)
