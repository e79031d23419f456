r"""Neyman confidence belts from pseudo-experiments, with likelihood-ratio ordering.

For each value :math:`\mu` of the POI on a grid, pseudo-experiments are drawn at
:math:`(\mu, \hat{\hat\theta}(\mu))`, the nuisance parameters at their conditional MLE on the
observed data (the *profile construction*; ``construction="fixed"`` keeps them at their inits),
and each gets the profile-likelihood-ratio statistic

.. math::

    t_\mu = -2 \ln \frac{L(\mu, \hat{\hat\theta}(\mu))}{L(\hat\mu, \hat\theta)} \ge 0,

with :math:`\hat\mu` inside the POI's bounds (a lower bound of 0 gives Feldman and Cousins'
ordering). The critical value :math:`t_c(\mu)` at confidence level CL is the CL-quantile of the
toys' :math:`t_\mu` (the smallest value whose empirical CDF reaches CL), with the uncertainty from
the binomial spread of the order statistic: half the distance between the order statistics at
:math:`T\,\text{CL} \pm \sqrt{T\,\text{CL}(1-\text{CL})}`. The observed interval is
:math:`\{\mu : t_\mu^\text{obs} \le t_c(\mu)\}`, its ends interpolated linearly in
:math:`t^\text{obs}_\mu - t_c(\mu)` between grid points.

The toys of grid point :math:`g` are the stream ``(seed, g)`` of :mod:`nsbi.infer.toys`, cut
into chunks; a chunk is a pure function of its inputs, so chunks run anywhere, in any order
(:mod:`nsbi.infer.distributed`), and the same seed gives the same belt.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from nsbi.exceptions import FitError
from nsbi.infer.batch_fit import fit_toys
from nsbi.infer.fit_health import FitCounts
from nsbi.infer.likelihood_ratio import batch_values
from nsbi.infer.minimize import minimize
from nsbi.infer.toys import generate
from nsbi.model import Model, pyhf_torch_backend

__all__ = [
    "Belt",
    "critical_value",
    "conditional_fits",
    "generation_points",
    "neyman_belt",
    "observed_statistics",
    "toy_statistics",
]

#: the default confidence levels: 1 and 2 Gaussian standard deviations
DEFAULT_CL = (0.6827, 0.9545)


def critical_value(t: np.ndarray, cl: float) -> tuple[float, float]:
    """The CL-quantile of ``t`` and its binomial (order-statistic) uncertainty.

    Example:
        >>> t = np.random.default_rng(0).chisquare(1, 20000)
        >>> value, error = critical_value(t, 0.6827)
        >>> abs(value - 1.0) < 3 * error     # chi2(1) 68.27% quantile is 1
        True
    """
    t = np.sort(np.asarray(t, dtype=np.float64))
    n = len(t)
    value = float(np.quantile(t, cl, method="inverted_cdf"))
    spread = np.sqrt(n * cl * (1 - cl))
    lo = t[int(np.clip(np.floor(n * cl - spread), 0, n - 1))]
    hi = t[int(np.clip(np.ceil(n * cl + spread), 0, n - 1))]
    return value, float(hi - lo) / 2


@pyhf_torch_backend()
def conditional_fits(model: Model, grid: Sequence[float]) -> list:
    r""":math:`\hat{\hat\theta}(\mu)` on the model's bound data at each grid value (the
    :class:`~nsbi.infer.FitResult` of each conditional fit)."""
    poi = model.parameters.poi
    return [minimize(model, fix={poi: float(mu)}, errors=False) for mu in grid]


def generation_points(
    model: Model, grid: Sequence[float], construction: str = "profile", conditional=None
) -> np.ndarray:
    r"""The parameter points ``(G, npar)`` the toys of each grid point are drawn at:
    :math:`(\mu, \hat{\hat\theta}(\mu))` on the observed data (``profile``; pass
    ``conditional`` from :func:`conditional_fits` to reuse them) or the inits with :math:`\mu`
    (``fixed``)."""
    poi = model.parameters.poi
    if construction not in ("profile", "fixed"):
        raise FitError(f"unknown construction {construction!r}; use 'profile' or 'fixed'")
    if construction == "fixed":
        return np.array([model.parameter_vector({poi: float(mu)}).numpy() for mu in grid])
    conditional = conditional_fits(model, grid) if conditional is None else conditional
    return np.array([fit.values for fit in conditional])


@pyhf_torch_backend()
def toy_statistics(
    model: Model,
    point: np.ndarray,
    start: int,
    stop: int,
    key: Sequence[int],
    mu: float | None = None,
    statistic: str = "tmu",
) -> tuple[np.ndarray, FitCounts]:
    r"""The test statistic (:math:`t_\mu` by default, see
    :mod:`nsbi.infer.likelihood_ratio`) at ``mu`` (default: the POI's value in ``point``) of
    toys ``start..stop`` of stream ``key`` drawn at ``point``, and the counts of iminuit
    fallbacks and failed fits among their two fits each."""
    poi = model.parameters.poi
    mu = float(point[model.parameters.poi_index]) if mu is None else float(mu)
    toys = generate(model, point, range(start, stop), key)
    unconditional = fit_toys(model, toys, init=point)
    conditional = fit_toys(model, toys, init=point, fix={poi: mu})
    mu_hat = unconditional.values[:, model.parameters.poi_index]
    values = batch_values(statistic, mu, mu_hat, 2 * (conditional.nll - unconditional.nll))
    return values, unconditional.counts + conditional.counts


@pyhf_torch_backend()
def learned_toy_statistics(
    source, statistic, point: np.ndarray, start: int, stop: int, key: Sequence[int]
) -> tuple[np.ndarray, FitCounts]:
    r"""A learned statistic :math:`t_\text{ML}(\mu)` (``statistic``, a
    :class:`~nsbi.sets.LearnedStatistic`) of toys ``start..stop`` of stream ``key`` drawn at
    ``point`` from ``source.model`` (a :class:`~nsbi.sets.WorkspaceSource`): the toys'
    Poisson weights of the reference events go through the network; no fit is made."""
    mu = float(point[source.model.parameters.poi_index])
    toys = generate(source.model, point, range(start, stop), key)
    return statistic(source.features, toys.weights[source.channel.name], mu), FitCounts()


def learned_observed_statistics(source, statistic, grid: Sequence[float]) -> np.ndarray | None:
    r""":math:`t_\text{ML}(\mu)` of the observed events on ``grid`` (``None`` without)."""
    if source.observed is None:
        return None
    weights = np.ones((1, len(source.observed)), dtype=np.float32)
    return statistic.on_grid(source.observed, weights, np.asarray(grid))[0]


def observed_statistics(model: Model, grid: Sequence[float], conditional=None) -> np.ndarray:
    r""":math:`t_\mu` of the model's bound (observed) data at each grid value (``conditional``:
    the fits of :func:`conditional_fits`, if already made)."""
    best = minimize(model, errors=False).nll
    conditional = conditional_fits(model, grid) if conditional is None else conditional
    return np.clip(2 * (np.array([fit.nll for fit in conditional]) - best), 0.0, None)


@dataclass
class Belt:
    r"""A Neyman belt: critical values of :math:`t_\mu` on a POI grid, and the observed
    statistic and intervals when the data are known.

    Attributes:
        poi: the POI's name.
        grid: the POI values.
        cl: the confidence levels.
        toys: ``(G, T)`` the toys' :math:`t_\mu` per grid point.
        observed: ``(G,)`` the observed :math:`t_\mu`, or ``None``.
        fallbacks: toy fits that fell back to iminuit.
        failed_fits: fits the belt rests on that are not valid (toy fits after iminuit's
            fallback, and the conditional fits to the data).
        statistic: ``"tmu"`` (the profile likelihood ratio) or ``"learned"`` (a learned
            statistic, :mod:`nsbi.sets.profile_statistic`, with no asymptotic distribution).
    """

    poi: str
    grid: np.ndarray
    cl: list[float]
    toys: np.ndarray
    observed: np.ndarray | None = None
    fallbacks: int = 0
    failed_fits: int = 0
    statistic: str = "tmu"
    _critical: dict = field(default_factory=dict, repr=False)

    def critical_values(self, cl: float) -> tuple[np.ndarray, np.ndarray]:
        r""":math:`t_c(\mu)` and its uncertainty on the grid at ``cl``."""
        if cl not in self._critical:
            pairs = [critical_value(t, cl) for t in self.toys]
            self._critical[cl] = (np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs]))
        return self._critical[cl]

    def interval(self, cl: float, observed: np.ndarray | None = None) -> tuple[float, float]:
        """The confidence interval at ``cl`` for the observed statistic (or ``observed``):
        the hull of the accepted grid points, its ends interpolated between grid points;
        ``nan`` where nothing is accepted."""
        t_obs = self.observed if observed is None else np.asarray(observed)
        if t_obs is None:
            raise FitError("the belt has no observed statistic; give the observed t")
        difference = t_obs - self.critical_values(cl)[0]
        accepted = np.flatnonzero(difference <= 0)
        if len(accepted) == 0:
            return float("nan"), float("nan")
        first, last = accepted[0], accepted[-1]

        def crossing(i, j):  # where the difference crosses 0 between grid points i and j
            d_i, d_j = difference[i], difference[j]
            return float(self.grid[i] + (self.grid[j] - self.grid[i]) * d_i / (d_i - d_j))

        lo = float(self.grid[first]) if first == 0 else crossing(first - 1, first)
        hi = float(self.grid[last]) if last == len(self.grid) - 1 else crossing(last, last + 1)
        return lo, hi

    def to_dict(self) -> dict:
        """The JSON shape of ``nsbi belt --output``."""
        keys = {cl: f"{cl:g}" for cl in self.cl}
        out = {
            "poi": self.poi,
            "statistic": self.statistic,
            "grid": self.grid.tolist(),
            "cl": list(self.cl),
            "critical_values": {keys[c]: self.critical_values(c)[0].tolist() for c in self.cl},
            "critical_value_errors": {
                keys[c]: self.critical_values(c)[1].tolist() for c in self.cl
            },
            "observed": None,
            "toys_per_point": int(self.toys.shape[1]),
            "fallbacks": int(self.fallbacks),
            "failed_fits": int(self.failed_fits),
        }
        if self.observed is not None:
            out["observed"] = {
                "t": self.observed.tolist(),
                "interval": {keys[c]: list(self.interval(c)) for c in self.cl},
            }
        return out

    def __str__(self) -> str:
        lines = [f"{self.poi:>10}" + "".join(f"  t_c({c:g})" for c in self.cl) + "     t_obs"]
        for g, mu in enumerate(self.grid):
            values = "".join(f"{self.critical_values(c)[0][g]:>11.3f}" for c in self.cl)
            obs = "" if self.observed is None else f"{self.observed[g]:>10.3f}"
            lines.append(f"{mu:>10.4g}{values}{obs}")
        if self.observed is not None:
            for c in self.cl:
                lo, hi = self.interval(c)
                lines.append(f"{c:g} CL interval: [{lo:.4g}, {hi:.4g}]")
        if self.failed_fits:
            lines.append(f"{self.failed_fits} fits are not valid (see failed_fits)")
        return "\n".join(lines)


@pyhf_torch_backend()
def neyman_belt(
    model: Model,
    grid: Sequence[float],
    toys: int,
    *,
    cl: Sequence[float] = DEFAULT_CL,
    seed: int = 0,
    construction: str = "profile",
    chunk_size: int = 500,
    observed: bool = True,
) -> Belt:
    """The Neyman belt of ``model``'s POI on ``grid`` with ``toys`` pseudo-experiments per
    point, computed in this process (``nsbi belt`` distributes the same chunks with Dask).

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [7.0], observed=[60])
        >>> belt = neyman_belt(Model.from_workspace(ws), [0.0, 1.0, 2.0], 200, seed=1)
        >>> belt.toys.shape, belt.interval(0.6827)[0] < 1.0 < belt.interval(0.6827)[1]
        ((3, 200), True)
    """
    grid = np.asarray(grid, dtype=np.float64)
    needed = observed or construction == "profile"
    conditional = conditional_fits(model, grid) if needed else None
    points = generation_points(model, grid, construction, conditional)
    rows, counts = [], FitCounts.of(*(conditional or []))
    for g, point in enumerate(points):
        parts = []
        for start in range(0, toys, chunk_size):
            t, n = toy_statistics(model, point, start, min(start + chunk_size, toys), (seed, g))
            parts.append(t)
            counts += n
        rows.append(np.concatenate(parts))
    return Belt(
        poi=model.parameters.poi,
        grid=grid,
        cl=[float(c) for c in cl],
        toys=np.array(rows),
        observed=observed_statistics(model, grid, conditional) if observed else None,
        fallbacks=counts.fallbacks,
        failed_fits=counts.failed,
    )
