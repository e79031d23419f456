r"""A two-level normal model with exact global and local posteriors, the analytic check of the
hierarchical set posteriors (:mod:`nsbi.sets.hierarchical`).

.. math::

    \theta \sim \mathcal{N}(0, s_0^2), \qquad z_i \mid \theta \sim \mathcal{N}(\theta, \tau^2),
    \qquad x_{ij} \mid z_i \sim \mathcal{N}(z_i, \sigma^2),\ j = 1..m,

for elements :math:`i = 1..N`. With :math:`\bar x_i` the mean of element :math:`i`'s :math:`m`
measurements (sufficient for :math:`z_i`) and :math:`v_x = \sigma^2 / m`, marginally
:math:`\bar x_i \mid \theta \sim \mathcal{N}(\theta, \tau^2 + v_x)`, so

.. math::

    p(\theta \mid \{x\}) = \mathcal{N}\Bigl(\frac{\sum_i \bar x_i / (\tau^2 + v_x)}{\Lambda},
        \Lambda^{-1}\Bigr), \quad \Lambda = s_0^{-2} + \frac{N}{\tau^2 + v_x};
    \qquad
    p(z_i \mid x_i, \theta) = \mathcal{N}\bigl(v (\bar x_i / v_x + \theta / \tau^2),\ v\bigr),
    \quad v = (\tau^{-2} + v_x^{-1})^{-1},

and the local posterior given the whole dataset integrates :math:`\theta` out:
mean :math:`v(\bar x_i / v_x + \mathrm{E}[\theta] / \tau^2)`, variance
:math:`v + (v / \tau^2)^2 \mathrm{Var}[\theta]` (partial pooling: it narrows as :math:`N` grows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["HierarchicalNormalToy"]


@dataclass(frozen=True)
class HierarchicalNormalToy:
    """The model of the module docstring.

    Example:
        >>> toy = HierarchicalNormalToy()
        >>> theta, z, x, mask = toy.simulate(np.array([0.5]), np.array([3]), rng=0, pad_to=4)
        >>> x.shape, mask.tolist()
        ((1, 4, 4), [[1.0, 1.0, 1.0, 0.0]])
    """

    prior_std: float = 2.0
    tau: float = 1.0
    sigma: float = 1.0
    measurements: int = 4

    @property
    def measurement_variance(self) -> float:
        return self.sigma**2 / self.measurements

    def sample_prior(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        r"""``n`` draws of :math:`\theta`, shape ``(n, 1)``."""
        return np.random.default_rng(rng).normal(0.0, self.prior_std, size=(n, 1))

    def simulate(self, theta, sizes, rng: np.random.Generator | int, pad_to: int | None = None):
        """Datasets of ``sizes[b]`` elements at ``theta[b]``: ``(theta, z (B, L, 1),
        x (B, L, m), mask (B, L))``, padded with zeros to ``pad_to`` (default the largest)."""
        rng = np.random.default_rng(rng)
        theta = np.asarray(theta, dtype=float).reshape(-1, 1)
        sizes = np.asarray(sizes, dtype=int).reshape(-1)
        length = int(pad_to or sizes.max())
        mask = (np.arange(length)[None, :] < sizes[:, None]).astype(float)
        z = rng.normal(theta[:, None, :], self.tau, size=(len(theta), length, 1))
        x = rng.normal(z, self.sigma, size=(len(theta), length, self.measurements))
        return theta, z * mask[..., None], x * mask[..., None], mask

    def global_posterior(self, x, mask) -> tuple[np.ndarray, np.ndarray]:
        r"""Exact mean and standard deviation of :math:`\theta`, each ``(B,)``."""
        xbar = np.asarray(x).mean(-1) * mask
        var = self.tau**2 + self.measurement_variance
        precision = self.prior_std**-2 + mask.sum(-1) / var
        return xbar.sum(-1) / var / precision, precision**-0.5

    def local_posterior(self, x, mask, theta=None) -> tuple[np.ndarray, np.ndarray]:
        """Exact mean and standard deviation of each :math:`z_i`, ``(B, L)``: given ``theta``
        ``(B,)`` if passed, else marginalised over the global posterior."""
        xbar = np.asarray(x).mean(-1)
        vx = self.measurement_variance
        v = 1.0 / (self.tau**-2 + 1.0 / vx)
        if theta is not None:
            theta = np.asarray(theta, dtype=float).reshape(-1, 1)
            return v * (xbar / vx + theta / self.tau**2), np.full(xbar.shape, np.sqrt(v))
        mean, std = self.global_posterior(x, mask)
        local_mean = v * (xbar / vx + mean[:, None] / self.tau**2)
        local_var = v + (v / self.tau**2) ** 2 * std[:, None] ** 2
        return local_mean, np.broadcast_to(np.sqrt(local_var), xbar.shape)
