r"""Profile-likelihood scans.

.. math::

    t(\mu) = -2 \ln \frac{L(\mu, \hat{\hat\theta}(\mu))}{L(\hat\mu, \hat\theta)}
           = 2 \left[\mathrm{NLL}(\mu, \hat{\hat\theta}(\mu)) - \mathrm{NLL}(\hat\mu, \hat\theta)\right]

Each conditional fit starts from the previous point's profiled values (points are visited
outward from the best fit), which keeps the minimiser on the same valley and saves calls.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from nsbi.exceptions import FitError, InvalidArgument
from nsbi.infer.minimize import DEFAULT_TOLERANCE, FitResult, minimize
from nsbi.model import Model

__all__ = ["ProfileScan", "scan", "crossings", "curve_of"]


def curve_of(
    nll: Callable[[float], float], values: Sequence[float], bounds: tuple[float, float]
) -> tuple[np.ndarray, float]:
    r"""``(t, best)`` of a one-parameter NLL given as a function: ``nll`` on the grid ``values``,
    its minimum refined by bounded Brent minimisation between the grid neighbours of the lowest
    point (within ``bounds``), and :math:`t = 2(\mathrm{NLL} - \mathrm{NLL}_{\min})`.

    Example:
        >>> t, best = curve_of(lambda m: (m - 0.3) ** 2 / 2, [0.0, 0.5, 1.0], (0.0, 1.0))
        >>> round(best, 6), [round(float(v), 6) for v in t]
        (0.3, [0.09, 0.04, 0.49])
    """
    values = np.asarray(values, dtype=float)
    grid = np.array([float(nll(v)) for v in values])
    k = int(np.argmin(grid))
    lo = max(values[max(k - 1, 0)], bounds[0])
    hi = min(values[min(k + 1, len(values) - 1)], bounds[1])
    refined = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    if refined.fun <= grid[k]:
        return 2.0 * (grid - float(refined.fun)), float(refined.x)
    return 2.0 * (grid - grid[k]), float(values[k])


def crossings(
    values: Sequence[float], t: Sequence[float], level: float = 1.0
) -> tuple[float, float]:
    """The values where a scan ``t(values)`` crosses ``level`` on either side of its minimum,
    by linear interpolation between points; ``nan`` on a side where it does not cross.

    Example:
        >>> crossings([0.0, 1.0, 2.0, 3.0], [4.0, 0.0, 1.0, 4.0])
        (0.75, 2.0)
    """
    v = np.asarray(values, dtype=float)
    t = np.asarray(t, dtype=float)
    best = int(np.argmin(t))
    lo = hi = float("nan")
    for i in range(best, 0, -1):
        if t[i - 1] >= level > t[i] or t[i - 1] > level >= t[i]:
            lo = float(np.interp(level, [t[i], t[i - 1]], [v[i], v[i - 1]]))
            break
    for i in range(best, len(t) - 1):
        if t[i + 1] >= level > t[i] or t[i + 1] > level >= t[i]:
            hi = float(np.interp(level, [t[i], t[i + 1]], [v[i], v[i + 1]]))
            break
    return lo, hi


@dataclass
class ProfileScan:
    r"""A profile-likelihood scan of one parameter.

    Attributes:
        parameter: the scanned parameter.
        values: the scanned values, ascending.
        t: :math:`2\,\Delta\mathrm{NLL}` at each value (0 at the best fit).
        best_fit: the unconditional fit.
        fits: the conditional fit at each value (their ``valid`` flags tell the health).
        bounds: the parameter's bounds.
    """

    parameter: str
    values: np.ndarray
    t: np.ndarray
    best_fit: FitResult
    fits: list[FitResult]
    bounds: tuple[float, float] = (-np.inf, np.inf)

    @property
    def valid(self) -> bool:
        return self.best_fit.valid and all(f.valid for f in self.fits)

    @property
    def failed_fits(self) -> int:
        """The fits of the scan (the unconditional one and each point's) that are not valid."""
        return sum(not f.valid for f in (self.best_fit, *self.fits))

    def to_dict(self) -> dict:
        return {
            "parameter": self.parameter,
            "values": self.values.tolist(),
            "t": self.t.tolist(),
            "failed_fits": self.failed_fits,
        }

    def interval(self, level: float = 1.0) -> tuple[float, float]:
        """Where ``t`` crosses ``level`` (1: 68.3% CL, 3.84: 95% CL in the Wilks limit); see
        :func:`crossings`. A side on which ``t`` stays below ``level`` up to the parameter's
        bound, with the scan reaching that bound, ends on the bound (the interval is cut by
        it); ``nan`` where the scan stops short of both the crossing and the bound."""
        lo, hi = crossings(self.values, self.t, level)
        best = int(np.argmin(self.t))
        if np.isnan(lo) and self.values[0] <= self.bounds[0] and np.all(self.t[:best] < level):
            lo = float(self.bounds[0])
        if np.isnan(hi) and self.values[-1] >= self.bounds[1] and np.all(self.t[best:] < level):
            hi = float(self.bounds[1])
        return lo, hi


def scan(
    model: Model,
    parameter: str | None = None,
    values: Sequence[float] | None = None,
    *,
    fix: dict[str, float] | None = None,
    best_fit: FitResult | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    progress: bool = False,
) -> ProfileScan:
    """Profile ``parameter`` (the POI by default) over ``values``.

    Arguments:
        model: the model with its data.
        parameter: parameter to scan (default: the POI).
        values: points of the scan (default: 21 points over the parameter's bounds).
        fix: other parameters held fixed throughout.
        best_fit: an unconditional fit to reuse (else one is made).
        progress: draw a progress bar over the conditional fits (:mod:`nsbi.progress`).
    """
    space = model.parameters
    parameter = parameter or space.poi
    if parameter is None:
        raise FitError("no parameter to scan: the model has no POI; pass parameter=...")
    index = space.index(parameter)
    if values is None:
        values = np.linspace(*space.bounds[index], 21)
    values = np.sort(np.asarray(values, dtype=np.float64))
    lo, hi = space.bounds[index]
    if values[0] < lo or values[-1] > hi:
        raise InvalidArgument(
            f"scan range [{values[0]}, {values[-1]}] of {parameter} leaves its bounds "
            f"[{lo}, {hi}]; change the range or the bounds in the measurement"
        )
    if best_fit is None:
        best_fit = minimize(model, fix=fix, tolerance=tolerance)
    start = int(np.searchsorted(values, best_fit.values[index]))
    order = list(range(start, len(values))) + list(range(start - 1, -1, -1))
    fits: list[FitResult | None] = [None] * len(values)
    previous = best_fit.values
    from nsbi.progress import progress_bar

    for k, i in enumerate(progress_bar(order, desc=f"scan {parameter}", unit="fit",
                                       enabled=progress, leave=False)):  # fmt: skip
        if k > 0 and i == start - 1:
            previous = best_fit.values  # the downward branch starts again from the best fit
        result = minimize(
            model,
            init=previous,
            fix={**(fix or {}), parameter: float(values[i])},
            tolerance=tolerance,
            errors=False,
        )
        fits[i] = result
        previous = result.values
    nll = np.array([f.nll for f in fits])
    t = 2.0 * (nll - best_fit.nll)
    return ProfileScan(parameter, values, t, best_fit, fits, (float(lo), float(hi)))
