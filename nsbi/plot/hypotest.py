r"""The distributions of a hypothesis test's statistic (:math:`q_\mu`, :math:`\tilde q_\mu`,
:math:`q_0`) under signal plus background and under background only, with the observed value and
the tails that are the p-values: histograms of the toys, or the asymptotic densities.

The asymptotic densities are the derivatives of the survival functions of
:meth:`nsbi.infer.hypotest.StatisticDistributions.survival`,
:math:`f(q) = -\,dP(q' \ge q)/dq` for :math:`q > 0`; the point mass at :math:`q = 0` (the
fraction of experiments whose best fit lies beyond the tested value) is not drawn.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import label, set_style

__all__ = ["plot_test_statistic", "plot_training_history"]

_SYMBOL = {"q": r"q_{\mu}", "qtilde": r"\tilde{q}_{\mu}", "q0": r"q_{0}"}


def plot_test_statistic(distributions, ax=None):
    r"""The statistic's distributions of one test (``result.distributions`` of
    :func:`nsbi.infer.hypotest.hypotest` or :func:`~nsbi.infer.hypotest.significance`) on a
    logarithmic density axis, the observed value as a vertical line and the legend giving each
    tail probability (CLs+b and CLb; for :math:`q_0`, the p-value under background only).

    Example:
        >>> from nsbi.infer.hypotest import StatisticDistributions
        >>> fig = plot_test_statistic(StatisticDistributions("qtilde", 2.0, asimov=4.0,
        ...                                                  poi_value=1.0))
        >>> fig.axes[0].get_xlabel()
        '$\\tilde{q}_{\\mu}$'
    """
    set_style()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 5.5))
    else:
        fig = ax.figure
    d = distributions
    symbol = _SYMBOL.get(d.name, d.name)
    discovery = d.name == "q0"
    names = (
        (r"signal ($\mu = 1$): $P(q_0 \geq q_0^\mathrm{obs})$", "background only: $p_0$")
        if discovery
        else (
            rf"signal + background ($\mu = {d.poi_value:g}$): CL$_{{s+b}}$",
            "background only: CL$_b$",
        )
    )
    colors = ("tab:blue", "tab:red")
    if d.asimov is None:  # toys
        samples = [np.asarray(d.alternative, float), np.asarray(d.null, float)]
        top = max(np.percentile(np.concatenate(samples), 99.5), 1.5 * d.observed, 1.0)
        bins = np.linspace(0.0, top, 51)
        for values, name, color in zip(samples, names, colors, strict=True):
            tail = float(np.mean(values >= d.observed))
            ax.hist(values, bins=bins, density=True, histtype="step",
                    color=color, label=f"{name} = {tail:.3g} ({len(values)} toys)")  # fmt: skip
    else:
        top = max(3.0 * d.observed, 3.0 * d.asimov, 10.0)
        q = np.linspace(top / 2000, top, 2000)
        tails = [float(v[0]) for v in d.survival(np.array([d.observed]))]
        for sf, name, color, tail in zip(d.survival(q), names, colors, tails, strict=True):
            density = -np.gradient(sf, q)
            ax.plot(q, density, color=color, label=f"{name} = {tail:.3g} (asymptotic)")
            beyond = q >= d.observed
            ax.fill_between(q[beyond], density[beyond], color=color, alpha=0.2, lw=0)
    ax.axvline(d.observed, color="black", lw=1.5, label=rf"observed ${symbol} = {d.observed:.3g}$")
    ax.set_yscale("log")
    ax.set_xlim(0, top)
    ax.set_xlabel(rf"${symbol}$")
    ax.set_ylabel("probability density")
    ax.legend(loc="upper right", fontsize="small")
    label(ax)
    return fig


def plot_training_history(steps, validation_loss, best_step=None, title="validation loss"):
    """Validation loss against the training step, the best (kept) step marked.

    Example:
        >>> fig = plot_training_history([100, 200, 300], [0.69, 0.60, 0.62], best_step=200)
        >>> fig.axes[0].get_xlabel()
        'training step'
    """
    set_style()
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.plot(steps, validation_loss, marker="o", ms=3, color="black", label=title)
    if best_step is not None and best_step in list(steps):
        k = list(steps).index(best_step)
        ax.plot([best_step], [validation_loss[k]], "o", color="tab:red", ms=8, mfc="none",
                label=f"kept: step {best_step}")  # fmt: skip
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    ax.legend(fontsize="small")
    label(ax, "Simulation")
    return fig
