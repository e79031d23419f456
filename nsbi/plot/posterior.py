r"""Posteriors over event ensembles: their widths against the dataset size :math:`N` (Fig. 2 of
arXiv:2306.12584), the evolution of one dataset's posterior as its events arrive, and the
comparison of inference methods (Fig. 4)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from nsbi.plot.style import label, set_style

__all__ = ["plot_width_vs_size", "plot_posterior_evolution", "plot_method_comparison"]


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
    r"""One dataset's posterior mean and :math:`\pm1\sigma` band per parameter as its first
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


def plot_method_comparison(
    values: np.ndarray,
    methods: dict[str, np.ndarray],
    xlabel: str = r"$\theta_{\nu,\mathrm{true}}$",
    truth: float | None = None,
    parameter: str = r"\theta",
):
    r"""Fig. 4 of arXiv:2306.12584: the median posterior mean (left) and median posterior
    standard deviation (right) of one parameter over test datasets, per inference method,
    against a true value (``values``); ``methods`` maps a name to ``(len(values), 2)`` medians
    (mean, std). A method named ``"deep set"`` is drawn as a black line, the others as markers.

    Example:
        >>> nu = np.array([0.0, 1.0, 2.0])
        >>> fig = plot_method_comparison(nu, {"deep set": np.full((3, 2), 0.1),
        ...                                   "exact": np.full((3, 2), 0.1)}, truth=0.1)
        >>> [ax.get_ylabel() for ax in fig.axes]
        ['median $\\mu_{\\theta}$', 'median $\\sigma_{\\theta}$']
    """
    set_style()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    markers = iter("osD^v<>")
    for name, medians in methods.items():
        medians = np.asarray(medians)
        style = {"color": "k"} if name == "deep set" else {"marker": next(markers), "ls": "none"}
        for k, ax in enumerate(axes):
            ax.plot(values, medians[:, k], label=name, **style)
    if truth is not None:
        axes[0].axhline(truth, color="C3", lw=1, ls="--", label="truth")
    axes[0].set_ylabel(rf"median $\mu_{{{parameter}}}$")
    axes[1].set_ylabel(rf"median $\sigma_{{{parameter}}}$")
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.margins(x=0.06)  # the end markers whole
    axes[1].legend(fontsize="small")
    label(axes[0], "Simulation")
    fig.tight_layout()
    return fig
