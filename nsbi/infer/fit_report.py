"""Everything ``nsbi fit`` computes, in one object: the fit (observed or Asimov), its
MC-statistical uncertainty, pulls, and optionally a profile scan and the ranking of the
nuisance parameters; with its warnings, its text and its JSON (:meth:`FitReport.to_dict`).

Notebooks call :func:`fit_report` as the command does; figures come from
:func:`nsbi.plot.fit.plot_fit_report`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nsbi.infer.asimov import asimov_model
from nsbi.infer.mc_stat import MCStatUncertainty, fit_with_mc_stat
from nsbi.infer.minimize import DEFAULT_TOLERANCE, FitResult
from nsbi.infer.profile import ProfileScan, scan
from nsbi.infer.ranking import Impact, pulls, ranking
from nsbi.model import Model

__all__ = ["FitReport", "fit_report"]


@dataclass
class FitReport:
    """The result of :func:`fit_report`.

    Attributes:
        result: the fit whose values and errors are reported (the extended model's when the
            MC-statistical uncertainty is propagated).
        model: the model that fit belongs to.
        poi: the nominal model's POI (``None`` without one).
        mc_stat: the MC-statistical uncertainty (``None`` when off).
        mc_stat_propagated: whether it is in ``result``'s errors.
        pulls: ``{name: (pull, constraint)}`` of the free constrained parameters.
        profile: the profile scan, if asked for.
        impacts: the ranking, if asked for.
        asimov: whether the Asimov dataset was fitted.
    """

    result: FitResult
    model: Model
    poi: str | None
    mc_stat: MCStatUncertainty | None
    mc_stat_propagated: bool
    pulls: dict[str, tuple[float, float]]
    profile: ProfileScan | None = None
    impacts: list[Impact] | None = None
    asimov: bool = False

    def statistical_error(self, name: str | None) -> float:
        """The statistical error of ``name``: the fit's, less the MC-statistical part when the
        latter was propagated into it."""
        if name is None:
            return 0.0
        total = self.result.error(name)
        if self.mc_stat is not None and self.mc_stat_propagated:
            return float(np.sqrt(max(total**2 - self.mc_stat.error(name) ** 2, 0.0)))
        return total

    def warnings(self) -> list[str]:
        """What the user must hear even under ``--quiet``: an invalid fit or covariance,
        failed fits of the replicas, the scan or the ranking, and an MC-statistical error
        above a fifth of the statistical one."""
        out = []
        if not self.result.valid:
            out.append(f"the fit is not valid: {'; '.join(self.result.reasons)}")
        elif self.result.reasons:
            out.append(f"the covariance is not accurate: {'; '.join(self.result.reasons)}")
        failed = (
            "{} of the fits of {} are not valid (failed_fits in the JSON); the numbers rest on "
            "them all the same"
        )
        if self.mc_stat is not None:
            if self.mc_stat.failed_fits:
                out.append(failed.format(self.mc_stat.failed_fits, "the bootstrap replicas"))
            statistical = self.statistical_error(self.poi)
            warning = (
                self.mc_stat.warning(self.poi, statistical)
                if self.poi and statistical > 0
                else None
            )
            if warning:
                out.append(warning)
        if self.profile is not None:
            scan_failed = sum(not f.valid for f in self.profile.fits)  # the best fit is above
            if scan_failed:
                out.append(failed.format(scan_failed, f"the scan of {self.profile.parameter}"))
        if self.impacts is not None and sum(i.failed_fits for i in self.impacts):
            out.append(failed.format(sum(i.failed_fits for i in self.impacts), "the ranking"))
        return out

    def _mc_stat_lines(self) -> list[str]:
        fixed = dict(zip(self.result.names, self.result.fixed, strict=True))
        names = [n for n in self.mc_stat.names if not fixed[n]]
        width = max((len(n) for n in names), default=8) + 2
        lines = [f"MC-statistical uncertainty ({self.mc_stat.replicas} bootstrap replicas):"]
        for name in names:
            mark = " *" if name == self.poi else ""
            lines.append(
                f"  {name + mark:<{width}}  MC stat {self.mc_stat.error(name):.4g}   "
                f"statistical {self.statistical_error(name):.4g}"
            )
        return lines

    def _scan_lines(self) -> list[str]:
        profile = self.profile
        lines = [f"\nprofile scan of {profile.parameter}:"]
        for v, t, f in zip(profile.values, profile.t, profile.fits, strict=True):
            lines.append(f"  {v:>10.4g}  t = {t:10.4f}{'' if f.valid else '  (fit not valid)'}")
        lo, hi = profile.interval(1.0)
        lines.append(f"  68.3% CL interval (t < 1): [{lo:.4g}, {hi:.4g}]")
        return lines

    def _ranking_lines(self) -> list[str]:
        lines = [
            f"\nranking by post-fit impact on {self.model.parameters.poi}:",
            f"  {'parameter':<24}{'pull':>8}{'constr.':>9}{'pre +':>10}{'pre -':>10}"
            f"{'post +':>10}{'post -':>10}",
        ]
        for i in self.impacts:
            pull, constraint = self.pulls.get(i.name, (float("nan"), float("nan")))
            lines.append(
                f"  {i.name:<24}{pull:>8.3f}{constraint:>9.3f}{i.prefit_up:>+10.4f}"
                f"{i.prefit_down:>+10.4f}{i.postfit_up:>+10.4f}{i.postfit_down:>+10.4f}"
            )
        return lines

    def __str__(self) -> str:
        lines = [str(self.result)]
        if self.mc_stat is not None:
            lines += self._mc_stat_lines()
        if self.profile is not None:
            lines += self._scan_lines()
        if self.impacts is not None:
            lines += self._ranking_lines()
        return "\n".join(lines)

    def to_dict(self) -> dict:
        """The fit's JSON (:meth:`FitResult.to_dict`) with ``correlation`` and ``pulls``, and
        ``mc_stat``, ``ranking`` and ``scan`` when computed."""
        document = self.result.to_dict()
        if self.mc_stat is not None:
            document["mc_stat"] = {**self.mc_stat.to_dict(), "propagated": self.mc_stat_propagated}
        document["correlation"] = self.result.correlation.tolist()
        document["pulls"] = {
            name: {"pull": pull, "constraint": constraint}
            for name, (pull, constraint) in self.pulls.items()
        }
        if self.impacts is not None:
            document["ranking"] = [i.to_dict() for i in self.impacts]
        if self.profile is not None:
            document["scan"] = {
                "parameter": self.profile.parameter,
                "values": self.profile.values.tolist(),
                "t": self.profile.t.tolist(),
                "failed_fits": self.profile.failed_fits,
            }
        return document


def fit_report(
    model: Model,
    *,
    fix: dict[str, float] | None = None,
    asimov: bool = False,
    asimov_poi: float | None = None,
    minos: bool | Sequence[str] = False,
    mc_stat: str = "auto",
    scan_parameter: str | None = None,
    scan_range: tuple[float, float] | None = None,
    points: int = 21,
    rank: bool = False,
    tolerance: float | None = None,
    progress: bool = False,
) -> FitReport:
    """The fit ``nsbi fit`` makes, with what it reports.

    Arguments:
        model: the model, bound to the observed data.
        fix: parameters held at values.
        asimov: fit the Asimov dataset of the model at its inits (with ``fix`` applied);
            ``asimov_poi`` sets the POI of that dataset (and implies ``asimov``).
        minos: MINOS for every free parameter (``True``) or for these.
        mc_stat: ``"auto"``, ``"off"``, ``"report"`` or ``"propagate"``
            (:func:`nsbi.infer.mc_stat.fit_with_mc_stat`).
        scan_parameter: profile this parameter over ``points`` values of ``scan_range``
            (default: its bounds).
        rank: rank the constrained nuisance parameters by their impact on the POI.
        tolerance: MIGRAD's (default :data:`~nsbi.infer.minimize.DEFAULT_TOLERANCE`).
        progress: progress bars.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([5.0], [50.0], [7.0], observed=[55])
        >>> report = fit_report(Model.from_workspace(ws), scan_parameter="mu", points=5)
        >>> document = report.to_dict()
        >>> report.warnings(), len(document["scan"]["t"]), "pulls" in document
        ([], 5, True)
    """
    tolerance = tolerance or DEFAULT_TOLERANCE
    fixed = dict(fix or {})
    asimov = asimov or asimov_poi is not None
    if asimov:
        values = dict(fixed)
        if asimov_poi is not None:
            values[model.parameters.poi] = asimov_poi
        model = asimov_model(model, values)
    minos_arg = list(minos) if not isinstance(minos, bool) else minos
    poi = model.parameters.poi
    result, uncertainty, fitted = fit_with_mc_stat(
        model, mc_stat, fix=fixed, minos=minos_arg, tolerance=tolerance, progress=progress
    )
    profile = None
    if scan_parameter is not None:
        index = fitted.parameters.index(scan_parameter)
        lo, hi = scan_range if scan_range else fitted.parameters.bounds[index]
        profile = scan(
            fitted, scan_parameter, np.linspace(lo, hi, points), fix=fixed, best_fit=result,
            tolerance=tolerance, progress=progress,
        )  # fmt: skip
    impacts = ranking(fitted, result, tolerance=tolerance) if rank else None
    return FitReport(
        result=result,
        model=fitted,
        poi=poi,
        mc_stat=uncertainty,
        mc_stat_propagated=uncertainty is not None and fitted is not model,
        pulls=pulls(fitted, result),
        profile=profile,
        impacts=impacts,
        asimov=asimov,
    )
