"""``nsbi fit``: the maximum-likelihood fit, with what comes with it (MINOS, a profile scan,
the ranking, the MC-statistical uncertainty); the work is :func:`nsbi.infer.fit_report`."""

from __future__ import annotations

import click

from nsbi.cli.common import (
    FINITE,
    echo_paths,
    echo_warnings,
    fail,
    load_model,
    parse_fix,
    write_outputs,
)
from nsbi.cli.options import (
    allow_stale_option,
    interpolation_option,
    measurement_option,
    output_option,
    plot_option,
    quiet_option,
    range_option,
    workspace_argument,
)
from nsbi.exceptions import NSBIError

__all__ = ["fit_command"]


@click.command("fit")
@workspace_argument
@measurement_option
@click.option("--asimov", is_flag=True, help="Fit the Asimov dataset instead of the observed data.")
@click.option(
    "--asimov-poi",
    type=FINITE,
    default=None,
    help="POI value of the Asimov dataset (default: the POI's init). Implies --asimov.",
)
@click.option(
    "--fix", "fix", multiple=True, metavar="NAME=VALUE", help="Hold a parameter fixed (repeatable)."
)
@click.option("--minos", is_flag=True, help="MINOS intervals for every free parameter.")
@click.option(
    "--minos-parameter",
    multiple=True,
    metavar="NAME",
    help="MINOS only for these parameters (repeatable; implies --minos).",
)
@click.option(
    "--scan",
    "scan_parameter",
    default=None,
    metavar="PARAMETER",
    help="Profile-likelihood scan of PARAMETER (usually the POI).",
)
@click.option(
    "--points",
    type=click.IntRange(min=2),
    default=21,
    show_default=True,
    help="Points of the scan.",
)
@range_option("--range", "scan_range", "Range of the scan (default: the parameter's bounds).")
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="MIGRAD tolerance (default 0.01).",
)
@output_option()
@plot_option()
@click.option(
    "--ranking",
    "rank",
    is_flag=True,
    help="Rank the constrained nuisance parameters by their impact on the POI (pre- and "
    "post-fit), with pulls and constraints; drawn with --plot.",
)
@click.option(
    "--mc-stat",
    "mc_stat",
    type=click.Choice(["auto", "off", "report", "propagate"]),
    default="auto",
    show_default=True,
    help="The MC-statistical uncertainty of unbinned channels from their bootstrap replicas "
    "(mc_stat.replicas, trained by nsbi train): report it beside the statistical error, or "
    "propagate it into the likelihood (constrained parameters mc_stat[k]) so that errors, "
    "MINOS and scans include it; auto reports it when every unbinned channel has replicas.",
)
@allow_stale_option
@interpolation_option
@quiet_option()
def fit_command(
    workspace, measurement, fix, minos, minos_parameter, interpolation, allow_stale, output,
    plot_dir, quiet, **options,
) -> None:  # fmt: skip
    """Maximum-likelihood fit of WORKSPACE with iminuit (MIGRAD with exact gradients, the
    covariance from the exact Hessian, optionally MINOS), optionally with a profile-likelihood
    scan, and the MC-statistical uncertainty of learned likelihoods."""
    from nsbi.infer.fit_report import fit_report
    from nsbi.plot.reports import save_fit_figures

    fixed = parse_fix(fix)
    try:
        model = load_model(workspace, measurement, interpolation, allow_stale)
        minos = list(minos_parameter) if minos_parameter else minos
        report = fit_report(model, fix=fixed, minos=minos, progress=not quiet, **options)
    except NSBIError as error:
        fail(error)
    echo_warnings(report.warnings())
    if not quiet:
        click.echo(str(report))
    write_outputs(report.to_dict(), output, quiet)
    if plot_dir is not None:
        echo_paths(save_fit_figures(report, plot_dir), quiet)
