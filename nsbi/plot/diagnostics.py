"""Figures of the ratio diagnostics: reweighting closure and calibration."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import label, set_style

__all__ = ["plot_closure", "plot_calibration"]


def plot_closure(histogram, title: str = ""):
    """Target, reference and reweighted reference in one observable, with their ratio below.

    ``histogram`` is a :class:`nsbi.ratios.diagnostics.ClosureHistogram`.
    """
    set_style()
    fig, (ax, ratio_ax) = plt.subplots(
        2, 1, figsize=(7, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1], "hspace": 0.05}
    )
    h = histogram
    centres = 0.5 * (h.edges[1:] + h.edges[:-1])
    ax.stairs(h.reference, h.edges, label="reference", color="grey", linestyle="--")
    ax.stairs(h.target, h.edges, label="target", color="black")
    ax.errorbar(
        centres,
        h.reweighted,
        h.reweighted_error,
        fmt="o",
        markersize=3,
        label=rf"reference $\times\,\hat r$ ($\chi^2$/ndf = {h.chi2_per_ndf:.2f})",
    )
    ax.set_ylabel("fraction of events")
    ax.legend(loc="upper right", fontsize="small", title=title or None)
    label(ax)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = h.reweighted / h.target
        error = h.reweighted_error / h.target
    ratio_ax.errorbar(centres, ratio, error, fmt="o", markersize=3)
    ratio_ax.axhline(1.0, color="black", linewidth=1)
    ratio_ax.set_ylim(0.8, 1.2)
    ratio_ax.set_ylabel("rw / target")
    ratio_ax.set_xlabel(h.observable)
    return fig


def plot_calibration(curve, title: str = ""):
    """Observed numerator fraction against the mean predicted score (a
    :class:`nsbi.ratios.diagnostics.CalibrationCurve`)."""
    set_style()
    fig, ax = plt.subplots(figsize=(6.5, 6))
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="perfect calibration")
    ax.errorbar(
        curve.predicted,
        curve.observed,
        curve.observed_error,
        fmt="o-",
        markersize=4,
        label=title or "ensemble",
    )
    ax.set_xlabel(r"mean predicted $\hat s = \hat r / (1 + \hat r)$")
    ax.set_ylabel("observed fraction of target weight")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    label(ax)
    return fig
