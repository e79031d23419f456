"""The figures of a whole result, saved into a folder (PNG and PDF): what ``--plot DIR`` of each
``nsbi`` command writes, callable from notebooks. Each returns the paths it wrote."""

from __future__ import annotations

from pathlib import Path

from nsbi.plot.belt import plot_belt, plot_toy_distributions
from nsbi.plot.diagnostics import plot_calibration, plot_closure
from nsbi.plot.fit import plot_correlation, plot_pulls
from nsbi.plot.hypotest import plot_test_statistic
from nsbi.plot.limits import plot_brazil
from nsbi.plot.ranking import plot_ranking
from nsbi.plot.scan import plot_scan
from nsbi.plot.style import save_figure

__all__ = [
    "save_fit_figures",
    "save_diagnosis_figures",
    "save_belt_figures",
    "save_statistic_figures",
    "save_limit_figures",
]


def save_fit_figures(report, directory: str | Path) -> list[Path]:
    """A :class:`~nsbi.infer.fit_report.FitReport`: the scan (when made), the ranking (when
    made), the correlation matrix, and the pulls (when there are constrained parameters)."""
    paths = []
    if report.profile is not None:
        label = "Asimov" if report.asimov else "observed"
        profile = report.profile
        figure = plot_scan([(label, profile.values, profile.t)], parameter=profile.parameter)
        paths += save_figure(figure, directory, f"scan_{profile.parameter}")
    if report.impacts is not None:
        figure = plot_ranking(report.impacts, report.pulls, poi=report.model.parameters.poi)
        paths += save_figure(figure, directory, "ranking")
    names = report.model.parameters.names
    paths += save_figure(
        plot_correlation(names, report.result.correlation, threshold=0.05),
        directory,
        "correlation",
    )
    if report.pulls:
        paths += save_figure(plot_pulls(report.pulls), directory, "pulls")
    return paths


def save_diagnosis_figures(diagnoses, directory: str | Path) -> list[Path]:
    """:func:`~nsbi.workflows.diagnose_workspace`'s results: each ensemble's closure per
    observable and its calibration."""
    paths = []
    for result in diagnoses:
        stem = f"{result.channel}_{result.sample}"
        title = f"{result.channel}/{result.sample}"
        for histogram in result.closure:
            paths += save_figure(
                plot_closure(histogram, title), directory, f"closure_{stem}_{histogram.observable}"
            )
        paths += save_figure(plot_calibration(result.calibration, title), directory,
                             f"calibration_{stem}")  # fmt: skip
    return paths


def save_belt_figures(belt, directory: str | Path) -> list[Path]:
    """A :class:`~nsbi.infer.belt.Belt`: the belt and the toys' distributions of t."""
    paths = save_figure(plot_belt(belt), directory, "belt")
    return paths + save_figure(plot_toy_distributions(belt), directory, "belt_toys")


def save_statistic_figures(result, directory: str | Path, name: str) -> list[Path]:
    """A hypothesis test's (``nsbi cls``, ``nsbi significance``) distributions of its test
    statistic, as ``name``."""
    return save_figure(plot_test_statistic(result.distributions), directory, name)


def save_limit_figures(limit, directory: str | Path) -> list[Path]:
    """An :class:`~nsbi.infer.limits.UpperLimit`: the Brazil band."""
    return save_figure(plot_brazil(limit), directory, "brazil")
