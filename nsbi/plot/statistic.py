r"""A learned test statistic against the exact profile likelihood ratio (Fig. 3 of
arXiv:2306.12584): the curves :math:`t(\theta)` of many datasets, the scatter of the learned
against the true statistic, and the two maximum-likelihood estimates."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import axis_label, label, set_style

__all__ = ["plot_learned_statistic"]


def plot_learned_statistic(
    grid: np.ndarray,
    t_learned: np.ndarray,
    t_profile: np.ndarray,
    theta_hat_learned: np.ndarray,
    theta_hat_profile: np.ndarray,
    parameter: str = "theta",
    curves: int = 100,
):
    r"""Three panels: (left) :math:`t_\text{ML}(\theta)` on top of :math:`t_\text{PLR}(\theta)`
    for ``curves`` datasets; (centre) :math:`t_\text{ML}` against :math:`t_\text{PLR}` at every
    grid point, coloured by :math:`\theta`; (right) :math:`\hat\theta_\text{ML}` against
    :math:`\hat\theta_\text{PLR}`. ``t_*`` are ``(B, G)``; the learned statistic is drawn as
    the classifier output :math:`s = \sigma(t_\text{ML}) \in [0, 1]` as in the paper.

    Example:
        >>> grid = np.linspace(3, 7, 9)
        >>> hat = np.random.default_rng(0).normal(5, 0.5, 20)
        >>> t = (grid[None] - hat[:, None]) ** 2
        >>> fig = plot_learned_statistic(grid, t - 3, t, hat, hat)
        >>> len(fig.axes)   # two stacked panels, the scatter, its colour bar, the estimates
        5
    """
    set_style()
    fig = plt.figure(figsize=(18, 5.8))
    outer = fig.add_gridspec(1, 3, wspace=0.3)
    left = outer[0].subgridspec(2, 1, hspace=0.05)
    ax_ml = fig.add_subplot(left[0])
    ax_plr = fig.add_subplot(left[1], sharex=ax_ml)
    ax_scatter = fig.add_subplot(outer[1])
    ax_hat = fig.add_subplot(outer[2])
    s = 1.0 / (1.0 + np.exp(-np.asarray(t_learned)))
    shown = slice(0, min(curves, len(t_profile)))
    ax_ml.plot(grid, s[shown].T, color="C0", alpha=0.15, lw=1)
    ax_plr.plot(grid, t_profile[shown].T, color="C1", alpha=0.15, lw=1)
    ax_ml.set_ylim(0.0, 1.05)
    ax_plr.set_ylim(0.0, None)
    ax_ml.set_ylabel(r"$s_\mathrm{ML}$")
    ax_plr.set_ylabel(r"$t_\mathrm{PLR}$")
    ax_plr.set_xlabel(axis_label(parameter))
    plt.setp(ax_ml.get_xticklabels(), visible=False)
    label(ax_ml, "Simulation")

    colours = np.broadcast_to(grid[None], t_profile.shape)
    points = ax_scatter.scatter(
        t_profile.ravel(), s.ravel(), c=colours.ravel(), s=2, cmap="viridis", rasterized=True
    )
    fig.colorbar(points, ax=ax_scatter, label=axis_label(parameter))
    ax_scatter.set_xlabel(r"$t_\mathrm{PLR}$")
    ax_scatter.set_ylabel(r"$s_\mathrm{ML}$")
    ax_scatter.set_xscale("symlog", linthresh=1.0)
    ax_scatter.set_ylim(0.0, 1.05)

    ax_hat.scatter(theta_hat_profile, theta_hat_learned, s=4, alpha=0.5)
    lo = float(min(np.min(theta_hat_profile), np.min(theta_hat_learned)))
    hi = float(max(np.max(theta_hat_profile), np.max(theta_hat_learned)))
    ax_hat.plot([lo, hi], [lo, hi], color="k", ls="--", lw=1)
    correlation = np.corrcoef(theta_hat_profile, theta_hat_learned)[0, 1]
    ax_hat.text(0.05, 0.92, f"correlation {correlation:.3f}", transform=ax_hat.transAxes)
    name = axis_label(parameter).strip("$")
    ax_hat.set_xlabel(rf"$\hat{{{name}}}_\mathrm{{PLR}}$")
    ax_hat.set_ylabel(rf"$\hat{{{name}}}_\mathrm{{ML}}$")
    return fig
