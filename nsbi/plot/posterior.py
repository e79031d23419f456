r"""Posteriors over event ensembles: their widths against the dataset size :math:`N` (Fig. 2 of
arXiv:2306.12584) and the evolution of one dataset's posterior as its events arrive."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import label, set_style

__all__ = ["plot_width_vs_size", "plot_posterior_evolution"]


def plot_width_vs_size(
    sizes: np.ndarray,
    widths: np.ndarray,
    exact: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    ax=None,
):
    """The median and middle-68% band over test datasets of the posterior standard deviation
    of each parameter against :math:`N`: ``widths`` ``(datasets, len(sizes), P)``, ``exact``
    ``(len(sizes), P)`` dashed.

    Example:
        >>> n = np.array([1, 10, 100])
        >>> w = np.random.default_rng(0).normal(1, 0.1, (50, 3, 2)) / np.sqrt(n)[None, :, None]
        >>> plot_width_vs_size(n, w, 1 / np.sqrt(n)[:, None].repeat(2, 1)).axes[0].get_xscale()
        'log'
    """
    set_style()
    fig, ax = plt.subplots(figsize=(7, 5.5)) if ax is None else (ax.figure, ax)
    P = widths.shape[-1]
    names = list(names) if names is not None else [rf"$\theta_{k + 1}$" for k in range(P)]
    for k in range(P):
        lo, mid, hi = np.quantile(widths[..., k], [0.16, 0.5, 0.84], axis=0)
        line = ax.plot(sizes, mid, label=names[k])[0]
        ax.fill_between(sizes, lo, hi, color=line.get_color(), alpha=0.25, lw=0)
        if exact is not None:
            ax.plot(sizes, exact[:, k], color=line.get_color(), ls="--", lw=1)
    if exact is not None:
        ax.plot([], [], color="grey", ls="--", lw=1, label="exact")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("$N$ (events in the dataset)")
    ax.set_ylabel(r"posterior $\sigma$")
    ax.legend(loc="upper right", fontsize="small")
    label(ax, "Simulation")
    return fig


def plot_posterior_evolution(
    sizes: np.ndarray,
    means: np.ndarray,
    stds: np.ndarray,
    truth: np.ndarray | None = None,
    exact_means: np.ndarray | None = None,
    exact_stds: np.ndarray | None = None,
    names: Sequence[str] | None = None,
):
    """One dataset's posterior mean and :math:`\\pm1\\sigma` band per parameter as its first
    :math:`N` events are seen (``means``, ``stds`` ``(len(sizes), P)``), with the truth and the
    exact posterior if known.

    Example:
        >>> n = np.arange(1, 50)
        >>> fig = plot_posterior_evolution(n, np.zeros((49, 2)), 1 / np.sqrt(n)[:, None] * [1, 2])
        >>> len(fig.axes)
        2
    """
    set_style()
    P = means.shape[1]
    fig, axes = plt.subplots(P, 1, figsize=(7, 2.6 * P + 1), sharex=True, squeeze=False)
    names = list(names) if names is not None else [rf"$\theta_{k + 1}$" for k in range(P)]
    for k, ax in enumerate(axes[:, 0]):
        ax.plot(sizes, means[:, k], color="C0", label="deep set")
        ax.fill_between(sizes, means[:, k] - stds[:, k], means[:, k] + stds[:, k], color="C0",
                        alpha=0.25, lw=0)  # fmt: skip
        if exact_means is not None:
            ax.plot(sizes, exact_means[:, k], color="k", ls="--", lw=1, label="exact")
            if exact_stds is not None:
                for sign in (-1, 1):
                    ax.plot(sizes, exact_means[:, k] + sign * exact_stds[:, k], color="k",
                            ls=":", lw=1)  # fmt: skip
        if truth is not None:
            ax.axhline(truth[k], color="C3", lw=1, label="truth")
        ax.set_ylabel(names[k])
        ax.set_xscale("log")
    axes[0, 0].legend(loc="upper right", fontsize="small")
    axes[-1, 0].set_xlabel("$N$ (events seen)")
    label(axes[0, 0], "Simulation")
    fig.tight_layout()
    return fig
