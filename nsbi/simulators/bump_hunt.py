r"""The narrow-resonance bump hunt of the hierarchical-NSBI paper (section 3.3, appendix A.3), with
its exact posterior, the two summary-statistic baselines and a NUTS reference.

A dataset is :math:`N_0 = 100` events. Each is signal with probability :math:`\theta`, else
background,

.. math::

    p(x_i \mid \theta, \theta_\nu) = \theta\, \mathcal{N}(x_i \mid \theta_\nu, \sigma_s)
        + (1 - \theta)\, \mathcal{N}(x_i \mid \mu_b, \sigma_b),
    \qquad \sigma_s = 0.1,\ \mu_b = 0,\ \sigma_b = 1,

with priors :math:`\theta \sim \mathcal{U}(0, 1)` (the signal fraction, the parameter of interest)
and :math:`\theta_\nu \sim \mathcal{N}(1, 2^2)` (the resonance position, a global nuisance).

**Exact posterior** (:func:`exact_posterior`). The joint posterior is evaluated on a grid, the
midpoints of ``theta_cells`` equal cells of :math:`[0, 1]` times a uniform :math:`\theta_\nu` grid
of step ``nu_step`` over :math:`\mu_\nu \pm 6\sigma_\nu` (widened to cover the data), and summed
(midpoint rule). Writing :math:`r_i(\theta_\nu) = p_s(x_i \mid \theta_\nu) / p_b(x_i)` and
:math:`w = \theta / (1 - \theta)`,

.. math::

    \ln p(\{x\} \mid \theta, \theta_\nu) = \sum_i \ln p_b(x_i) + N_0 \ln(1 - \theta)
        + \sum_i \ln\bigl(1 + w\, r_i(\theta_\nu)\bigr).

The last sum only needs the pairs :math:`(i, \theta_\nu)` with :math:`w_\mathrm{max} r_i > 10^{-16}`
(a window of about :math:`\pm 10\sigma_s` around each event), which makes the grid cheap; each
term dropped is below :math:`10^{-16}`.

*Accuracy.* With :math:`N_0` events the :math:`\theta_\nu` posterior is never narrower than about
:math:`\sigma_s / \sqrt{N_0} = 0.01`; the default step 0.01 integrates a Gaussian of that width
with relative error :math:`\approx 2 e^{-2\pi^2} \approx 5 \cdot 10^{-9}`. In :math:`\theta` the
midpoint rule is spectrally accurate away from the ends and :math:`O(h^2)` where the posterior is
pressed against :math:`\theta = 0` or 1. On 20 datasets (16 from the prior, 4 at
:math:`\theta = 0, 0.01, 0.85, 1`), halving both steps of the default grid (400 cells, step 0.01)
moved the posterior mean and standard deviation of :math:`\theta` by at most
:math:`3 \cdot 10^{-5}` and those of :math:`\theta_\nu` by at most :math:`3 \cdot 10^{-4}` (a
dataset without signal, whose broad :math:`\theta_\nu` posterior hangs on the cells next to
:math:`\theta = 0`); the coarse grid of 50 cells and step 0.02 (10 times faster) moved the
:math:`\theta` moments by up to :math:`2.5 \cdot 10^{-3}`.

**Summary statistics.** Section 3.3 compares with inference from a per-event summary, the density
ratio :math:`s_\mathrm{nom}(x) = p_s(x \mid \theta_{\nu,\mathrm{nom}}) / p_b(x)` at a nominal
resonance position (:func:`s_nom`), or the per-event prior-marginalised ratio
:math:`s_\mathrm{marg}(x) = \int d\theta_\nu\, p_s(x \mid \theta_\nu) p(\theta_\nu) / p_b(x)`, whose
numerator is :math:`\mathcal{N}(x \mid \mu_\nu, (\sigma_s^2 + \sigma_\nu^2)^{1/2})`
(:func:`s_marg`). Both are ratios of two normals of different widths, so :math:`\ln s` is a
parabola in :math:`x` with vertex :math:`x^*` and :math:`s` depends on :math:`x` only through the
distance :math:`d = |x - x^*|`, strictly monotonically. Observing :math:`s(x_i)` is therefore
observing :math:`d_i`, whose exact density is the folded

.. math::

    p(d_i \mid \theta, \theta_\nu) = p(x^* + d_i \mid \theta, \theta_\nu)
        + p(x^* - d_i \mid \theta, \theta_\nu), \qquad d_i \ge 0,

(the density of :math:`s_i` differs by a Jacobian free of the parameters, so the posteriors are
equal). This is our reading of the paper's "analytic likelihoods also for :math:`s_\mathrm{nom}`
and :math:`s_\mathrm{marg}`"; the paper does not give :math:`\theta_{\nu,\mathrm{nom}}`, we default
to the prior mean 1. The vertex of :math:`s_\mathrm{marg}` is :math:`x^* \approx -0.33`, that of
:math:`s_\mathrm{nom}` at :math:`\theta_{\nu,\mathrm{nom}} \approx -0.33` (the paper's footnote 1).

**NUTS** (:func:`nuts_posterior`). The same posteriors sampled with pyro's NUTS, the reference
the paper computes with PyMC.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from numpy.typing import ArrayLike

from nsbi.random import as_rng

__all__ = [
    "BumpHuntToy",
    "BumpHuntPosterior",
    "DensityRatioSummary",
    "NutsPosterior",
    "exact_posterior",
    "nuts_posterior",
    "s_marg",
    "s_nom",
]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_R_FLOOR = 1e-16  # pairs with w_max * r below this are dropped from the grid sum
_NU_PRIOR_SPAN = 6.0  # the default theta_nu grid covers the prior mean +- 6 prior std


def _log_normal(x, mean, std: float):
    r""":math:`\ln \mathcal{N}(x \mid m, s)`; works for numpy arrays and torch tensors."""
    z = (x - mean) / std
    return -0.5 * z * z - (math.log(std) + _LOG_SQRT_2PI)


@dataclass(frozen=True)
class BumpHuntToy:
    r"""A narrow normal signal of unknown position on a broad normal background.

    See the module docstring for the model.

    Arguments:
        n_events: :math:`N_0`, the events per dataset.
        sigma_s: the signal width.
        mu_b, sigma_b: mean and width of the background.
        nu_prior_mean, nu_prior_std: the normal prior on the signal position :math:`\theta_\nu`.

    Example:
        >>> toy = BumpHuntToy()
        >>> params = toy.sample_prior(3, rng=0)  # columns (theta, theta_nu)
        >>> x = toy.simulate(params, rng=1)
        >>> x.shape, toy.log_likelihood(params, x).shape
        ((3, 100), (3,))
    """

    n_events: int = 100
    sigma_s: float = 0.1
    mu_b: float = 0.0
    sigma_b: float = 1.0
    nu_prior_mean: float = 1.0
    nu_prior_std: float = 2.0

    def __post_init__(self) -> None:
        if not isinstance(self.n_events, (int, np.integer)) or self.n_events < 1:
            raise ValueError(f"n_events: expected a positive integer, got {self.n_events!r}")
        for name in ("sigma_s", "sigma_b", "nu_prior_std"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        for name in ("mu_b", "nu_prior_mean"):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"{name}: expected a finite number, got {getattr(self, name)!r}")

    def sample_prior(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        r"""Draw :math:`\theta \sim \mathcal{U}(0, 1)` and
        :math:`\theta_\nu \sim \mathcal{N}(\mu_\nu, \sigma_\nu^2)`.

        Arguments:
            n: the number of draws.
            rng: a generator or an integer seed.

        Returns:
            shape ``(n, 2)``, columns ``(theta, theta_nu)``.

        Example:
            >>> params = BumpHuntToy().sample_prior(1000, rng=0)
            >>> bool(params[:, 0].min() >= 0.0 and params[:, 0].max() <= 1.0)
            True
        """
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: expected a non-negative integer, got {n!r}")
        rng = as_rng(rng)
        theta = rng.uniform(0.0, 1.0, int(n))
        nu = self.nu_prior_mean + self.nu_prior_std * rng.standard_normal(int(n))
        return np.stack([theta, nu], axis=-1)

    def _params(self, params: ArrayLike) -> np.ndarray:
        params = np.asarray(params, dtype=float)
        if params.ndim < 1 or params.shape[-1] != 2:
            raise ValueError(
                f"params: expected shape (..., 2) = (theta, theta_nu), got {params.shape}"
            )
        if not np.all(np.isfinite(params)):
            raise ValueError("params: expected finite values")
        theta = params[..., 0]
        if np.any((theta < 0.0) | (theta > 1.0)):
            bad = theta[(theta < 0.0) | (theta > 1.0)].flat[0]
            raise ValueError(f"params: the signal fraction theta must lie in [0, 1], got {bad}")
        return params

    def simulate(self, params: ArrayLike, rng: np.random.Generator | int) -> np.ndarray:
        r"""Simulate one dataset of :math:`N_0` events per row of ``params``.

        Arguments:
            params: shape ``(B, 2)``, columns ``(theta, theta_nu)``.
            rng: a generator or an integer seed.

        Returns:
            shape ``(B, n_events)``.

        Example:
            >>> x = BumpHuntToy(n_events=4).simulate([[1.0, 3.0]], rng=0)  # theta = 1: all signal
            >>> bool(np.all(np.abs(x - 3.0) < 0.5))
            True
        """
        params = self._params(params)
        if params.ndim != 2:
            raise ValueError(f"params: expected shape (B, 2), got {params.shape}")
        rng = as_rng(rng)
        shape = (params.shape[0], self.n_events)
        is_signal = rng.uniform(size=shape) < params[:, :1]
        z = rng.standard_normal(shape)
        signal = params[:, 1:] + self.sigma_s * z
        background = self.mu_b + self.sigma_b * z
        return np.where(is_signal, signal, background)

    def _log_event_terms(self, theta, nu, x_signal, x_background, lib):
        r"""Per-event :math:`\ln[\theta p_s + (1-\theta) p_b]`, each density summed over the
        last axis of its points (one point for the data, the two folds for a summary)."""
        log_ps = lib.logsumexp(_log_normal(x_signal, nu[..., None, None], self.sigma_s), -1)
        log_pb = lib.logsumexp(_log_normal(x_background, self.mu_b, self.sigma_b), -1)
        with np.errstate(divide="ignore"):
            log_theta, log_1m = lib.log(theta)[..., None], lib.log1p(-theta)[..., None]
        return lib.logaddexp(log_theta + log_ps, log_1m + log_pb)

    def log_likelihood(self, params: ArrayLike, x: ArrayLike) -> np.ndarray:
        r"""The exact :math:`\ln p(\{x\} \mid \theta, \theta_\nu)`, summed over events in log space.

        Arguments:
            params: shape ``(..., 2)``, columns ``(theta, theta_nu)``, with
                :math:`0 \le \theta \le 1`.
            x: datasets, shape ``(B, n)`` (or ``(n,)`` for one).

        Returns:
            the broadcast of ``params.shape[:-1]`` with ``x.shape[:-1]``: ``(B,)`` for one
            parameter point per dataset, ``(G, B)`` for ``params`` of shape ``(G, 1, 2)``.

        Example:
            >>> toy = BumpHuntToy()
            >>> float(toy.log_likelihood([0.0, 5.0], [0.0]))  # background only: ln N(0 | 0, 1)
            -0.9189385332046727
        """
        params = self._params(params)
        x = np.asarray(x, dtype=float)
        if x.ndim < 1:
            raise ValueError(f"x: expected datasets of shape (B, n) or (n,), got {x.shape}")
        terms = self._log_event_terms(
            params[..., 0], params[..., 1], x[..., None], x[..., None], _NUMPY
        )
        return terms.sum(axis=-1)


# the array functions _log_event_terms needs, for numpy and (in nuts_posterior) torch
_NUMPY = SimpleNamespace(
    log=np.log,
    log1p=np.log1p,
    logaddexp=np.logaddexp,
    logsumexp=lambda a, axis: np.logaddexp.reduce(a, axis=axis),
)


# ---------------------------------------------------------------------- summary statistics


@dataclass(frozen=True)
class DensityRatioSummary:
    r"""A per-event summary :math:`s(x) = \mathcal{N}(x \mid m, w) / p_b(x)` and the exact likelihood
    of observing it.

    With :math:`w \ne \sigma_b`, :math:`\ln s` is a parabola in :math:`x` with vertex

    .. math::

        x^* = \frac{m\,\sigma_b^2 - \mu_b\, w^2}{\sigma_b^2 - w^2},

    so :math:`s` is a strictly monotone function of :math:`d = |x - x^*|` and the likelihood of the
    summaries is that of the :math:`d_i` (module docstring). Build one with :func:`s_nom` or
    :func:`s_marg`.

    Arguments:
        name: a label, ``"s_nom"`` or ``"s_marg"``.
        mean, std: :math:`m` and :math:`w` of the numerator.
        toy: the model, for the background and the likelihood.

    Example:
        >>> summary = s_nom(BumpHuntToy(), nu_nom=1.0)
        >>> round(summary.vertex, 4)  # 1 / 0.99
        1.0101
        >>> summary.distance([1.0101, 0.0101, 2.0101]).round(4).tolist()
        [0.0, 1.0, 1.0]
    """

    name: str
    mean: float
    std: float
    toy: BumpHuntToy

    def __post_init__(self) -> None:
        if not (np.isfinite(self.std) and self.std > 0) or not np.isfinite(self.mean):
            raise ValueError(f"{self.name}: expected a finite mean and positive std")
        if math.isclose(self.std, self.toy.sigma_b, rel_tol=1e-12):
            raise ValueError(
                f"{self.name}: numerator and background have the same width, so s(x) is monotone "
                "in x and carries all the information: use the full likelihood (summary=None)"
            )

    @property
    def vertex(self) -> float:
        r"""The vertex :math:`x^*` of :math:`\ln s(x)`."""
        vb, vs = self.toy.sigma_b**2, self.std**2
        return (self.mean * vb - self.toy.mu_b * vs) / (vb - vs)

    def log_ratio(self, x: ArrayLike) -> np.ndarray:
        r""":math:`\ln s(x)`, which unlike :math:`s(x)` does not underflow far from the signal.

        Example:
            >>> toy = BumpHuntToy()
            >>> round(float(s_nom(toy).log_ratio(1.0)), 4)  # ln(10 e^(1/2))
            2.8026
        """
        x = np.asarray(x, dtype=float)
        return _log_normal(x, self.mean, self.std) - _log_normal(x, self.toy.mu_b, self.toy.sigma_b)

    def __call__(self, x: ArrayLike) -> np.ndarray:
        """:math:`s(x)`, the density ratio itself."""
        return np.exp(self.log_ratio(x))

    def distance(self, x: ArrayLike) -> np.ndarray:
        """:math:`d = |x - x^*|`, the summary in the form its likelihood is written in."""
        return np.abs(np.asarray(x, dtype=float) - self.vertex)

    def folds(self, x: ArrayLike) -> np.ndarray:
        r"""The two points :math:`x^* \pm d` with the same summary as ``x``; shape
        ``(*x.shape, 2)``."""
        d = self.distance(x)
        return self.vertex + np.stack([d, -d], axis=-1)

    def log_likelihood(self, params: ArrayLike, x: ArrayLike) -> np.ndarray:
        r"""The exact log-likelihood of the summaries of ``x``, :math:`\sum_i \ln p(d_i \mid
        \theta, \theta_\nu)`; shapes as in :meth:`BumpHuntToy.log_likelihood`.

        Example:
            >>> toy = BumpHuntToy()
            >>> summary = s_marg(toy)
            >>> float(summary.log_likelihood([0.0, 1.0], [summary.vertex]))  # 2 N(x* | 0, 1)
            -0.2809783814854686
        """
        params = self.toy._params(params)
        x = np.asarray(x, dtype=float)
        if x.ndim < 1:
            raise ValueError(f"x: expected datasets of shape (B, n) or (n,), got {x.shape}")
        folds = self.folds(x)
        terms = self.toy._log_event_terms(params[..., 0], params[..., 1], folds, folds, _NUMPY)
        return terms.sum(axis=-1)


def s_nom(toy: BumpHuntToy, nu_nom: float | None = None) -> DensityRatioSummary:
    r"""The nominal density ratio :math:`s_\mathrm{nom}(x) = p_s(x \mid \theta_{\nu,\mathrm{nom}})
    / p_b(x)`, sufficient for :math:`\theta` only if :math:`\theta_\nu = \theta_{\nu,\mathrm{nom}}`.

    Arguments:
        toy: the model.
        nu_nom: :math:`\theta_{\nu,\mathrm{nom}}`; default the prior mean (the paper gives none).

    Example:
        >>> s_nom(BumpHuntToy(), nu_nom=2.0).mean
        2.0
    """
    nu = toy.nu_prior_mean if nu_nom is None else float(nu_nom)
    return DensityRatioSummary("s_nom", nu, toy.sigma_s, toy)


def s_marg(toy: BumpHuntToy) -> DensityRatioSummary:
    r"""The per-event marginalised ratio :math:`s_\mathrm{marg}(x) = \int d\theta_\nu\,
    p_s(x \mid \theta_\nu)\, p(\theta_\nu) / p_b(x)`, the numerator being
    :math:`\mathcal{N}(x \mid \mu_\nu, (\sigma_s^2 + \sigma_\nu^2)^{1/2})`.

    Example:
        >>> round(s_marg(BumpHuntToy()).vertex, 4)  # -1 / 3.01, the paper's footnote 1
        -0.3322
    """
    return DensityRatioSummary(
        "s_marg", toy.nu_prior_mean, math.hypot(toy.sigma_s, toy.nu_prior_std), toy
    )


# ---------------------------------------------------------------------- exact posterior


@dataclass(frozen=True, repr=False, eq=False)
class BumpHuntPosterior:
    r"""The posterior :math:`p(\theta, \theta_\nu \mid \cdot)` on a grid, from :func:`exact_posterior`.

    Leading ``batch`` axes follow the datasets given (none for one dataset).

    Attributes:
        theta_grid: the midpoints of the equal :math:`\theta` cells of :math:`[0, 1]`, ``(T,)``.
        nu_grid: the uniform :math:`\theta_\nu` grid, ``(V,)``.
        density: the joint density, ``(*batch, T, V)``, normalised so that
            ``density.sum((-2, -1)) * theta_step * nu_step == 1``; ``None`` if not kept.
        theta_marginal: :math:`p(\theta \mid \cdot)` at ``theta_grid``, ``(*batch, T)``.
        nu_marginal: :math:`p(\theta_\nu \mid \cdot)` at ``nu_grid``, ``(*batch, V)``.
        theta_mean, theta_std, nu_mean, nu_std: posterior moments, ``batch``-shaped.
        nu_step: the step of ``nu_grid``; ``theta_step`` is ``1 / T``.
    """

    theta_grid: np.ndarray
    nu_grid: np.ndarray
    density: np.ndarray | None
    theta_marginal: np.ndarray
    nu_marginal: np.ndarray
    theta_mean: np.ndarray
    theta_std: np.ndarray
    nu_mean: np.ndarray
    nu_std: np.ndarray
    nu_step: float

    @property
    def theta_step(self) -> float:
        r"""The width ``1 / T`` of the :math:`\theta` cells."""
        return 1.0 / self.theta_grid.size

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading shape of the datasets, ``()`` for one."""
        return self.theta_mean.shape

    def __repr__(self) -> str:
        if self.batch_shape == ():
            return (
                f"BumpHuntPosterior(theta={float(self.theta_mean):.4f} +- "
                f"{float(self.theta_std):.4f}, nu={float(self.nu_mean):.4f} +- "
                f"{float(self.nu_std):.4f}, grid={self.theta_grid.size}x{self.nu_grid.size})"
            )
        return (
            f"BumpHuntPosterior(batch={self.batch_shape}, "
            f"grid={self.theta_grid.size}x{self.nu_grid.size})"
        )

    def _theta_cdf_at_edges(self) -> np.ndarray:
        cdf = np.cumsum(self.theta_marginal * self.theta_step, axis=-1)
        cdf /= cdf[..., -1:]
        return np.concatenate([np.zeros((*self.batch_shape, 1)), cdf], axis=-1)

    def theta_cdf(self, theta: ArrayLike) -> np.ndarray:
        r"""The posterior CDF of :math:`\theta` (piecewise-constant density in each cell).

        Arguments:
            theta: values broadcastable to the batch shape, in :math:`[0, 1]`; for calibration,
                the true value of each dataset.

        Example:
            >>> toy = BumpHuntToy()
            >>> post = exact_posterior(toy.simulate([[0.3, 2.0]], rng=0)[0], toy, theta_cells=200)
            >>> float(post.theta_cdf(0.0)), float(post.theta_cdf(1.0))
            (0.0, 1.0)
        """
        theta = np.broadcast_to(np.asarray(theta, dtype=float), self.batch_shape)
        if np.any((theta < 0.0) | (theta > 1.0)):
            raise ValueError("theta: expected values in [0, 1]")
        edges = self._theta_cdf_at_edges()
        cells = self.theta_grid.size
        j = np.minimum((theta * cells).astype(int), cells - 1)
        lower = np.take_along_axis(edges, j[..., None], -1)[..., 0]
        upper = np.take_along_axis(edges, j[..., None] + 1, -1)[..., 0]
        return lower + (theta * cells - j) * (upper - lower)

    def theta_interval(self, level: float = 0.68) -> tuple[np.ndarray, np.ndarray]:
        r"""The central credible interval of :math:`\theta` holding ``level`` of the mass.

        Returns:
            ``(lower, upper)``, each ``batch``-shaped.

        Example:
            >>> toy = BumpHuntToy()
            >>> post = exact_posterior(toy.simulate([[0.3, 2.0]], rng=0)[0], toy, theta_cells=200)
            >>> lower, upper = post.theta_interval(0.68)
            >>> bool(lower < post.theta_mean < upper)
            True
        """
        if not 0.0 < level < 1.0:
            raise ValueError(f"level: expected a probability in (0, 1), got {level!r}")
        edges = self._theta_cdf_at_edges().reshape(-1, self.theta_grid.size + 1)
        cuts = np.linspace(0.0, 1.0, self.theta_grid.size + 1)
        q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
        bounds = np.array([np.interp(q, cdf, cuts) for cdf in edges])
        bounds = bounds.reshape(*self.batch_shape, 2)
        return bounds[..., 0], bounds[..., 1]


def _nu_grid(toy: BumpHuntToy, points: np.ndarray, step: float, nu_range) -> np.ndarray:
    if nu_range is None:
        pad = 10.0 * toy.sigma_s
        lo = min(toy.nu_prior_mean - _NU_PRIOR_SPAN * toy.nu_prior_std, points.min() - pad)
        hi = max(toy.nu_prior_mean + _NU_PRIOR_SPAN * toy.nu_prior_std, points.max() + pad)
        lo, hi = math.floor(lo / step) * step, math.ceil(hi / step) * step
    else:
        lo, hi = (float(v) for v in nu_range)
        if not hi > lo:
            raise ValueError(f"nu_range: expected (low, high) with low < high, got {nu_range!r}")
    return lo + step * np.arange(int(round((hi - lo) / step)) + 1)


def _log_joint_on_grid(
    toy: BumpHuntToy,
    x_signal: np.ndarray,
    x_background: np.ndarray,
    theta: np.ndarray,
    nu: np.ndarray,
) -> np.ndarray:
    r"""The unnormalised :math:`\ln p(\theta_j, \theta_{\nu,k} \mid \cdot)` of one dataset,
    ``(T, V)``, through the sparse sum over :math:`(i, k)` with :math:`w_\mathrm{max} r_{ik}`
    above the floor (module docstring). ``x_signal``/``x_background``: ``(n, m)`` points whose
    densities are summed per event (``m = 1`` for the data, 2 for a folded summary)."""
    log_pb = np.logaddexp.reduce(_log_normal(x_background, toy.mu_b, toy.sigma_b), axis=-1)
    log_ps = np.logaddexp.reduce(
        _log_normal(x_signal[:, :, None], nu[None, None, :], toy.sigma_s), axis=1
    )  # (n, V)
    ratio = np.exp(log_ps - log_pb[:, None])
    w = theta / (1.0 - theta)
    keep = ratio.T > _R_FLOOR / w.max()
    cols, _ = np.nonzero(keep)  # sorted by grid column
    terms = np.log1p(w[:, None] * ratio.T[keep][None, :])  # (T, pairs)
    summed = np.zeros((theta.size, nu.size))
    if cols.size:
        columns, starts = np.unique(cols, return_index=True)
        summed[:, columns] = np.add.reduceat(terms, starts, axis=1)
    log_lik = log_pb.sum() + x_signal.shape[0] * np.log1p(-theta)[:, None] + summed
    return log_lik + _log_normal(nu, toy.nu_prior_mean, toy.nu_prior_std)[None, :]


def exact_posterior(
    x: ArrayLike,
    toy: BumpHuntToy | None = None,
    *,
    summary: DensityRatioSummary | None = None,
    theta_cells: int = 400,
    nu_step: float = 0.01,
    nu_range: tuple[float, float] | None = None,
    keep_density: bool = True,
) -> BumpHuntPosterior:
    r"""The exact posterior of one or many datasets by quadrature on a grid (module docstring).

    Arguments:
        x: one dataset ``(n,)`` or many ``(*batch, n)``.
        toy: the model; default :class:`BumpHuntToy()`.
        summary: condition on the summaries :math:`s(x_i)` (from :func:`s_nom` or
            :func:`s_marg`) instead of the events; default the events.
        theta_cells: the number of equal :math:`\theta` cells of :math:`[0, 1]`.
        nu_step: the :math:`\theta_\nu` grid step; keep it :math:`\lesssim \sigma_s / \sqrt{n}`.
        nu_range: the :math:`\theta_\nu` grid span ``(low, high)``, in whole steps from
            ``low``; default the prior mean :math:`\pm 6` prior std, widened to the data
            :math:`\pm 10 \sigma_s`.
        keep_density: keep the 2-D density (``T * V`` floats per dataset); the marginals and
            moments are always kept.

    Timing: about 0.15 s per dataset of 100 events with the defaults (a loop over datasets),
    0.015 s with ``theta_cells=50, nu_step=0.02``.

    Example:
        >>> toy = BumpHuntToy()
        >>> x = toy.simulate([[0.5, 2.0]], rng=0)[0]
        >>> post = exact_posterior(x, toy)
        >>> post
        BumpHuntPosterior(theta=0.4231 +- 0.0505, nu=2.0085 +- 0.0164, grid=400x2401)
        >>> round(float(post.density.sum() * post.theta_step * post.nu_step), 12)
        1.0
    """
    toy = BumpHuntToy() if toy is None else toy
    if summary is not None and summary.toy != toy:
        raise ValueError("summary: built for a different toy")
    x = np.asarray(x, dtype=float)
    if x.ndim < 1 or x.shape[-1] < 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"x: expected finite datasets of shape (..., n), got shape {x.shape}")
    if not isinstance(theta_cells, (int, np.integer)) or theta_cells < 2:
        raise ValueError(f"theta_cells: expected an integer >= 2, got {theta_cells!r}")
    if not (np.isfinite(nu_step) and nu_step > 0):
        raise ValueError(f"nu_step: expected a positive number, got {nu_step!r}")
    batch = x.shape[:-1]
    points = x[..., None] if summary is None else summary.folds(x)  # (*batch, n, m)
    points = points.reshape(-1, *points.shape[-2:])
    theta = (np.arange(theta_cells) + 0.5) / theta_cells
    nu = _nu_grid(toy, points, nu_step, nu_range)
    area = nu_step / theta_cells
    densities, theta_marg, nu_marg = [], [], []
    for one in points:
        log_post = _log_joint_on_grid(toy, one, one, theta, nu)
        density = np.exp(log_post - log_post.max())
        density /= density.sum() * area
        if keep_density:
            densities.append(density)
        theta_marg.append(density.sum(axis=1) * nu_step)
        nu_marg.append(density.sum(axis=0) / theta_cells)
    theta_marg = np.array(theta_marg).reshape(*batch, theta.size)
    nu_marg = np.array(nu_marg).reshape(*batch, nu.size)

    def moments(marginal: np.ndarray, grid: np.ndarray, step: float):
        mean = (marginal * grid).sum(-1) * step
        var = (marginal * (grid - mean[..., None]) ** 2).sum(-1) * step
        return mean, np.sqrt(var)

    theta_mean, theta_std = moments(theta_marg, theta, 1.0 / theta_cells)
    nu_mean, nu_std = moments(nu_marg, nu, nu_step)
    return BumpHuntPosterior(
        theta_grid=theta,
        nu_grid=nu,
        density=np.array(densities).reshape(*batch, theta.size, nu.size) if keep_density else None,
        theta_marginal=theta_marg,
        nu_marginal=nu_marg,
        theta_mean=theta_mean,
        theta_std=theta_std,
        nu_mean=nu_mean,
        nu_std=nu_std,
        nu_step=float(nu_step),
    )


# ---------------------------------------------------------------------- NUTS reference


@dataclass(frozen=True, repr=False, eq=False)
class NutsPosterior:
    r"""Posterior samples from :func:`nuts_posterior`, with the sampler's health.

    Attributes:
        samples: ``(chains * num_samples, 2)``, columns ``(theta, theta_nu)``, chain after chain.
        ess: the effective sample size of ``(theta, theta_nu)``, over all chains.
        r_hat: the split Gelman-Rubin statistic of ``(theta, theta_nu)``; near 1 when mixed.
        divergences: the number of divergent transitions after warm-up, over all chains.
        seconds: the wall time of the sampling.
    """

    samples: np.ndarray
    ess: np.ndarray
    r_hat: np.ndarray
    divergences: int
    seconds: float

    def __repr__(self) -> str:
        mean, std = self.samples.mean(0), self.samples.std(0)
        return (
            f"NutsPosterior(theta={mean[0]:.4f} +- {std[0]:.4f}, nu={mean[1]:.4f} +- {std[1]:.4f}, "
            f"samples={len(self.samples)}, ess={np.round(self.ess).astype(int).tolist()}, "
            f"r_hat={np.round(self.r_hat, 3).tolist()}, divergences={self.divergences})"
        )

    @property
    def theta(self) -> np.ndarray:
        r"""The :math:`\theta` samples."""
        return self.samples[:, 0]

    @property
    def nu(self) -> np.ndarray:
        r"""The :math:`\theta_\nu` samples."""
        return self.samples[:, 1]


@contextlib.contextmanager
def _isolated_rng(seed: int) -> Iterator[None]:
    """Seed torch, numpy and random for pyro, and restore the caller's global states after."""
    import torch

    py_state, np_state = random.getstate(), np.random.get_state()  # noqa: NPY002
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed % 2**32)  # noqa: NPY002
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)  # noqa: NPY002


def _import_pyro():
    try:
        import pyro
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            "nuts_posterior needs pyro: install it with `pip install nsbi[mcmc]` "
            "or `pip install pyro-ppl`"
        ) from error
    return pyro


def nuts_posterior(
    x: ArrayLike,
    num_samples: int = 1000,
    warmup: int = 500,
    seed: int = 0,
    chains: int = 1,
    *,
    toy: BumpHuntToy | None = None,
    summary: DensityRatioSummary | None = None,
) -> NutsPosterior:
    r"""Sample :math:`p(\theta, \theta_\nu \mid \{x\})` of one dataset with pyro's NUTS.

    NUTS runs on :math:`(u, \theta_\nu)` with :math:`\theta = \operatorname{sigmoid}(u)`, the
    bijection torch provides for the support of :math:`\mathcal{U}(0, 1)`; the potential is

    .. math::

        U(u, \theta_\nu) = -\ln p(\{x\} \mid \theta, \theta_\nu) - \ln p(\theta_\nu)
            - \ln \left|\frac{d\theta}{du}\right|,

    in float64, and pyro maps the samples back to :math:`\theta` through the same transform.
    The :math:`\theta_\nu` posterior has a narrow mode per cluster of events, which NUTS does not
    hop between; each chain therefore starts at a draw from a coarse grid posterior
    (:func:`exact_posterior` with 40 :math:`\theta` cells and step 0.05). Chains run one after
    another in this process, each seeded from ``(seed, chain)`` (so the first chain does not
    depend on ``chains``); the global random states of torch, numpy and ``random`` are restored
    afterwards. Needs ``pyro-ppl``.

    Arguments:
        x: one dataset, ``(n,)``.
        num_samples: samples kept per chain.
        warmup: adaptation steps per chain, discarded.
        seed: the seed of the chains and their starting points.
        chains: the number of chains.
        toy: the model; default :class:`BumpHuntToy()`.
        summary: sample the posterior given the summaries :math:`s(x_i)` instead.

    Timing: about 5 s for 400 samples after 300 warm-up steps with 100 events, on one CPU core.

    Example:
        >>> toy = BumpHuntToy(n_events=20)
        >>> x = toy.simulate([[0.5, 2.0]], rng=0)[0]
        >>> result = nuts_posterior(x, num_samples=20, warmup=20, seed=1, toy=toy)
        >>> result.samples.shape
        (20, 2)
    """
    _import_pyro()
    import torch
    from pyro.infer import MCMC, NUTS
    from pyro.ops.stats import effective_sample_size, split_gelman_rubin
    from torch.distributions import Normal, biject_to, constraints

    toy = BumpHuntToy() if toy is None else toy
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"x: expected one dataset of shape (n,), got shape {x.shape}")
    for name, value in (("num_samples", num_samples), ("warmup", warmup), ("chains", chains)):
        if not isinstance(value, (int, np.integer)) or value < (0 if name == "warmup" else 1):
            raise ValueError(f"{name}: expected a positive integer, got {value!r}")
    if summary is not None and summary.toy != toy:
        raise ValueError("summary: built for a different toy")

    f64 = torch.float64
    torch_lib = SimpleNamespace(
        log=torch.log, log1p=torch.log1p, logaddexp=torch.logaddexp, logsumexp=torch.logsumexp
    )
    points = torch.as_tensor(x[:, None] if summary is None else summary.folds(x), dtype=f64)
    to_unit = biject_to(constraints.unit_interval)
    prior_nu = Normal(
        torch.tensor(toy.nu_prior_mean, dtype=f64), torch.tensor(toy.nu_prior_std, dtype=f64)
    )

    def potential(params: dict) -> torch.Tensor:
        u, nu = params["theta"], params["nu"]
        theta = to_unit(u)
        log_prior = prior_nu.log_prob(nu) + to_unit.log_abs_det_jacobian(u, theta)
        log_lik = toy._log_event_terms(theta, nu, points, points, torch_lib).sum()
        return -(log_lik + log_prior)

    coarse = exact_posterior(x, toy, summary=summary, theta_cells=40, nu_step=0.05)
    weights = coarse.density.ravel() / coarse.density.sum()
    start = time.perf_counter()
    draws, divergences = [], 0
    for chain in range(int(chains)):
        chain_seed = int(np.random.SeedSequence([int(seed), chain]).generate_state(1)[0])
        j, k = np.unravel_index(
            np.random.default_rng(chain_seed).choice(weights.size, p=weights), coarse.density.shape
        )
        init = {
            "theta": to_unit.inv(torch.tensor(coarse.theta_grid[j], dtype=f64)),
            "nu": torch.tensor(coarse.nu_grid[k], dtype=f64),
        }
        with _isolated_rng(chain_seed):
            mcmc = MCMC(
                NUTS(potential_fn=potential),
                num_samples=int(num_samples),
                warmup_steps=int(warmup),
                initial_params=init,
                transforms={"theta": to_unit.inv},
                disable_progbar=True,
            )
            mcmc.run()
        samples = mcmc.get_samples()
        draws.append(torch.stack([samples["theta"], samples["nu"]], -1))
        divergences += sum(len(v) for v in mcmc.diagnostics()["divergences"].values())
    seconds = time.perf_counter() - start
    stacked = torch.stack(draws).detach()  # (chains, num_samples, 2)
    ess = effective_sample_size(stacked, chain_dim=0, sample_dim=1)
    r_hat = (
        split_gelman_rubin(stacked, chain_dim=0, sample_dim=1)
        if num_samples >= 4
        else torch.full((2,), float("nan"))
    )
    return NutsPosterior(
        samples=stacked.reshape(-1, 2).numpy(),
        ess=ess.numpy(),
        r_hat=r_hat.numpy(),
        divergences=int(divergences),
        seconds=seconds,
    )
