"""``nsbi`` commands. Each one parses options, calls library functions, prints, and exits.

Exit codes: 0 success; 1 a failure while running (e.g. a fit that cannot be set up);
2 bad input (an invalid workspace, a bad option).
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import numpy as np

from nsbi import __version__
from nsbi.cli.common import (
    DEBUG_VARIABLE,
    FINITE,
    Commands,
    _allow_stale_option,
    _fail,
    _interpolation_option,
    _model,
    _parse_fix,
    _parse_interpolation,
    _warn_failed,
    _write_outputs,
    ordered_range,
)
from nsbi.exceptions import InvalidWorkspace, NSBIError

__all__ = ["cli"]


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nsbi")
@click.option(
    "--debug",
    is_flag=True,
    help=f"Show the Python traceback of an error (or set {DEBUG_VARIABLE}=1).",
)
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """nsbi: neural simulation-based inference beside pyhf binned models."""
    ctx.meta["nsbi.debug"] = debug


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
def validate(workspace: Path) -> None:
    """Check WORKSPACE against the nsbi schema and its rules.

    Prints 'valid' and exits 0, or prints one line per problem (file, JSON path, value, what
    was expected) and exits 2.
    """
    from nsbi.workspace import load

    try:
        _, warnings = load(workspace)
    except InvalidWorkspace as error:
        _fail(error)
    for warning in warnings:
        click.echo(f"warning: {workspace}: {warning}", err=True)
    click.echo("valid")


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--measurement", default=None, help="Measurement to use (default: the first).")
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
@click.option(
    "--range",
    "scan_range",
    type=FINITE,
    nargs=2,
    callback=ordered_range,
    default=None,
    metavar="LO HI",
    help="Range of the scan (default: the parameter's bounds).",
)
@click.option(
    "--tolerance",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="MIGRAD tolerance (default 0.01).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the result as JSON (atomically).",
)
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write figures (PNG and PDF) into this folder.",
)
@click.option(
    "--ranking",
    "rank",
    is_flag=True,
    help="Rank the constrained nuisance parameters by their impact on the POI (pre- and "
    "post-fit), with pulls and constraints; drawn with --plot.",
)
@click.option(
    "--mc-stat",
    "mc_stat_mode",
    type=click.Choice(["auto", "off", "report", "propagate"]),
    default="auto",
    show_default=True,
    help="The MC-statistical uncertainty of unbinned channels from their bootstrap replicas "
    "(mc_stat.replicas, trained by nsbi train): report it beside the statistical error, or "
    "propagate it into the likelihood (constrained parameters mc_stat[k]) so that errors, "
    "MINOS and scans include it; auto reports it when every unbinned channel has replicas.",
)
@_allow_stale_option
@_interpolation_option
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def fit(
    workspace,
    measurement,
    asimov,
    asimov_poi,
    fix,
    minos,
    minos_parameter,
    scan_parameter,
    points,
    scan_range,
    tolerance,
    output,
    plot_dir,
    rank,
    mc_stat_mode,
    interpolation,
    quiet,
    allow_stale,
) -> None:
    """Maximum-likelihood fit of WORKSPACE with iminuit (MIGRAD with exact gradients, the
    covariance from the exact Hessian, optionally MINOS), optionally with a profile-likelihood
    scan, and the MC-statistical uncertainty of learned likelihoods."""
    from nsbi.infer import DEFAULT_TOLERANCE, asimov_model, pulls, ranking, scan
    from nsbi.infer.mc_stat import fit_with_mc_stat

    fixed = _parse_fix(fix)
    tolerance = tolerance or DEFAULT_TOLERANCE
    try:
        model = _model(workspace, measurement, interpolation, allow_stale)
        if asimov or asimov_poi is not None:
            poi = model.parameters.poi
            values = dict(fixed)
            if asimov_poi is not None:
                values[poi] = asimov_poi
            model = asimov_model(model, values)
        minos_arg = list(minos_parameter) if minos_parameter else bool(minos)
        nominal = model
        result, mc_stat, model = fit_with_mc_stat(
            nominal, mc_stat_mode, fix=fixed, minos=minos_arg, tolerance=tolerance,
            progress=not quiet,
        )  # fmt: skip
        profile = None
        if scan_parameter is not None:
            index = model.parameters.index(scan_parameter)
            lo, hi = scan_range if scan_range else model.parameters.bounds[index]
            profile = scan(
                model,
                scan_parameter,
                np.linspace(lo, hi, points),
                fix=fixed,
                best_fit=result,
                tolerance=tolerance,
                progress=not quiet,
            )
        impacts = ranking(model, result, tolerance=tolerance) if rank else None
    except NSBIError as error:
        _fail(error)
    pull_table = pulls(model, result)

    if not result.valid:
        click.echo(f"WARNING: the fit is not valid: {'; '.join(result.reasons)}", err=True)
    elif result.reasons:
        click.echo(
            f"WARNING: the covariance is not accurate: {'; '.join(result.reasons)}", err=True
        )
    if mc_stat is not None:
        _warn_failed(mc_stat.failed_fits, "the bootstrap replicas")
        poi = nominal.parameters.poi
        statistical = _statistical_error(result, mc_stat, poi)
        warning = mc_stat.warning(poi, statistical) if poi and statistical > 0 else None
        if warning:
            click.echo(f"WARNING: {warning}", err=True)
    if profile is not None:
        _warn_failed(sum(not f.valid for f in profile.fits), f"the scan of {profile.parameter}")
    if impacts is not None:
        _warn_failed(sum(i.failed_fits for i in impacts), "the ranking")
    if not quiet:
        click.echo(str(result))
        if mc_stat is not None:
            click.echo(_mc_stat_text(result, mc_stat, nominal.parameters.poi))
        if profile is not None:
            click.echo(f"\nprofile scan of {profile.parameter}:")
            for v, t, f in zip(profile.values, profile.t, profile.fits, strict=True):
                click.echo(f"  {v:>10.4g}  t = {t:10.4f}{'' if f.valid else '  (fit not valid)'}")
            lo, hi = profile.interval(1.0)
            click.echo(f"  68.3% CL interval (t < 1): [{lo:.4g}, {hi:.4g}]")
        if impacts is not None:
            poi = model.parameters.poi
            click.echo(f"\nranking by post-fit impact on {poi}:")
            click.echo(
                f"  {'parameter':<24}{'pull':>8}{'constr.':>9}{'pre +':>10}{'pre -':>10}"
                f"{'post +':>10}{'post -':>10}"
            )
            for i in impacts:
                pull, constraint = pull_table.get(i.name, (float("nan"), float("nan")))
                click.echo(
                    f"  {i.name:<24}{pull:>8.3f}{constraint:>9.3f}{i.prefit_up:>+10.4f}"
                    f"{i.prefit_down:>+10.4f}{i.postfit_up:>+10.4f}{i.postfit_down:>+10.4f}"
                )
    document = result.to_dict()
    if mc_stat is not None:
        document["mc_stat"] = {
            **mc_stat.to_dict(),
            "propagated": mc_stat_mode == "propagate",
        }
    document["correlation"] = result.correlation.tolist()
    document["pulls"] = {
        name: {"pull": pull, "constraint": constraint}
        for name, (pull, constraint) in pull_table.items()
    }
    if impacts is not None:
        document["ranking"] = [i.to_dict() for i in impacts]
    if profile is not None:
        document["scan"] = {
            "parameter": profile.parameter,
            "values": profile.values.tolist(),
            "t": profile.t.tolist(),
            "failed_fits": profile.failed_fits,
        }
    _write_outputs(document, output, quiet)
    if plot_dir is not None and profile is not None:
        from nsbi.plot import plot_scan, save_figure

        label = "Asimov" if (asimov or asimov_poi is not None) else "observed"
        figure = plot_scan([(label, profile.values, profile.t)], parameter=profile.parameter)
        paths = save_figure(figure, plot_dir, f"scan_{profile.parameter}")
        if not quiet:
            click.echo("wrote " + ", ".join(map(str, paths)))
    if plot_dir is not None and impacts is not None:
        from nsbi.plot import plot_ranking, save_figure

        figure = plot_ranking(impacts, pull_table, poi=model.parameters.poi)
        paths = save_figure(figure, plot_dir, "ranking")
        if not quiet:
            click.echo("wrote " + ", ".join(map(str, paths)))
    if plot_dir is not None:
        from nsbi.plot import plot_correlation, plot_pulls, save_figure

        paths = save_figure(
            plot_correlation(model.parameters.names, result.correlation, threshold=0.05),
            plot_dir,
            "correlation",
        )
        if pull_table:
            paths += save_figure(plot_pulls(pull_table), plot_dir, "pulls")
        if not quiet:
            click.echo("wrote " + ", ".join(map(str, paths)))


def _diagnose_mc_stat(ws) -> None:
    """``nsbi diagnose``: when every unbinned channel declares bootstrap replicas, fit the data
    and the replicas and print the POI's MC-statistical error beside its statistical one,
    with the warning ``nsbi fit`` gives."""
    from nsbi.infer.mc_stat import fit_with_mc_stat
    from nsbi.model import Model

    try:
        model = Model.from_workspace(ws)
        if model.replicas < 2 or model.parameters.poi is None:
            return
        result, mc_stat, _ = fit_with_mc_stat(model, "report")
    except NSBIError as error:
        _fail(error)
    poi = model.parameters.poi
    statistical = result.error(poi)
    click.echo(
        f"MC-statistical uncertainty of {poi} ({mc_stat.replicas} bootstrap replicas): "
        f"{mc_stat.error(poi):.4g}; statistical {statistical:.4g}"
    )
    warning = mc_stat.warning(poi, statistical) if statistical > 0 else None
    if warning:
        click.echo(f"WARNING: {warning}", err=True)


def _statistical_error(result, mc_stat, name: str | None) -> float:
    """The statistical error of ``name``: the fit's, less the MC-statistical part when the
    latter was propagated into it (the fit then has parameters ``mc_stat[k]``)."""
    if name is None:
        return 0.0
    total = result.error(name)
    if any(n.startswith("mc_stat[") for n in result.names):
        return float(np.sqrt(max(total**2 - mc_stat.error(name) ** 2, 0.0)))
    return total


def _mc_stat_text(result, mc_stat, poi: str | None) -> str:
    """The table of MC-statistical and statistical errors ``nsbi fit`` prints."""
    fixed = dict(zip(result.names, result.fixed, strict=True))
    names = [n for n in mc_stat.names if not fixed[n]]
    width = max((len(n) for n in names), default=8) + 2
    lines = [f"MC-statistical uncertainty ({mc_stat.replicas} bootstrap replicas):"]
    for name in names:
        mark = " *" if name == poi else ""
        lines.append(
            f"  {name + mark:<{width}}  MC stat {mc_stat.error(name):.4g}   statistical "
            f"{_statistical_error(result, mc_stat, name):.4g}"
        )
    return "\n".join(lines)


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--only",
    multiple=True,
    metavar="SAMPLE",
    help="Train only this sample with its learned variations, or one ensemble by its label "
    "(SAMPLE_MODIFIER_SIDE); either as CHANNEL/NAME; repeatable.",
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
@click.option(
    "--scheduler",
    default=None,
    metavar="local|ADDRESS",
    help="Train members in parallel on Dask: a local cluster or a scheduler address.",
)
@click.option(
    "--workers", type=click.IntRange(min=1), default=None, help="Workers of the local Dask cluster."
)
@click.option("--force", is_flag=True, help="Retrain even ensembles that are up to date.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bars or summaries.")
def train(workspace, only, members, epochs, device, scheduler, workers, force, quiet) -> None:
    """Train the per-event ratio ensembles that WORKSPACE declares.

    Ensembles whose stored checksum matches the current inputs and settings are skipped.
    """
    from nsbi.infer.distributed import make_client
    from nsbi.ratios.workspace_ratios import train_workspace
    from nsbi.workspace import Workspace

    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            click.echo("error: --device cuda, but torch sees no CUDA device", err=True)
            sys.exit(2)
    try:
        ws = Workspace.load(workspace)
        client = make_client(scheduler, workers)
        try:
            train_workspace(
                ws,
                only=only,
                members=members,
                device=device,
                client=client,
                force=force,
                progress=not quiet,
                overrides={"epochs": epochs} if epochs else None,
                report=None if quiet else (lambda r: click.echo(r.line())),
            )
        finally:
            if client is not None:
                client.close()
    except NSBIError as error:
        _fail(error)


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--only",
    multiple=True,
    metavar="NAME",
    help="Only this sample (with its learned variations) or ensemble label "
    "(SAMPLE_MODIFIER_SIDE), or CHANNEL/NAME; repeatable.",
)
@click.option("--no-two-sample-test", is_flag=True, help="Skip the classifier two-sample test.")
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write closure and calibration figures into this folder.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the diagnostics as JSON (atomically).",
)
def diagnose(workspace, only, no_two_sample_test, plot_dir, output) -> None:
    """Diagnostics of the trained ratio ensembles: reweighting closure, classifier two-sample
    test, calibration and member spread."""
    from nsbi.ratios.workspace_ratios import diagnose_workspace
    from nsbi.workspace import Workspace

    try:
        ws = Workspace.load(workspace)
        results = diagnose_workspace(ws, only=only, two_sample=not no_two_sample_test)
    except NSBIError as error:
        _fail(error)
    for result in results:
        for line in result.lines():
            click.echo(line)
    _diagnose_mc_stat(ws)
    if output is not None:
        from nsbi.io import write_json

        write_json(
            output,
            {
                f"{r.channel}/{r.sample}": {
                    "closure": {h.observable: {"chi2": h.chi2, "ndf": h.ndf} for h in r.closure},
                    "two_sample_auc": r.two_sample.auc if r.two_sample else None,
                    "calibration_max_deviation": r.calibration.max_deviation,
                    "spread_quantiles": list(r.spread_quantiles),
                }
                for r in results
            },
        )
    if plot_dir is not None:
        from nsbi.plot import plot_calibration, plot_closure, save_figure

        for result in results:
            stem = f"{result.channel}_{result.sample}"
            for histogram in result.closure:
                save_figure(
                    plot_closure(histogram, f"{result.channel}/{result.sample}"),
                    plot_dir,
                    f"closure_{stem}_{histogram.observable}",
                )
            save_figure(
                plot_calibration(result.calibration, f"{result.channel}/{result.sample}"),
                plot_dir,
                f"calibration_{stem}",
            )
        click.echo(f"wrote figures to {plot_dir}")


def _parse_grid(text: str) -> np.ndarray:
    try:
        lo, hi, n = text.split(":")
        lo, hi, n = float(lo), float(hi), int(n)
        if not (n >= 2 and hi > lo and np.isfinite(lo) and np.isfinite(hi)):
            raise ValueError
    except ValueError:
        raise click.BadParameter(
            f"{text!r}; expected LO:HI:N with finite LO < HI and N >= 2 points, e.g. 0:3:31",
            param_hint="--poi-grid",
        ) from None
    return np.linspace(lo, hi, n)


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--measurement", default=None, help="Measurement to use (default: the first).")
@click.option(
    "--poi-grid", "grid", required=True, metavar="LO:HI:N", help="POI values: N from LO to HI."
)
@click.option(
    "--toys",
    type=click.IntRange(min=1),
    default=1000,
    show_default=True,
    help="Pseudo-experiments per grid point.",
)
@click.option(
    "--cl",
    "cls",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    multiple=True,
    help="Confidence level (repeatable; default 0.6827 and 0.9545).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the toys.")
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
@click.option(
    "--scheduler",
    default="local",
    show_default=True,
    metavar="local|serial|ADDRESS",
    help="A local Dask cluster, this process alone, or a Dask scheduler address.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=None,
    help="Workers of the local cluster (default: one per core).",
)
@click.option(
    "--checkpoints",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Checkpoint folder (default: OUTPUT.checkpoints, or WORKSPACE-stem_belt.checkpoints).",
)
@click.option("--resume", is_flag=True, help="Continue a run from its checkpoints.")
@click.option(
    "--statistic",
    "statistic_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=None,
    help="Order the toys by a learned statistic (a folder from `nsbi train-statistic`) "
    "instead of the profile likelihood ratio; no toy is fitted.",
)
@_interpolation_option
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the belt as JSON (atomically).",
)
@click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the belt and the t distributions (PNG and PDF) into this folder.",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress bar; print nothing but errors.")
def belt(
    workspace,
    measurement,
    grid,
    toys,
    cls,
    seed,
    construction,
    chunk_size,
    scheduler,
    workers,
    checkpoints,
    resume,
    statistic_dir,
    interpolation,
    output,
    plot_dir,
    quiet,
) -> None:
    """Neyman confidence belt of the POI of WORKSPACE from pseudo-experiments (likelihood-ratio
    ordering, profile construction), and the observed intervals.

    Every chunk of toys is checkpointed; after a kill, the same command with --resume
    computes only what is missing.
    """
    from nsbi.infer.belt import DEFAULT_CL
    from nsbi.infer.distributed import make_client, run_belt

    values = _parse_grid(grid)
    codes = _parse_interpolation(interpolation)
    if checkpoints is None:
        stem = output.with_suffix("") if output else Path(f"{workspace.stem}_belt")
        checkpoints = Path(f"{stem}.checkpoints")
    try:
        client = make_client(scheduler, workers)
        try:
            result = run_belt(
                workspace,
                values,
                toys,
                measurement=measurement,
                interpolation=codes,
                statistic=statistic_dir,
                cl=cls or DEFAULT_CL,
                seed=seed,
                construction=construction,
                chunk_size=chunk_size,
                checkpoints=checkpoints,
                resume=resume,
                client=client,
                progress=not quiet,
            )
        finally:
            if client is not None:
                client.close()
    except NSBIError as error:
        _fail(error)
    if not quiet:
        click.echo(str(result))
        if result.fallbacks:
            click.echo(f"{result.fallbacks} toy fits fell back to iminuit")
    _warn_failed(result.failed_fits, "the belt")
    _write_outputs(result.to_dict(), output, quiet)
    if plot_dir is not None:
        from nsbi.plot import plot_belt, plot_toy_distributions, save_figure

        paths = save_figure(plot_belt(result), plot_dir, "belt")
        paths += save_figure(plot_toy_distributions(result), plot_dir, "belt_toys")
        if not quiet:
            click.echo("wrote " + ", ".join(map(str, paths)))


_calculator_option = click.option(
    "--calculator",
    type=click.Choice(["asymptotics", "toys"]),
    default="asymptotics",
    show_default=True,
    help="Asymptotic formulae (CCGV) or pseudo-experiments (batched fits).",
)
_toys_option = click.option(
    "--toys",
    type=click.IntRange(min=10),
    default=2000,
    show_default=True,
    help="Pseudo-experiments per hypothesis (--calculator toys).",
)
_output_option = click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the result as JSON (atomically).",
)
_plot_option = click.option(
    "--plot",
    "plot_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write figures (PNG and PDF) into this folder.",
)


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--measurement", default=None, help="Measurement to use (default: the first).")
@click.option("--poi-value", type=FINITE, default=1.0, show_default=True, help="Tested POI value.")
@click.option(
    "--test-stat", type=click.Choice(["qtilde", "q"]), default="qtilde", show_default=True
)
@_calculator_option
@_toys_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the toys.")
@_allow_stale_option
@_interpolation_option
@_output_option
@_plot_option
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def cls(
    workspace,
    measurement,
    poi_value,
    test_stat,
    calculator,
    toys,
    seed,
    interpolation,
    output,
    plot_dir,
    quiet,
    allow_stale,
) -> None:
    """CLs of the POI value on WORKSPACE's data, observed and expected (-2..+2 sigma)."""
    from nsbi.infer.hypotest import hypotest

    try:
        model = _model(workspace, measurement, interpolation, allow_stale)
        result = hypotest(
            model, poi_value, test_stat=test_stat, calculator=calculator, toys=toys, seed=seed
        )
    except NSBIError as error:
        _fail(error)
    if not quiet:
        click.echo(str(result))
    _warn_failed(result.failed_fits, "the CLs test")
    _write_outputs(result.to_dict(), output, quiet)
    if plot_dir is not None:
        _plot_statistic(result, plot_dir, "test_statistic", quiet)


def _plot_statistic(result, plot_dir: Path, name: str, quiet: bool) -> None:
    """The test statistic's distributions of a cls/significance result, as ``name``.png/pdf."""
    from nsbi.plot import plot_test_statistic, save_figure

    paths = save_figure(plot_test_statistic(result.distributions), plot_dir, name)
    if not quiet:
        click.echo("wrote " + ", ".join(str(path) for path in paths))


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--measurement", default=None, help="Measurement to use (default: the first).")
@_calculator_option
@click.option(
    "--toys",
    type=click.IntRange(min=10),
    default=10000,
    show_default=True,
    help="Pseudo-experiments per hypothesis (--calculator toys).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the toys.")
@_allow_stale_option
@_interpolation_option
@_output_option
@_plot_option
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def significance(
    workspace,
    measurement,
    calculator,
    toys,
    seed,
    interpolation,
    output,
    plot_dir,
    quiet,
    allow_stale,
) -> None:
    """Discovery significance (q0) of WORKSPACE's data, and the expected one at POI = 1."""
    from nsbi.infer.hypotest import significance as discovery

    try:
        model = _model(workspace, measurement, interpolation, allow_stale)
        result = discovery(model, calculator=calculator, toys=toys, seed=seed)
    except NSBIError as error:
        _fail(error)
    if not quiet:
        click.echo(str(result))
    _warn_failed(result.failed_fits, "the discovery test")
    _write_outputs(result.to_dict(), output, quiet)
    if plot_dir is not None:
        _plot_statistic(result, plot_dir, "q0", quiet)


@cli.command()
@click.argument("workspace", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--measurement", default=None, help="Measurement to use (default: the first).")
@click.option(
    "--cl",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    default=0.95,
    show_default=True,
    help="Confidence level of the limit.",
)
@click.option(
    "--range",
    "poi_range",
    type=FINITE,
    nargs=2,
    callback=ordered_range,
    default=None,
    metavar="LO HI",
    help="Where the limit is searched (default: the POI's bounds from 0).",
)
@click.option(
    "--scan",
    "points",
    type=click.IntRange(min=2),
    default=None,
    help="CLs on this many points of the range, interpolated (default: TOMS 748 root-finding; "
    "required with --calculator toys).",
)
@click.option(
    "--test-stat", type=click.Choice(["qtilde", "q"]), default="qtilde", show_default=True
)
@_calculator_option
@_toys_option
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the toys.")
@_allow_stale_option
@_interpolation_option
@_output_option
@_plot_option
@click.option("--quiet", "-q", is_flag=True, help="Print nothing but errors.")
def limit(
    workspace,
    measurement,
    cl,
    poi_range,
    points,
    test_stat,
    calculator,
    toys,
    seed,
    interpolation,
    output,
    plot_dir,
    quiet,
    allow_stale,
) -> None:
    """CLs upper limit on the POI of WORKSPACE, observed and expected (-2..+2 sigma)."""
    from nsbi.infer.limits import upper_limit

    try:
        model = _model(workspace, measurement, interpolation, allow_stale)
        lo, hi = poi_range or model.parameters.bounds[model.parameters.poi_index or 0]
        scan = None if points is None else np.linspace(max(lo, 0.0), hi, points)
        result = upper_limit(
            model,
            cl=cl,
            range=poi_range,
            scan=scan,
            test_stat=test_stat,
            calculator=calculator,
            toys=toys,
            seed=seed,
        )
    except NSBIError as error:
        _fail(error)
    if not quiet:
        click.echo(str(result))
    _warn_failed(result.failed_fits, "the limit")
    document = result.to_dict()
    _write_outputs(document, output, quiet)
    if plot_dir is not None:
        from nsbi.plot import plot_brazil, save_figure

        paths = save_figure(plot_brazil(result), plot_dir, "brazil")
        if not quiet:
            click.echo("wrote " + ", ".join(map(str, paths)))


from nsbi.cli.statistic import train_statistic  # noqa: E402  (a command of its own module)

cli.add_command(train_statistic)

from nsbi.cli.inspect import inspect  # noqa: E402  (a command of its own module)

cli.add_command(inspect)

if __name__ == "__main__":  # pragma: no cover
    cli()
