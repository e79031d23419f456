r"""Profile-likelihood scans: :math:`t(\mu) = 2\Delta\mathrm{NLL}` with 68% and 95% CL lines."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import axis_label, label, set_style

__all__ = ["plot_scan"]


def plot_scan(
    scans: Sequence[tuple[str, Sequence[float], Sequence[float]]],
    parameter: str = "mu",
    ax=None,
    levels: Sequence[float] = (1.0, 3.84),
):
    r"""Overlay scans given as ``(legend label, values, t)``; returns the figure.

    Example:
        >>> import numpy as np
        >>> mu = np.linspace(0, 2, 11)
        >>> fig = plot_scan([("toy", mu, (mu - 1) ** 2)])
        >>> fig.axes[0].get_ylabel()
        '$-2\\Delta\\ln L$'
    """
    set_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 5.5))
    else:
        fig = ax.figure
    top = 0.0
    for name, values, t in scans:
        ax.plot(values, t, marker="o", markersize=3, label=name)
        finite = np.asarray(t, dtype=float)[np.isfinite(t)]
        if finite.size:
            top = max(top, float(finite.max()))
    for level in levels:
        ax.axhline(level, color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel(axis_label(parameter))
    ax.set_ylabel(r"$-2\Delta\ln L$")
    ax.set_ylim(0, max(top * 1.15, levels[-1] * 1.3))
    ax.legend(loc="upper right")
    label(ax)
    return fig
