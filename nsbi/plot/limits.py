r"""The "Brazil band": observed and expected CLs against the POI, with the test size
:math:`\alpha = 1 - \mathrm{CL}` and the limits where CLs crosses it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import axis_label, label, set_style

__all__ = ["plot_brazil"]


def plot_brazil(limit, ax=None):
    r"""Observed CLs (solid), expected (dashed) with its +-1 sigma (green) and +-2 sigma
    (yellow) bands, the line CLs = 1 - CL and the observed limit; returns the figure.

    Example:
        >>> import numpy as np
        >>> from nsbi.infer.hypotest import HypoTest
        >>> from nsbi.infer.limits import UpperLimit
        >>> mu = np.linspace(0, 3, 7)
        >>> band = np.array([0.4, 0.7, 1.0, 1.3, 1.6])
        >>> results = [HypoTest("qtilde", m, np.exp(-2 * m), list(np.exp(-2 * m) * band),
        ...                     0.0, 0.0, "asymptotics") for m in mu]
        >>> fig = plot_brazil(UpperLimit("mu", 0.95, 1.5, [1, 1.2, 1.5, 1.8, 2], mu, results, "scan"))
        >>> fig.axes[0].get_ylabel()
        '$\\mathrm{CL}_s$'
    """
    set_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 5.5))
    else:
        fig = ax.figure
    x, band = limit.scan, limit.cls_exp
    ax.fill_between(x, band[0], band[4], color="#fde725", lw=0, label=r"expected $\pm 2\sigma$")
    ax.fill_between(x, band[1], band[3], color="#35b779", lw=0, label=r"expected $\pm 1\sigma$")
    ax.plot(x, band[2], color="black", ls="--", label="expected")
    ax.plot(x, limit.cls_obs, color="black", marker="o", ms=3, label="observed")
    alpha = 1 - limit.cl
    ax.axhline(alpha, color="tab:red", lw=1, label=rf"$\mathrm{{CL}}_s = {alpha:g}$")
    if np.isfinite(limit.observed):
        ax.axvline(limit.observed, color="tab:red", ls=":", lw=1)
    ax.set_xlabel(axis_label(limit.poi))
    ax.set_ylabel(r"$\mathrm{CL}_s$")
    ax.set_xlim(x[0], x[-1])
    ax.set_ylim(0, 1.05)
    ax.legend(loc="upper right", fontsize="small")
    label(ax)
    return fig
