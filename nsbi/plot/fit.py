r"""What a fit leaves: the pulls and constraints of the nuisance parameters, and the correlation
matrix of all parameters (as cabinetry draws them).

A pull is :math:`(\hat\theta - \theta_0)/\Delta\theta`, the best fit's distance from the
nominal value in units of the pre-fit uncertainty; its error bar is the constraint
:math:`\hat\sigma_\theta / \Delta\theta` (1: the data say nothing about the parameter beyond its
constraint term; below 1: the data constrain it).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import label, set_style

__all__ = ["plot_pulls", "plot_correlation"]


def plot_pulls(pulls: dict[str, tuple[float, float]], ax=None):
    """Pulls with their constraints as error bars, one row per nuisance parameter (in the
    given order), over the +-1 and +-2 bands.

    Example:
        >>> fig = plot_pulls({"alpha_jes": (0.3, 0.8), "alpha_lumi": (-0.1, 0.95)})
        >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]
        ['alpha_jes', 'alpha_lumi']
    """
    set_style()
    names = list(pulls)
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 1.5 + 0.35 * max(len(names), 1)))
    else:
        fig = ax.figure
    y = np.arange(len(names))[::-1]
    values = np.array([pulls[n][0] for n in names], dtype=float)
    errors = np.array([pulls[n][1] for n in names], dtype=float)
    ax.axvspan(-2, 2, color="#fde725", lw=0)
    ax.axvspan(-1, 1, color="#35b779", lw=0)
    ax.axvline(0, color="black", lw=0.8, ls="--")
    ax.errorbar(values, y, xerr=errors, fmt="o", color="black", ms=4, capsize=0)
    ax.set_yticks(y)
    ax.set_yticklabels(names)
    ax.set_ylim(-0.7, len(names) - 0.3)
    ax.set_xlim(-3, 3)
    ax.set_xlabel(r"$(\hat\theta - \theta_0) / \Delta\theta$")
    ax.tick_params(axis="y", which="minor", left=False, right=False)
    label(ax)
    fig.tight_layout()
    return fig


def plot_correlation(names, correlation, threshold: float = 0.0, ax=None):
    """The correlation matrix of the fitted parameters, annotated; parameters whose largest
    off-diagonal correlation stays below ``threshold`` in absolute value are left out (cabinetry's
    pruning), so large models stay readable.

    Example:
        >>> c = np.array([[1.0, 0.4, 0.0], [0.4, 1.0, 0.05], [0.0, 0.05, 1.0]])
        >>> fig = plot_correlation(["mu", "a", "b"], c, threshold=0.1)
        >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
        ['mu', 'a']
    """
    set_style()
    correlation = np.asarray(correlation, dtype=float)
    names = list(names)
    off = np.abs(correlation - np.diag(np.diag(correlation)))
    keep = (
        np.where(off.max(axis=1, initial=0.0) >= threshold)[0]
        if threshold > 0
        else np.arange(len(names))
    )
    if len(keep) == 0:
        keep = np.arange(len(names))
    matrix = correlation[np.ix_(keep, keep)]
    labels = [names[k] for k in keep]
    n = len(labels)
    if ax is None:
        size = 3.5 + 0.45 * n
        fig, ax = plt.subplots(figsize=(size, size))
    else:
        fig = ax.figure
    image = ax.imshow(matrix, cmap="RdBu_r", vmin=-1, vmax=1)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="correlation")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(labels, rotation=90)
    ax.set_yticklabels(labels)
    ax.tick_params(which="both", length=0)
    if n <= 20:
        for i in range(n):
            for j in range(n):
                value = matrix[i, j]
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if abs(value) > 0.6 else "black")  # fmt: skip
    label(ax)
    fig.tight_layout()
    return fig
