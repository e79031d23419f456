r"""The multivariate normal toy of the hierarchical-NSBI paper (section 3.1, appendix A.1), with its
exact conjugate posterior.

A dataset is a set of :math:`N` elements, :math:`0 \le N \le N_\mathrm{max} = 200`. Every element
carries :math:`D = 5` independent draws in each of the three dimensions, 15 features in all,

.. math::

    x_{ikj} = \theta_k + \sqrt{\Sigma_{kk}}\, z_{ikj}, \qquad z_{ikj} \sim \mathcal{N}(0, 1),
    \qquad \Sigma = \operatorname{diag}(2, 4, 6),

for element :math:`i`, dimension :math:`k = 1, 2, 3` and draw :math:`j = 1, \dots, D`. The
parameters of interest are the three means, with prior
:math:`\theta \sim \mathcal{N}(0, \sigma_0^2 \mathbb{1})`, :math:`\sigma_0 = 3` (variance 9).

**Feature layout.** The 15 features of an element are ordered dimension-major:
``x[..., 5 * k + j]`` is draw ``j`` of dimension ``k`` (both from zero), so
``x.reshape(*x.shape[:-1], 3, 5)`` has axes ``(dimension, draw)``.

**Posterior.** The prior is conjugate and :math:`\Sigma` is diagonal, so the posterior factorises
over dimensions. Dimension :math:`k` sees :math:`DN` draws of variance :math:`\Sigma_{kk}`, hence

.. math::

    \frac{1}{\sigma_{\mathrm{post},k}^2} = \frac{1}{\sigma_0^2} + \frac{D N}{\Sigma_{kk}},
    \qquad
    \mu_{\mathrm{post},k} = \sigma_{\mathrm{post},k}^2\, \frac{D N\, \bar x_k}{\Sigma_{kk}},

with :math:`\bar x_k` the mean of the :math:`DN` draws of dimension :math:`k`. This is the paper's
:math:`\Sigma_\mathrm{post} = (\Sigma_0^{-1} + N \Sigma^{-1})^{-1}` with :math:`N` replaced by the
number of draws per dimension, :math:`DN`, and :math:`\mu_0 = 0`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from nsbi.random import as_rng

__all__ = ["MultivariateNormalToy"]


@dataclass(frozen=True)
class MultivariateNormalToy:
    r"""Sets of 15-feature elements whose means :math:`\theta \in \mathbb{R}^3` are inferred.

    See the module docstring for the model, the feature layout and the posterior.

    Arguments:
        sigma2: the variances :math:`\Sigma_{kk}` of the three dimensions.
        draws: :math:`D`, the independent draws per dimension in every element.
        prior_std: :math:`\sigma_0`, the standard deviation of the prior on each mean.
        n_max: the largest set size :math:`N_\mathrm{max}`.

    Example:
        >>> toy = MultivariateNormalToy()
        >>> toy.dim, toy.n_features
        (3, 15)
        >>> theta = toy.sample_prior(2, rng=0)
        >>> x, mask = toy.simulate(theta, n_events=[3, 5], rng=1)
        >>> x.shape, mask.sum(axis=1).tolist()
        ((2, 5, 15), [3, 5])
        >>> mean, std = toy.posterior(x, mask)
        >>> mean.shape, np.allclose(std, toy.posterior_std([3, 5]))
        ((2, 3), True)
    """

    sigma2: tuple[float, ...] = (2.0, 4.0, 6.0)
    draws: int = 5
    prior_std: float = 3.0
    n_max: int = 200

    def __post_init__(self) -> None:
        sigma2 = tuple(float(s) for s in self.sigma2)
        if not sigma2 or not all(np.isfinite(s) and s > 0 for s in sigma2):
            raise ValueError(f"sigma2: expected positive variances, got {self.sigma2!r}")
        object.__setattr__(self, "sigma2", sigma2)
        if not isinstance(self.draws, (int, np.integer)) or self.draws < 1:
            raise ValueError(f"draws: expected a positive integer, got {self.draws!r}")
        if not (np.isfinite(self.prior_std) and self.prior_std > 0):
            raise ValueError(f"prior_std: expected a positive number, got {self.prior_std!r}")
        if not isinstance(self.n_max, (int, np.integer)) or self.n_max < 1:
            raise ValueError(f"n_max: expected a positive integer, got {self.n_max!r}")

    @property
    def dim(self) -> int:
        """The number of parameters (means), 3 by default."""
        return len(self.sigma2)

    @property
    def n_features(self) -> int:
        """Features per element, ``dim * draws`` (15 by default)."""
        return self.dim * self.draws

    # ------------------------------------------------------------------ sampling

    def sample_prior(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        r"""Draw :math:`\theta \sim \mathcal{N}(0, \sigma_0^2 \mathbb{1})`.

        Arguments:
            n: the number of draws.
            rng: a generator or an integer seed.

        Returns:
            shape ``(n, dim)``.

        Example:
            >>> MultivariateNormalToy().sample_prior(4, rng=0).shape
            (4, 3)
        """
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: expected a non-negative integer, got {n!r}")
        return self.prior_std * as_rng(rng).standard_normal((int(n), self.dim))

    def _set_sizes(self, n_events: ArrayLike, batch: int) -> np.ndarray:
        n = np.asarray(n_events)
        if n.ndim == 0:
            n = np.full(batch, n)
        if n.shape != (batch,):
            raise ValueError(
                f"n_events: expected an integer or {batch} integers (one per dataset), "
                f"got shape {n.shape}"
            )
        if n.size and not np.all(np.equal(np.mod(n, 1), 0)):
            raise ValueError(f"n_events: expected integers, got {n_events!r}")
        n = n.astype(np.int64)
        if n.size and (n.min() < 0 or n.max() > self.n_max):
            bad = n[(n < 0) | (n > self.n_max)][0]
            raise ValueError(
                f"n_events: every set size must lie in [0, n_max={self.n_max}], got {bad}"
            )
        return n

    def simulate(
        self,
        theta: ArrayLike,
        n_events: int | ArrayLike,
        rng: np.random.Generator | int,
        pad_to: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        r"""Simulate one set per row of ``theta``, zero-padded to a common length.

        Elements are drawn in order along the set, so with the same seed, theta and padded length
        the first :math:`n` elements of a larger set are the elements of a set of size :math:`n`:
        convenient for following a posterior as the set grows.

        Arguments:
            theta: the means, shape ``(B, dim)``.
            n_events: the set sizes, one integer for all sets or ``B`` integers, each in
                ``[0, n_max]``.
            rng: a generator or an integer seed.
            pad_to: the padded length ``L``; default the largest set size in the batch.

        Returns:
            ``(x, mask)``: the elements, shape ``(B, L, n_features)`` in the layout of the module
            docstring and zero where padded, and a boolean mask of shape ``(B, L)``, true for the
            first ``n_events[b]`` (real) elements of set ``b``.

        Example:
            >>> toy = MultivariateNormalToy()
            >>> x, mask = toy.simulate([[0.0, 1.0, 2.0]], n_events=2, rng=0, pad_to=4)
            >>> x.shape, mask.tolist()
            ((1, 4, 15), [[True, True, False, False]])
            >>> bool(np.all(x[0, 2:] == 0.0))
            True
        """
        theta = np.asarray(theta, dtype=float)
        if theta.ndim != 2 or theta.shape[1] != self.dim:
            raise ValueError(f"theta: expected shape (B, {self.dim}), got shape {theta.shape}")
        if not np.all(np.isfinite(theta)):
            raise ValueError("theta: expected finite values")
        batch = theta.shape[0]
        n = self._set_sizes(n_events, batch)
        longest = int(n.max()) if batch else 0
        length = longest if pad_to is None else pad_to
        if not isinstance(length, (int, np.integer)) or length < longest:
            raise ValueError(
                f"pad_to: expected an integer >= the largest set size {longest}, got {pad_to!r}"
            )
        # drawn element by element, (L, B, dim, draws), for the prefix property
        z = as_rng(rng).standard_normal((int(length), batch, self.dim, self.draws))
        z = np.moveaxis(z, 0, 1)
        scale = np.sqrt(np.asarray(self.sigma2))[:, None]
        x = theta[:, None, :, None] + scale * z
        mask = np.arange(length)[None, :] < n[:, None]
        x = np.where(mask[:, :, None, None], x, 0.0)
        return x.reshape(batch, int(length), self.n_features), mask

    # ------------------------------------------------------------------ posterior

    def posterior_std(self, n: ArrayLike) -> np.ndarray:
        r"""The exact posterior standard deviation as a function of the set size,
        :math:`\sigma_{\mathrm{post},k}(N) = (1/\sigma_0^2 + D N / \Sigma_{kk})^{-1/2}`.

        It does not depend on the data, which makes it the reference curve of a "posterior width
        against :math:`N`" plot.

        Arguments:
            n: set sizes, any shape, each :math:`\ge 0` (need not be integer).

        Returns:
            shape ``(*n.shape, dim)``.

        Example:
            >>> toy = MultivariateNormalToy()
            >>> toy.posterior_std(0).tolist()  # the prior
            [3.0, 3.0, 3.0]
            >>> np.round(toy.posterior_std([1, 200]), 4).tolist()
            [[0.6189, 0.8571, 1.029], [0.0447, 0.0632, 0.0774]]
        """
        n = np.asarray(n, dtype=float)
        if not np.all(np.isfinite(n)) or np.any(n < 0):
            raise ValueError(f"n: expected non-negative set sizes, got {n.tolist()!r}")
        precision = self.prior_std**-2 + self.draws * n[..., None] / np.asarray(self.sigma2)
        return 1.0 / np.sqrt(precision)

    def posterior(
        self, x: ArrayLike, mask: ArrayLike | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        r"""The exact posterior :math:`p(\theta \mid \{x\})`, a product of normals.

        Arguments:
            x: sets of elements, shape ``(B, L, n_features)``, in the layout of the module
                docstring.
            mask: boolean, shape ``(B, L)``, true for real elements; default all real. Padded
                values are ignored whatever they are.

        Returns:
            ``(mean, std)``, each of shape ``(B, dim)``.

        Example:
            >>> toy = MultivariateNormalToy()
            >>> x = np.ones((1, 1, 15))  # one element, every draw equal to 1
            >>> mean, std = toy.posterior(x)
            >>> np.round(mean, 4).tolist()  # shrunk towards the prior mean 0
            [[0.9574, 0.9184, 0.8824]]
        """
        x = np.asarray(x, dtype=float)
        if x.ndim != 3 or x.shape[2] != self.n_features:
            raise ValueError(f"x: expected shape (B, L, {self.n_features}), got shape {x.shape}")
        if mask is None:
            mask = np.ones(x.shape[:2], dtype=bool)
        mask = np.asarray(mask)
        if mask.shape != x.shape[:2]:
            raise ValueError(f"mask: expected shape {x.shape[:2]}, got shape {mask.shape}")
        if mask.dtype != bool:
            raise ValueError(f"mask: expected booleans, got dtype {mask.dtype}")
        n = mask.sum(axis=1)
        if np.any(n > self.n_max):
            raise ValueError(f"mask: a set has {n.max()} elements, more than n_max={self.n_max}")
        draws = x.reshape(*x.shape[:2], self.dim, self.draws)
        total = np.where(mask[:, :, None, None], draws, 0.0).sum(axis=(1, 3))  # (B, dim)
        variance = self.posterior_std(n) ** 2
        mean = variance * total / np.asarray(self.sigma2)
        return mean, np.sqrt(variance)
