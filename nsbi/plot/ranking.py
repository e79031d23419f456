r"""The ranking plot: impacts :math:`\Delta\hat\mu` of the top nuisance parameters (bars, top
axis) and their pulls :math:`(\hat\theta-\theta_0)/\sigma` with constraints
:math:`\hat\sigma/\sigma` (points, bottom axis), as in cabinetry's ``visualize.ranking``."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import set_style

__all__ = ["plot_ranking"]


def plot_ranking(
    impacts: Sequence, pulls: dict[str, tuple[float, float]], poi: str = "mu", top: int = 20
):
    """Draw the ``top`` entries of :func:`nsbi.infer.ranking.ranking`; returns the figure.

    Example:
        >>> from nsbi.infer.ranking import Impact
        >>> fig = plot_ranking([Impact("a", 0.1, 0.8, 1.0, 0.2, -0.15, 0.16, -0.12)],
        ...                    {"a": (0.1, 0.8)})
        >>> len(fig.axes)
        2
    """
    set_style()
    impacts = list(impacts)[:top][::-1]
    n = len(impacts)
    fig, ax_pulls = plt.subplots(figsize=(8, 1.2 + 0.45 * max(n, 1)))
    ax_impact = ax_pulls.twiny()
    y = np.arange(n)
    for attribute, color, alpha, fill in (
        ("prefit_up", "C0", 0.35, True),
        ("prefit_down", "C1", 0.35, True),
        ("postfit_up", "C0", 1.0, False),
        ("postfit_down", "C1", 1.0, False),
    ):
        values = [getattr(i, attribute) for i in impacts]
        ax_impact.barh(
            y,
            values,
            height=0.7,
            color=color if fill else "none",
            alpha=alpha,
            edgecolor=color,
            linewidth=1.2,
            label=attribute.replace("_", " ")
            .replace("prefit", "pre-fit")
            .replace("postfit", "post-fit"),
        )
    limit = max(
        [
            abs(getattr(i, a))
            for i in impacts
            for a in ("prefit_up", "prefit_down", "postfit_up", "postfit_down")
        ]
        + [1e-9]
    )
    ax_impact.set_xlim(-1.3 * limit, 1.3 * limit)
    ax_impact.set_xlabel(
        rf"$\Delta\hat{{\{poi}}}$" if poi in ("mu", "theta") else rf"$\Delta\hat{{{poi}}}$"
    )
    pull = np.array([pulls.get(i.name, (np.nan, np.nan))[0] for i in impacts])
    constraint = np.array([pulls.get(i.name, (np.nan, np.nan))[1] for i in impacts])
    ax_pulls.errorbar(pull, y, xerr=constraint, fmt="o", color="k", label="pull")
    ax_pulls.set_xlim(-2, 2)
    ax_pulls.axvline(0, color="grey", linewidth=0.8)
    for edge in (-1, 1):
        ax_pulls.axvline(edge, color="grey", linestyle="--", linewidth=0.8)
    ax_pulls.set_yticks(y, [i.name for i in impacts])
    ax_pulls.set_xlabel(r"$(\hat\theta - \theta_0)/\Delta\theta$")
    ax_pulls.set_ylim(-0.7, n - 0.3)
    ax_impact.legend(loc="lower right", fontsize="x-small", ncol=2)
    fig.tight_layout()
    return fig
