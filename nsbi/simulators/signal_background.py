r"""The signal-plus-background Gaussian mixture of section 3.2 of the hierarchical NSBI paper
(arXiv:2306.12584), with its exact profile likelihood ratio.

A dataset is a Poisson number of events, each signal or background:

.. math::

    N \sim \text{Pois}(\lambda), \qquad \lambda(\theta, \theta_\nu) = n_s\theta + n_b\theta_\nu,
    \qquad x_i \sim c_s\,\mathcal{N}(\mu_s, \sigma_s) + (1 - c_s)\,\mathcal{N}(\mu_b, \sigma_b),
    \qquad c_s = \frac{n_s\theta}{\lambda},

with :math:`n_s = 10`, :math:`n_b = 100`, :math:`\mathcal{N}(-7, 2)` signal and
:math:`\mathcal{N}(0, 3)` background (appendix A.2): :math:`\theta = \theta_\nu = 1` means 10
signal and 100 background events. :math:`\theta` is the parameter of interest (the signal
strength), :math:`\theta_\nu` a nuisance parameter (the background normalisation).

The extended likelihood, up to terms free of the parameters, is

.. math::

    -\log L(\theta, \theta_\nu) = n_s\theta + n_b\theta_\nu
    - \sum_{i=1}^N \log\bigl(n_s\theta\, p_s(x_i) + n_b\theta_\nu\, p_b(x_i)\bigr),

convex in :math:`(\theta, \theta_\nu)` (linear minus the log of a positive linear function), so
every fit has one minimum. The profile likelihood ratio, the ground truth for a learned test
statistic, is

.. math::

    t_\theta = 2\bigl[-\log L(\theta, \hat{\hat\theta}_\nu(\theta))
    + \log L(\hat\theta, \hat\theta_\nu)\bigr],

both minimisations by iminuit (MIGRAD with the analytic gradient, bounded parameters), each
checked for convergence.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from nsbi.exceptions import FitError

__all__ = ["SignalBackgroundMixture", "ProfileLikelihoodRatio"]

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


@dataclass(frozen=True)
class ProfileLikelihoodRatio:
    r"""Exact profile likelihood ratios of a batch of datasets on a grid of :math:`\theta`.

    Attributes:
        grid: ``(G,)`` tested values of :math:`\theta`.
        t: ``(B, G)`` :math:`t_\theta` per dataset and grid point.
        theta_hat: ``(B,)`` :math:`\hat\theta` (free fit).
        nu_hat: ``(B,)`` :math:`\hat\theta_\nu` (free fit).
        nu_profiled: ``(B, G)`` conditional :math:`\hat{\hat\theta}_\nu(\theta)`.
    """

    grid: np.ndarray
    t: np.ndarray
    theta_hat: np.ndarray
    nu_hat: np.ndarray
    nu_profiled: np.ndarray


@dataclass(frozen=True)
class SignalBackgroundMixture:
    """The simulator and exact likelihood of the two-component mixture (module docstring).

    Example:
        >>> toy = SignalBackgroundMixture()
        >>> x, mask = toy.simulate(torch.tensor([1.0, 5.0]), torch.tensor([1.0, 1.0]),
        ...                        torch.Generator().manual_seed(0))
        >>> x.shape[0], x.shape[2], mask.sum(1).tolist()   # (datasets, max events, features)
        (2, 1, [109.0, 155.0])
        >>> plr = toy.profile_likelihood_ratio(x, mask, np.array([1.0, 5.0]))
        >>> bool(plr.t[0, 0] < plr.t[0, 1]) and bool(plr.t[1, 1] < plr.t[1, 0])
        True
    """

    n_signal: float = 10.0
    n_background: float = 100.0
    mu_signal: float = -7.0
    sigma_signal: float = 2.0
    mu_background: float = 0.0
    sigma_background: float = 3.0

    def expected_events(self, theta: torch.Tensor, theta_nu: torch.Tensor) -> torch.Tensor:
        r""":math:`\lambda = n_s\theta + n_b\theta_\nu`."""
        return self.n_signal * theta + self.n_background * theta_nu

    def simulate(
        self, theta: torch.Tensor, theta_nu: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Datasets at ``(theta[b], theta_nu[b])``: events ``x`` of shape ``(B, N_max, 1)``
        padded with zeros, and ``mask`` ``(B, N_max)`` (1 for an event, 0 for padding), both
        float32; ``N_max`` is the largest cardinality drawn."""
        theta = torch.as_tensor(theta, dtype=torch.float64)
        theta_nu = torch.as_tensor(theta_nu, dtype=torch.float64)
        if (theta < 0).any() or (theta_nu < 0).any():
            raise ValueError("theta and theta_nu must be non-negative")
        rate = self.expected_events(theta, theta_nu)
        n = torch.poisson(rate, generator=generator).long()
        n_max = max(int(n.max()), 1) if len(n) else 1
        mask = (torch.arange(n_max) < n[:, None]).float()
        fraction = (self.n_signal * theta / rate.clamp_min(1e-300))[:, None]
        signal = torch.rand(len(n), n_max, generator=generator, dtype=torch.float64) < fraction
        normal = torch.randn(len(n), n_max, generator=generator, dtype=torch.float64)
        x = torch.where(
            signal,
            self.mu_signal + self.sigma_signal * normal,
            self.mu_background + self.sigma_background * normal,
        )
        return (x * mask).float()[..., None], mask

    def _log_densities(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`\log n_s p_s(x)` and :math:`\log n_b p_b(x)`."""

        def log_normal(mu: float, sigma: float) -> np.ndarray:
            return -0.5 * ((x - mu) / sigma) ** 2 - math.log(sigma) - _LOG_SQRT_2PI

        return (
            math.log(self.n_signal) + log_normal(self.mu_signal, self.sigma_signal),
            math.log(self.n_background) + log_normal(self.mu_background, self.sigma_background),
        )

    def nll(self, theta: float, theta_nu: float, x: np.ndarray) -> float:
        r""":math:`-\log L(\theta, \theta_\nu)` of one dataset's events ``x`` ``(N,)``."""
        log_s, log_b = self._log_densities(np.asarray(x, dtype=np.float64))
        return float(
            self.n_signal * theta
            + self.n_background * theta_nu
            - np.sum(np.log(theta * np.exp(log_s) + theta_nu * np.exp(log_b)))
        )

    def profile_likelihood_ratio(
        self,
        x: torch.Tensor | np.ndarray,
        mask: torch.Tensor | np.ndarray,
        grid: np.ndarray,
        bounds: tuple[tuple[float, float], tuple[float, float]] = ((0.0, 50.0), (1e-6, 10.0)),
    ) -> ProfileLikelihoodRatio:
        r""":math:`t_\theta` on ``grid`` for every dataset of ``(x, mask)`` by iminuit.

        Each dataset gets one free fit and one conditional fit of :math:`\theta_\nu` per grid
        point (started from the neighbouring point's solution); a fit that MIGRAD does not
        report valid raises :class:`~nsbi.exceptions.FitError` naming the dataset and
        :math:`\theta`.
        """

        x = np.asarray(x, dtype=np.float64)[..., 0]
        mask = np.asarray(mask, dtype=bool)
        grid = np.asarray(grid, dtype=np.float64)
        B, G = len(x), len(grid)
        t = np.empty((B, G))
        nu_profiled = np.empty((B, G))
        theta_hat = np.empty(B)
        nu_hat = np.empty(B)
        for b in range(B):
            log_s, log_b = self._log_densities(x[b, mask[b]])
            shift = np.maximum(log_s, log_b)  # a constant per event: drops out of t
            theta_hat[b], nu_hat[b], t[b], nu_profiled[b] = _profile(
                np.exp(log_s - shift),
                np.exp(log_b - shift),
                self.n_signal,
                self.n_background,
                grid,
                bounds,
                b,
            )
        return ProfileLikelihoodRatio(grid, t, theta_hat, nu_hat, nu_profiled)


def _profile(
    s: np.ndarray,
    bkg: np.ndarray,
    n_s: float,
    n_b: float,
    grid: np.ndarray,
    bounds,
    dataset: int,
) -> tuple[float, float, np.ndarray, np.ndarray]:
    """Free fit and conditional fits on ``grid`` of one dataset whose events have signal and
    background intensities ``s`` (:math:`n_s p_s`) and ``bkg`` (:math:`n_b p_b`), both scaled
    by one positive constant per event."""
    from iminuit import Minuit

    def nll(theta: float, nu: float) -> float:
        return n_s * theta + n_b * nu - np.sum(np.log(theta * s + nu * bkg))

    def grad(theta: float, nu: float) -> np.ndarray:
        inverse = 1.0 / (theta * s + nu * bkg)
        return np.array([n_s - s @ inverse, n_b - bkg @ inverse])

    def migrad(theta: float, nu: float, fixed: bool) -> Minuit:
        minuit = Minuit(nll, theta, nu, grad=grad, name=("theta", "nu"))
        minuit.errordef = Minuit.LIKELIHOOD
        minuit.limits = bounds
        minuit.fixed["theta"] = fixed
        minuit.migrad()
        if not minuit.valid:
            which = f"conditional fit at theta={theta:g}" if fixed else "free fit"
            raise FitError(f"dataset {dataset}: the {which} did not converge ({minuit.fmin})")
        return minuit

    free = migrad(max(len(s) / (2 * n_s), 0.1), max(len(s) / (2 * n_b), 0.1), fixed=False)
    t = np.empty(len(grid))
    nu_profiled = np.empty(len(grid))
    order = np.argsort(grid)
    above = [g for g in order if grid[g] >= free.values["theta"]]
    below = [g for g in order[::-1] if grid[g] < free.values["theta"]]
    for sweep in (above, below):  # outwards from the minimum, each fit warm-started
        nu = float(free.values["nu"])
        for g in sweep:
            conditional = migrad(float(grid[g]), nu, fixed=True)
            nu = nu_profiled[g] = float(conditional.values["nu"])
            t[g] = max(2.0 * (conditional.fval - free.fval), 0.0)
    return float(free.values["theta"]), float(free.values["nu"]), t, nu_profiled
