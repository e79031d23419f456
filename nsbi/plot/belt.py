r"""Neyman belts: critical values :math:`t_c(\mu)` against the observed :math:`t_\mu`, and the
toys' :math:`t_\mu` distributions beside the asymptotic :math:`\chi^2_1` (Wilks)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats

from nsbi.plot.style import axis_label, label, set_style

__all__ = ["plot_belt", "plot_toy_distributions"]


def plot_belt(belt, ax=None):
    r"""Critical values at each CL with their binomial uncertainty bands, the asymptotic
    (:math:`\chi^2_1`) critical values dashed, the observed :math:`t_\mu` and the observed
    intervals; returns the figure.

    Example:
        >>> import numpy as np
        >>> from nsbi.infer.belt import Belt
        >>> rng = np.random.default_rng(0)
        >>> grid = np.linspace(0, 2, 5)
        >>> belt = Belt("mu", grid, [0.6827], rng.chisquare(1, (5, 500)), (grid - 1) ** 2)
        >>> fig = plot_belt(belt)
        >>> fig.axes[0].get_ylabel()
        '$t_\\mu$'
    """
    set_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 5.5))
    else:
        fig = ax.figure
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    top = 0.0
    for i, cl in enumerate(belt.cl):
        color = colors[(i + 1) % len(colors)]
        value, error = belt.critical_values(cl)
        ax.fill_between(belt.grid, value - error, value + error, color=color, alpha=0.3, lw=0)
        ax.plot(belt.grid, value, color=color, marker="o", ms=3, label=f"$t_c$, {cl:.2%} CL")
        if belt.statistic == "tmu":
            ax.axhline(stats.chi2.ppf(cl, 1), color=color, ls="--", lw=1)
        top = max(top, float(np.max(value + error)))
        if belt.observed is not None:
            lo, hi = belt.interval(cl)
            if np.isfinite(lo):
                ax.axvspan(lo, hi, color=color, alpha=0.08)
    if belt.observed is not None:
        ax.plot(belt.grid, belt.observed, color="black", marker="s", ms=3, label="observed")
        top = max(top, float(np.max(belt.observed)))
    learned = belt.statistic != "tmu"
    if learned:
        values = [belt.critical_values(c)[0] for c in belt.cl]
        bottom = float(np.min([np.min(v) for v in values]))
        if belt.observed is not None:
            bottom = min(bottom, float(np.min(belt.observed)))
        span = max(top - bottom, 1e-9)
        ax.set_ylim(bottom - 0.1 * span, top + 0.3 * span)
    else:
        ax.plot([], [], color="grey", ls="--", lw=1, label=r"$\chi^2_1$ quantiles")
        ax.set_ylim(0, top * 1.3 if top > 0 else 1)
    ax.set_xlabel(axis_label(belt.poi))
    ax.set_ylabel(r"$t_\mathrm{ML}$" if learned else r"$t_\mu$")
    ax.set_xlim(belt.grid[0], belt.grid[-1])
    ax.legend(loc="upper right", fontsize="small")
    label(ax)
    return fig


def plot_toy_distributions(belt, indices: Sequence[int] | None = None, bins: int = 40):
    r"""Histograms of the toys' :math:`t_\mu` at up to four grid points (default: spread over
    the grid), normalised to densities, with the :math:`\chi^2_1` density and the critical
    values; returns the figure.

    Example:
        >>> import numpy as np
        >>> from nsbi.infer.belt import Belt
        >>> toys = np.random.default_rng(0).chisquare(1, (3, 400))
        >>> fig = plot_toy_distributions(Belt("mu", np.array([0.0, 1.0, 2.0]), [0.6827], toys))
        >>> len(fig.axes)
        3
    """
    set_style()
    if indices is None:
        indices = sorted(
            set(np.linspace(0, len(belt.grid) - 1, min(4, len(belt.grid))).astype(int))
        )
    fig, axes = plt.subplots(1, len(indices), figsize=(4.2 * len(indices), 4.2), squeeze=False)
    for ax, g in zip(axes[0], indices, strict=True):
        t = belt.toys[g]
        if belt.statistic == "tmu":
            upper = max(float(np.quantile(t, 0.995)), stats.chi2.ppf(0.99, 1))
            edges = np.linspace(0, upper, bins + 1)
        else:
            edges = np.linspace(float(np.min(t)), float(np.quantile(t, 0.995)), bins + 1)
        ax.hist(t, bins=edges, density=True, histtype="step", color="black", label="toys")
        if belt.statistic == "tmu":
            x = np.linspace(edges[1] / 4, upper, 400)
            ax.plot(x, stats.chi2.pdf(x, 1), color="tab:blue", label=r"$\chi^2_1$")
        for cl in belt.cl:
            ax.axvline(belt.critical_values(cl)[0][g], color="tab:red", ls=":", lw=1)
        ax.set_yscale("log")
        ax.set_xlabel(r"$t_\mu$" if belt.statistic == "tmu" else r"$t_\mathrm{ML}$")
        ax.set_title(f"{axis_label(belt.poi)} = {belt.grid[g]:.3g}", fontsize="medium")
    axes[0][0].set_ylabel("density")
    axes[0][0].legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    return fig
