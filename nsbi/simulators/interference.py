r"""An off-shell-Higgs-style interference toy with exact densities, for testing learned ratios.

Three processes, named as in an nsbi workspace: ``S`` (signal), ``B`` (background) and ``SBI``
(signal + background + interference). Their intensities (expected events per unit volume) are

.. math::

    S(x) = \nu_S\, p_S(x), \qquad B(x) = \nu_B\, p_B(x), \qquad
    I(x) = -2c\sqrt{S(x)\, B(x)}, \qquad \mathrm{SBI}(x) = S(x) + B(x) + I(x),

with Gaussian shapes :math:`p_S = \mathcal{N}(m_S, \Sigma_S)` and :math:`p_B = \mathcal{N}(m_B,
\Sigma_B)` and a destructive interference strength :math:`0 \le c < 1`. The signal strength
:math:`\mu` enters through the ATLAS off-shell mixture of the three samples

.. math::

    \frac{d\sigma}{dx}(x \mid \mu)
    = (\mu - \sqrt{\mu})\, \nu_S p_S(x) + \sqrt{\mu}\, \nu_{SBI} p_{SBI}(x)
      + (1 - \sqrt{\mu})\, \nu_B p_B(x)
    = \mu S(x) + \sqrt{\mu}\, I(x) + B(x).

Since :math:`2\sqrt{\mu S B} \le \mu S + B`, the intensity is bounded on both sides,

.. math::

    (1 - c)\,(\mu S + B) \;\le\; \mu S + \sqrt{\mu}\, I + B \;\le\; \mu S + B,

so it is positive for every :math:`\mu \ge 0` and rejection sampling from the
:math:`(\mu S + B)`-mixture is exact. With :math:`\delta = \ln(\mu S) - \ln B` the acceptance is

.. math::

    \frac{\mu S + \sqrt{\mu} I + B}{\mu S + B} = 1 - \frac{c}{\cosh(\delta / 2)},

which is also how the log-intensity is computed, stably, in log space.

The square root of a product of Gaussians is again an unnormalised Gaussian, whose integral is the
Bhattacharyya coefficient :math:`\mathrm{BC} = \int \sqrt{p_S\, p_B}\, dx`; hence the yields

.. math::

    \nu_{SBI} = \nu_S + \nu_B - 2c\sqrt{\nu_S \nu_B}\, \mathrm{BC}, \qquad
    \nu(\mu) = \mu \nu_S + \sqrt{\mu}\,(\nu_{SBI} - \nu_S - \nu_B) + \nu_B.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize
from scipy.linalg import solve_triangular
from scipy.special import logsumexp

__all__ = ["InterferenceToy", "bhattacharyya_coefficient", "closure_toy"]

_PROCESSES = ("S", "SBI", "B")
_COEFFICIENTS = {"S": "mu - sqrt(mu)", "SBI": "sqrt(mu)", "B": "1 - sqrt(mu)"}

# defaults for d = 2..4: a narrow signal peak shifted from a broad background
_SIGNAL_MEAN = (1.0, 0.5, 0.5, 0.25)
_SIGNAL_SIGMA = (0.5, 0.6, 0.7, 0.8)
_BACKGROUND_MEAN = (0.0, 0.0, 0.0, 0.0)
_BACKGROUND_SIGMA = (1.2, 1.0, 1.1, 1.3)
_MIN_D, _MAX_D = 2, 4

_LOG_2PI = math.log(2.0 * math.pi)


def bhattacharyya_coefficient(
    mean1: ArrayLike, cov1: ArrayLike, mean2: ArrayLike, cov2: ArrayLike
) -> float:
    r"""The Bhattacharyya coefficient :math:`\int \sqrt{p_1(x)\, p_2(x)}\, dx` of two Gaussians.

    .. math::

        \mathrm{BC} = e^{-D_B}, \qquad
        D_B = \tfrac18 (m_1 - m_2)^\top \Sigma^{-1} (m_1 - m_2)
              + \tfrac12 \ln \frac{\det \Sigma}{\sqrt{\det \Sigma_1 \det \Sigma_2}}, \qquad
        \Sigma = \tfrac12 (\Sigma_1 + \Sigma_2).

    Arguments:
        mean1, cov1: mean ``(d,)`` and covariance ``(d, d)`` of the first Gaussian.
        mean2, cov2: the same for the second.

    Example:
        >>> bhattacharyya_coefficient([0.0], [[1.0]], [0.0], [[1.0]])
        1.0
        >>> round(bhattacharyya_coefficient([0.0], [[1.0]], [2.0], [[1.0]]), 6)  # exp(-1/2)
        0.606531
    """
    m1, m2 = np.asarray(mean1, dtype=float), np.asarray(mean2, dtype=float)
    s1, s2 = np.asarray(cov1, dtype=float), np.asarray(cov2, dtype=float)
    s = 0.5 * (s1 + s2)
    diff = m1 - m2
    mahalanobis = float(diff @ np.linalg.solve(s, diff))
    logdet = np.linalg.slogdet(s)[1]
    logdet1, logdet2 = np.linalg.slogdet(s1)[1], np.linalg.slogdet(s2)[1]
    distance = mahalanobis / 8.0 + 0.5 * (logdet - 0.5 * (logdet1 + logdet2))
    return math.exp(-distance)


class _Gaussian:
    r"""A multivariate normal :math:`\mathcal{N}(m, \Sigma)` with :math:`\Sigma = L L^\top`.

    .. math::

        \ln p(x) = -\tfrac12 \lVert L^{-1}(x - m) \rVert^2 - \sum_i \ln L_{ii}
                   - \tfrac{d}{2} \ln 2\pi, \qquad x = m + L z,\ z \sim \mathcal{N}(0, 1).
    """

    def __init__(self, mean: np.ndarray, cov: np.ndarray):
        self.mean = mean
        self.cov = cov
        self.cholesky = np.linalg.cholesky(cov)
        d = mean.shape[0]
        self._log_norm = -np.log(np.diag(self.cholesky)).sum() - 0.5 * d * _LOG_2PI

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        z = solve_triangular(self.cholesky, (x - self.mean).T, lower=True)
        return -0.5 * np.sum(z * z, axis=0) + self._log_norm

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        z = rng.standard_normal((n, self.mean.shape[0]))
        return self.mean + z @ self.cholesky.T


def _as_mean(value: ArrayLike | None, default: Sequence[float], d: int, name: str) -> np.ndarray:
    mean = np.array(default[:d] if value is None else value, dtype=float)
    if mean.shape != (d,) or not np.all(np.isfinite(mean)):
        raise ValueError(f"{name}: expected {d} finite numbers, got shape {mean.shape}")
    return mean


def _as_cov(value: ArrayLike | None, default: Sequence[float], d: int, name: str) -> np.ndarray:
    cov = np.diag(np.square(default[:d])) if value is None else np.array(value, dtype=float)
    if cov.shape != (d, d):
        raise ValueError(f"{name}: expected a ({d}, {d}) covariance matrix, got shape {cov.shape}")
    if not np.allclose(cov, cov.T) or np.any(np.linalg.eigvalsh(cov) <= 0):
        raise ValueError(f"{name}: the covariance must be symmetric positive definite")
    return 0.5 * (cov + cov.T)


class InterferenceToy:
    r"""Signal, background and their destructive interference with closed-form densities.

    See the module docstring for the model. Every density is normalised and exact; sampling is
    exact too (Gaussians directly, ``SBI`` and :math:`p(x \mid \mu)` by rejection).

    Arguments:
        d: number of observables, 2 to 4.
        signal_mean: :math:`m_S`, shape ``(d,)``; default ``(1.0, 0.5, 0.5, 0.25)[:d]``.
        signal_cov: :math:`\Sigma_S`, shape ``(d, d)``; default diagonal with standard deviations
            ``(0.5, 0.6, 0.7, 0.8)[:d]``.
        background_mean: :math:`m_B`; default the origin.
        background_cov: :math:`\Sigma_B`; default diagonal with standard deviations
            ``(1.2, 1.0, 1.1, 1.3)[:d]``.
        nu_signal: :math:`\nu_S`, the expected signal events at :math:`\mu = 1`.
        nu_background: :math:`\nu_B`, the expected background events.
        interference: :math:`c \in [0, 1)`, the strength of the destructive interference.

    Example:
        >>> toy = InterferenceToy()
        >>> toy.processes, toy.observable_names
        (('S', 'SBI', 'B'), ['x1', 'x2'])
        >>> {k: round(v, 2) for k, v in toy.yields().items()}
        {'S': 60.0, 'SBI': 868.34, 'B': 1000.0}
    """

    def __init__(
        self,
        d: int = 2,
        signal_mean: ArrayLike | None = None,
        signal_cov: ArrayLike | None = None,
        background_mean: ArrayLike | None = None,
        background_cov: ArrayLike | None = None,
        nu_signal: float = 60.0,
        nu_background: float = 1000.0,
        interference: float = 0.6,
    ):
        if not isinstance(d, (int, np.integer)) or not _MIN_D <= d <= _MAX_D:
            raise ValueError(f"d: expected an integer from {_MIN_D} to {_MAX_D}, got {d!r}")
        if not (np.isfinite(nu_signal) and nu_signal > 0):
            raise ValueError(f"nu_signal: expected a positive number, got {nu_signal!r}")
        if not (np.isfinite(nu_background) and nu_background > 0):
            raise ValueError(f"nu_background: expected a positive number, got {nu_background!r}")
        if not 0.0 <= interference < 1.0:
            raise ValueError(f"interference: expected 0 <= c < 1, got {interference!r}")
        self.d = int(d)
        self.nu_signal = float(nu_signal)
        self.nu_background = float(nu_background)
        self.interference = float(interference)
        self._signal = _Gaussian(
            _as_mean(signal_mean, _SIGNAL_MEAN, self.d, "signal_mean"),
            _as_cov(signal_cov, _SIGNAL_SIGMA, self.d, "signal_cov"),
        )
        self._background = _Gaussian(
            _as_mean(background_mean, _BACKGROUND_MEAN, self.d, "background_mean"),
            _as_cov(background_cov, _BACKGROUND_SIGMA, self.d, "background_cov"),
        )
        self.bhattacharyya = bhattacharyya_coefficient(
            self._signal.mean, self._signal.cov, self._background.mean, self._background.cov
        )
        # \nu_I = \int I\,dx = -2c\sqrt{\nu_S \nu_B}\,\mathrm{BC}
        self.nu_interference = (
            -2.0 * self.interference * math.sqrt(self.nu_signal * self.nu_background)
        ) * self.bhattacharyya
        self.nu_sbi = self.nu_signal + self.nu_background + self.nu_interference

    def __repr__(self) -> str:
        return (
            f"InterferenceToy(d={self.d}, nu_signal={self.nu_signal:g}, "
            f"nu_background={self.nu_background:g}, interference={self.interference:g})"
        )

    # ---------------------------------------------------------------- description

    @property
    def processes(self) -> tuple[str, ...]:
        """The sample names, in workspace order: ``("S", "SBI", "B")``."""
        return _PROCESSES

    @property
    def coefficients(self) -> dict[str, str]:
        """The workspace coefficient expression of each sample, in terms of ``mu``."""
        return dict(_COEFFICIENTS)

    @property
    def observable_names(self) -> list[str]:
        """``["x1", ..., "xd"]``."""
        return [f"x{i + 1}" for i in range(self.d)]

    @property
    def signal_mean(self) -> np.ndarray:
        """:math:`m_S` (a copy)."""
        return self._signal.mean.copy()

    @property
    def signal_cov(self) -> np.ndarray:
        r""":math:`\Sigma_S` (a copy)."""
        return self._signal.cov.copy()

    @property
    def background_mean(self) -> np.ndarray:
        """:math:`m_B` (a copy)."""
        return self._background.mean.copy()

    @property
    def background_cov(self) -> np.ndarray:
        r""":math:`\Sigma_B` (a copy)."""
        return self._background.cov.copy()

    def coefficient_values(self, mu: float) -> dict[str, float]:
        r"""The coefficients :math:`(\mu - \sqrt\mu,\ \sqrt\mu,\ 1 - \sqrt\mu)` at a value of mu.

        Example:
            >>> InterferenceToy().coefficient_values(4.0)
            {'S': 2.0, 'SBI': 2.0, 'B': -1.0}
        """
        root = math.sqrt(_check_mu(mu))
        return {"S": float(mu) - root, "SBI": root, "B": 1.0 - root}

    # ---------------------------------------------------------------- yields

    def yields(self) -> dict[str, float]:
        r"""The expected events :math:`\nu_j = \int j(x)\, dx` of each process.

        Example:
            >>> toy = InterferenceToy(interference=0.0)
            >>> toy.yields()
            {'S': 60.0, 'SBI': 1060.0, 'B': 1000.0}
        """
        return {"S": self.nu_signal, "SBI": self.nu_sbi, "B": self.nu_background}

    def total_yield(self, mu: ArrayLike) -> float | np.ndarray:
        r"""The expected events :math:`\nu(\mu) = \mu\nu_S + \sqrt\mu\,\nu_I + \nu_B`.

        Here :math:`\nu_I = \nu_{SBI} - \nu_S - \nu_B`. Vectorised over ``mu``.

        Example:
            >>> toy = InterferenceToy()
            >>> toy.total_yield(0.0), round(toy.total_yield(1.0), 2)
            (1000.0, 868.34)
            >>> toy.total_yield([0.0, 0.0]).tolist()
            [1000.0, 1000.0]
        """
        mu = _check_mu(mu)
        value = mu * self.nu_signal + np.sqrt(mu) * self.nu_interference + self.nu_background
        return float(value) if np.ndim(value) == 0 else value

    # ---------------------------------------------------------------- densities

    def _events(self, x: ArrayLike) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x: expected events of shape (n, {self.d}), got shape {x.shape}")
        return x

    def _log_signal_background(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`(\ln S(x), \ln B(x))`."""
        log_s = math.log(self.nu_signal) + self._signal.log_pdf(x)
        log_b = math.log(self.nu_background) + self._background.log_pdf(x)
        return log_s, log_b

    def _log_acceptance(self, delta: np.ndarray) -> np.ndarray:
        r""":math:`\ln(1 - c\,\mathrm{sech}(\delta/2))`, with
        :math:`\mathrm{sech}\, t = 2e^{-|t|} / (1 + e^{-2|t|})` so that it never overflows."""
        t = np.abs(0.5 * delta)
        sech = 2.0 * np.exp(-t) / (1.0 + np.exp(-2.0 * t))
        return np.log1p(-self.interference * sech)

    def _log_intensity(self, log_s: np.ndarray, log_b: np.ndarray, mu: float) -> np.ndarray:
        r""":math:`\ln(\mu S + \sqrt\mu I + B)
        = \operatorname{logaddexp}(\ln \mu S, \ln B) + \ln(1 - c\,\mathrm{sech}(\delta / 2))`."""
        if mu == 0.0:
            return log_b
        log_mu_s = math.log(mu) + log_s
        return np.logaddexp(log_mu_s, log_b) + self._log_acceptance(log_mu_s - log_b)

    def log_intensity(self, x: ArrayLike, mu: float) -> np.ndarray:
        r"""The log of the differential yield, :math:`\ln(\mu S(x) + \sqrt\mu\, I(x) + B(x))`.

        Arguments:
            x: events, shape ``(n, d)``.
            mu: the signal strength, :math:`\mu \ge 0`.

        Returns:
            shape ``(n,)``.

        Example:
            >>> toy = InterferenceToy()
            >>> x = [[0.5, 0.2], [3.0, -2.0]]
            >>> bool(np.allclose(toy.log_intensity(x, 0.0), np.log(1000.0) + toy.log_density("B", x)))
            True
        """
        log_s, log_b = self._log_signal_background(self._events(x))
        return self._log_intensity(log_s, log_b, float(_check_mu(mu)))

    def log_density(self, process: str, x: ArrayLike) -> np.ndarray:
        r"""The normalised log-density :math:`\ln p_j(x)` of one process.

        :math:`p_S` and :math:`p_B` are the Gaussians, and
        :math:`p_{SBI}(x) = (S(x) + B(x) + I(x)) / \nu_{SBI}`.

        Arguments:
            process: ``"S"``, ``"SBI"`` or ``"B"``.
            x: events, shape ``(n, d)``.

        Returns:
            shape ``(n,)``.

        Example:
            >>> toy = InterferenceToy()
            >>> toy.log_density("S", [[1.0, 0.5]]).round(6).tolist()  # -ln(2 pi 0.5 0.6)
            [-0.633904]
        """
        _check_process(process)
        x = self._events(x)
        if process == "S":
            return self._signal.log_pdf(x)
        if process == "B":
            return self._background.log_pdf(x)
        log_s, log_b = self._log_signal_background(x)
        return self._log_intensity(log_s, log_b, 1.0) - math.log(self.nu_sbi)

    def log_density_mu(self, x: ArrayLike, mu: float) -> np.ndarray:
        r"""The normalised log-density of the full model,
        :math:`\ln p(x \mid \mu) = \ln(\mu S + \sqrt\mu I + B) - \ln \nu(\mu)`.

        Example:
            >>> toy = InterferenceToy()
            >>> x = [[0.5, 0.2], [3.0, -2.0]]
            >>> bool(np.allclose(toy.log_density_mu(x, 1.0), toy.log_density("SBI", x)))
            True
        """
        return self.log_intensity(x, mu) - math.log(self.total_yield(mu))

    def log_ratio(
        self, process: str, x: ArrayLike, reference: str | Sequence[str] = ("S", "B")
    ) -> np.ndarray:
        r"""The exact log density ratio :math:`\ln[p_j(x) / p_{\mathrm{ref}}(x)]`.

        The reference pools the named processes weighted by their yields, as nsbi builds a
        reference from several samples:

        .. math::

            p_{\mathrm{ref}}(x) = \frac{\sum_{k \in \mathrm{ref}} \nu_k\, p_k(x)}
                                       {\sum_{k \in \mathrm{ref}} \nu_k}.

        Arguments:
            process: the numerator process.
            x: events, shape ``(n, d)``.
            reference: one process name or several.

        Example:
            >>> toy = InterferenceToy()
            >>> x = [[0.5, 0.2]]
            >>> toy.log_ratio("S", x, reference="S").tolist()
            [0.0]
            >>> r = toy.log_ratio("SBI", x, reference="B")
            >>> bool(np.allclose(r, toy.log_density("SBI", x) - toy.log_density("B", x)))
            True
        """
        return self.log_density(process, x) - self.log_reference_density(x, reference)

    def log_reference_density(
        self, x: ArrayLike, reference: str | Sequence[str] = ("S", "B")
    ) -> np.ndarray:
        r""":math:`\ln p_{\mathrm{ref}}(x)` of the yield-weighted pool of ``reference`` processes
        (see :meth:`log_ratio`).

        Example:
            >>> toy = InterferenceToy()
            >>> x = [[0.5, 0.2]]
            >>> bool(np.allclose(toy.log_reference_density(x, "B"), toy.log_density("B", x)))
            True
        """
        names = (reference,) if isinstance(reference, str) else tuple(reference)
        if not names:
            raise ValueError("reference: expected at least one process")
        for name in names:
            _check_process(name)
        yields = self.yields()
        log_nu = np.array([math.log(yields[name]) for name in names])
        log_p = np.stack([self.log_density(name, x) for name in names])
        return logsumexp(log_p + log_nu[:, None], axis=0) - logsumexp(log_nu)

    # ---------------------------------------------------------------- likelihood

    def nll(
        self, mu: ArrayLike, x: ArrayLike, weights: ArrayLike | None = None
    ) -> float | np.ndarray:
        r"""The exact extended negative log-likelihood of a dataset (without :math:`\ln N!`).

        .. math::

            -\ln L(\mu) = \nu(\mu) - \sum_{i=1}^{N} w_i \ln\bigl(\mu S(x_i) + \sqrt\mu\, I(x_i)
                          + B(x_i)\bigr)

        Arguments:
            mu: a signal strength or an array of them (any shape), all :math:`\ge 0`.
            x: the events, shape ``(N, d)``.
            weights: per-event weights :math:`w_i` (default 1: observed data; weighted
                simulated events make an Asimov dataset).

        Returns:
            a float for a scalar ``mu``, else an array of ``mu``'s shape.

        Example:
            >>> toy = InterferenceToy()
            >>> x = toy.sample_events(1.0, rng=1)
            >>> values = toy.nll(np.linspace(0.0, 4.0, 9), x)
            >>> values.shape, bool(values[0] == toy.nll(0.0, x))
            ((9,), True)
        """
        mu = np.asarray(_check_mu(mu), dtype=float)
        log_s, log_b = self._log_signal_background(self._events(x))
        w = np.ones(len(log_s)) if weights is None else np.asarray(weights, dtype=float)
        flat = np.array(
            [self._log_intensity(log_s, log_b, float(m)) @ w for m in mu.ravel()]
        ).reshape(mu.shape)
        value = self.total_yield(mu) - flat
        return float(value) if mu.ndim == 0 else value

    def asimov_statistic(
        self, mu_true: float, mu: ArrayLike, half_width: float = 9.0, points: int | None = None
    ) -> float | np.ndarray:
        r"""The expected (Asimov) likelihood-ratio statistic, without Monte Carlo: the
        infinite-statistics dataset at :math:`\mu_\text{true}` is the intensity itself, so

        .. math::

            t_A(\mu) = -2 \ln \frac{L_A(\mu)}{L_A(\mu_\text{true})}
            = 2 \int \Bigl[\lambda_t \ln\frac{\lambda_t}{\lambda_\mu} - \lambda_t
              + \lambda_\mu\Bigr] dx, \qquad \lambda_m(x) = \mu S + \sqrt\mu\, I + B
              \ \text{at}\ m,

        integrated on a regular grid over :math:`[-w, w]^d` (the midpoint rule, exponentially
        accurate for these smooth Gaussian-tailed integrands; ``points`` per axis, default
        1201 for d = 2 and 161 for d = 3). :math:`\hat\mu = \mu_\text{true}` on its own Asimov
        data, so this is :math:`t_\mu` of the expected scan, and :math:`q_0` of the Asimov
        data at :math:`\mu_\text{true}` for :math:`\mu = 0`. For d <= 3.

        Example:
            >>> toy = closure_toy()
            >>> round(toy.asimov_statistic(1.0, 1.0), 12), bool(toy.asimov_statistic(1.0, 0.0) > 0)
            (0.0, True)
        """
        if self.d > 3:
            raise ValueError(f"asimov_statistic integrates on a grid for d <= 3, not d = {self.d}")
        points = points or (1201 if self.d <= 2 else 161)
        axis = np.linspace(-half_width, half_width, points)
        volume = (axis[1] - axis[0]) ** self.d
        grid = np.stack(np.meshgrid(*[axis] * self.d, indexing="ij"), -1).reshape(-1, self.d)
        log_s, log_b = self._log_signal_background(grid)
        log_t = self._log_intensity(log_s, log_b, float(_check_mu(mu_true)))
        lam_t = np.exp(log_t)
        mu = np.asarray(_check_mu(mu), dtype=float)
        values = []
        for m in mu.ravel():
            log_m = self._log_intensity(log_s, log_b, float(m))
            values.append(2 * volume * np.sum(lam_t * (log_t - log_m) - lam_t + np.exp(log_m)))
        out = np.array(values).reshape(mu.shape)
        return float(out) if mu.ndim == 0 else out

    def discovery_mu(self, z: float = 3.0, mu_max: float = 5.0) -> float:
        r"""The signal strength :math:`\mu'` whose Asimov discovery statistic is :math:`z^2`
        (expected significance :math:`z`): the root of :math:`q_{0,A}(\mu') = z^2` in
        ``[0.05, mu_max]`` with :meth:`asimov_statistic` (Brent, ``xtol`` 1e-10).

        Example:
            >>> toy = closure_toy()
            >>> mu3 = toy.discovery_mu(3.0)
            >>> round(toy.asimov_statistic(mu3, 0.0), 8)
            9.0
        """
        target = float(z) ** 2
        return float(
            optimize.brentq(
                lambda mu: self.asimov_statistic(mu, 0.0) - target, 0.05, mu_max, xtol=1e-10
            )
        )

    # ---------------------------------------------------------------- sampling

    def sample(self, process: str, n: int, rng: np.random.Generator | int) -> np.ndarray:
        r"""``n`` events drawn exactly from :math:`p_j`.

        ``S`` and ``B`` are drawn from their Gaussians; ``SBI`` is :math:`p(x \mid \mu = 1)` and
        is drawn by rejection (see :meth:`sample_mu`).

        Arguments:
            process: ``"S"``, ``"SBI"`` or ``"B"``.
            n: number of events.
            rng: a ``numpy.random.Generator`` or a seed.

        Returns:
            shape ``(n, d)``.

        Example:
            >>> toy = InterferenceToy()
            >>> toy.sample("SBI", 5, rng=0).shape
            (5, 2)
            >>> bool(np.array_equal(toy.sample("S", 3, rng=7), toy.sample("S", 3, rng=7)))
            True
        """
        _check_process(process)
        n = _check_n(n)
        rng = np.random.default_rng(rng)
        if process == "S":
            return self._signal.sample(n, rng)
        if process == "B":
            return self._background.sample(n, rng)
        return self._sample_intensity(1.0, n, rng)

    def sample_mu(self, mu: float, n: int, rng: np.random.Generator | int) -> np.ndarray:
        r"""``n`` events drawn exactly from :math:`p(x \mid \mu)`, by rejection.

        Proposals come from :math:`(\mu S + B) / (\mu\nu_S + \nu_B)`; each is kept with probability

        .. math::

            \frac{\mu S + \sqrt\mu I + B}{\mu S + B} = 1 - \frac{c}{\cosh(\delta/2)}
            \in [1 - c, 1], \qquad \delta = \ln \mu S - \ln B,

        for an overall efficiency of :math:`\nu(\mu) / (\mu\nu_S + \nu_B) \ge 1 - c`.

        Example:
            >>> InterferenceToy(d=3).sample_mu(2.0, 4, rng=0).shape
            (4, 3)
        """
        mu = float(_check_mu(mu))
        return self._sample_intensity(mu, _check_n(n), np.random.default_rng(rng))

    def sample_events(self, mu: float, rng: np.random.Generator | int) -> np.ndarray:
        r"""A pseudo-dataset at :math:`\mu`: :math:`N \sim \mathrm{Poisson}(\nu(\mu))` events
        from :math:`p(x \mid \mu)`.

        Example:
            >>> x = InterferenceToy().sample_events(1.0, rng=3)
            >>> x.ndim, x.shape[1], 700 < x.shape[0] < 1050
            (2, 2, True)
        """
        mu = float(_check_mu(mu))
        rng = np.random.default_rng(rng)
        n = int(rng.poisson(self.total_yield(mu)))
        return self._sample_intensity(mu, n, rng)

    def _sample_intensity(self, mu: float, n: int, rng: np.random.Generator) -> np.ndarray:
        weight_s, weight_b = mu * self.nu_signal, self.nu_background
        fraction_s = weight_s / (weight_s + weight_b)
        efficiency = self.total_yield(mu) / (weight_s + weight_b)
        kept: list[np.ndarray] = []
        missing = n
        while missing > 0:
            size = int(math.ceil(1.1 * missing / efficiency)) + 16
            from_signal = rng.random(size) < fraction_s
            proposal = np.empty((size, self.d))
            proposal[from_signal] = self._signal.sample(int(from_signal.sum()), rng)
            proposal[~from_signal] = self._background.sample(int((~from_signal).sum()), rng)
            if mu == 0.0:
                accepted = proposal
            else:
                log_s, log_b = self._log_signal_background(proposal)
                delta = math.log(mu) + log_s - log_b
                accept = rng.random(size) < np.exp(self._log_acceptance(delta))
                accepted = proposal[accept]
            kept.append(accepted[:missing])
            missing -= kept[-1].shape[0]
        return np.concatenate(kept) if kept else np.empty((0, self.d))


def _check_process(process: str) -> None:
    if process not in _PROCESSES:
        raise ValueError(f"unknown process {process!r}; expected one of {', '.join(_PROCESSES)}")


def _check_mu(mu: ArrayLike) -> ArrayLike:
    values = np.asarray(mu, dtype=float)
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"mu: expected finite values >= 0, got {mu!r}")
    return mu if np.ndim(mu) == 0 else values


def _check_n(n: int) -> int:
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"n: expected a non-negative integer, got {n!r}")
    return int(n)


def closure_toy(interference: float = 0.3) -> InterferenceToy:
    r"""The toy of nsbi's closure tests, example and benchmarks.

    50 signal and 200 background events at :math:`\mu = 1`, 30% destructive interference, and
    signal and background widths close enough (0.9 and 1) that every ratio to the pooled
    reference is well covered by simulated events, so learned ratios can be compared with the
    exact ones everywhere that matters. ``interference=0.0`` gives the plain signal-strength
    model :math:`\mu S + B` of the same shapes (``SBI`` is then the mixture ``S + B``).

    Example:
        >>> {k: round(v, 1) for k, v in closure_toy().yields().items()}
        {'S': 50.0, 'SBI': 199.8, 'B': 200.0}
        >>> closure_toy(0.0).yields()["SBI"]
        250.0
    """
    return InterferenceToy(
        d=2,
        nu_signal=50.0,
        nu_background=200.0,
        interference=interference,
        signal_cov=np.diag([0.81, 0.81]),
        background_cov=np.eye(2),
    )
