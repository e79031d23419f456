r"""Upper limits on the POI by the CLs method: the value where :math:`\mathrm{CL}_s = 1 - \mathrm{CL}`.

Observed: the root of :math:`\mathrm{CL}_s^\mathrm{obs}(\mu) - \alpha`, :math:`\alpha = 1 - \mathrm{CL}`;
expected: the root of each band member :math:`\mathrm{CL}_s^{\mathrm{exp}, n}(\mu) - \alpha`,
:math:`n = -2 \dots 2`. Two ways, as pyhf offers them:

- root-finding (asymptotics): TOMS 748 (Alefeld, Potra and Shi, ``scipy.optimize.toms748``),
  which brackets the root and converges superlinearly, on each of the six functions, between
  the ends of the range (CLs falls with :math:`\mu`; a range whose upper end still has
  :math:`\mathrm{CL}_s > \alpha` is an error that says so);
- a scan: CLs on a grid (asymptotics or toys), each limit interpolated linearly in
  :math:`\mu` where CLs crosses :math:`\alpha` (``numpy.interp``, as pyhf's ``upper_limit``
  with a scan).

The scan, also kept from root-finding, draws the "Brazil band" (:func:`nsbi.plot.plot_brazil`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import optimize

from nsbi.exceptions import FitError
from nsbi.infer.hypotest import AsymptoticCalculator, HypoTest, hypotest
from nsbi.model import Model, pyhf_torch_backend

__all__ = ["UpperLimit", "upper_limit"]


@dataclass
class UpperLimit:
    """An upper limit on the POI at confidence level ``cl``.

    Attributes:
        poi: the POI's name.
        cl: the confidence level (0.95: CLs = 0.05).
        observed: the observed limit.
        expected: the expected limits at -2, -1, 0, +1, +2 sigma.
        scan: the POI values where CLs was computed (sorted).
        results: the :class:`~nsbi.infer.hypotest.HypoTest` at each of them.
        method: ``"toms748"`` or ``"scan"``.
        failed_fits: the fits of every tested value that are not valid (those an asymptotic
            calculator shares between values counted once).
    """

    poi: str
    cl: float
    observed: float
    expected: list[float]
    scan: np.ndarray
    results: list[HypoTest]
    method: str
    failed_fits: int = 0

    @property
    def cls_obs(self) -> np.ndarray:
        return np.array([r.cls_obs for r in self.results])

    @property
    def cls_exp(self) -> np.ndarray:
        """``(5, points)``: the expected band at each scanned value."""
        return np.array([r.cls_exp for r in self.results]).T

    def to_dict(self) -> dict:
        return {
            "poi": self.poi,
            "cl": self.cl,
            "observed": self.observed,
            "expected": list(self.expected),
            "method": self.method,
            "failed_fits": self.failed_fits,
            "scan": {
                "values": self.scan.tolist(),
                "cls_obs": self.cls_obs.tolist(),
                "cls_exp": self.cls_exp.tolist(),
            },
        }

    def __str__(self) -> str:
        band = ", ".join(f"{v:.4g}" for v in self.expected)
        return (
            f"{self.cl:.0%} CL upper limit on {self.poi}: {self.observed:.4g} observed; "
            f"expected [-2..+2 sigma]: [{band}] ({self.method})"
            + (f"; {self.failed_fits} fits not valid" if self.failed_fits else "")
        )


def _crossing(values: np.ndarray, cls: np.ndarray, alpha: float) -> float:
    """Where ``cls`` (falling with ``values``) crosses ``alpha``, interpolated linearly; nan
    if it never does inside the scan."""
    below = np.flatnonzero(cls <= alpha)
    if len(below) == 0 or below[0] == 0:
        return float("nan")
    i = below[0]
    return float(np.interp(alpha, [cls[i], cls[i - 1]], [values[i], values[i - 1]]))


@pyhf_torch_backend()
def upper_limit(
    model: Model,
    *,
    cl: float = 0.95,
    range: tuple[float, float] | None = None,
    scan: Sequence[float] | int | None = None,
    test_stat: str = "qtilde",
    calculator: str = "asymptotics",
    toys: int = 2000,
    seed: int = 0,
    rtol: float = 1e-6,
) -> UpperLimit:
    """The CLs upper limit of the model's POI, observed and expected.

    Without ``scan``, TOMS 748 root-finding in ``range`` (default: the POI's bounds, its lower
    end moved up to 0 if below), asymptotics only; with ``scan``, CLs on those values (or on
    that many values spread over ``range`` from 0 up; asymptotics or toys) and linear
    interpolation.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([12.0, 11.0], [50.0, 52.0], [3.0, 7.0], observed=[51, 48])
        >>> limit = upper_limit(Model.from_workspace(ws), range=(0.0, 5.0))
        >>> round(limit.observed, 4)    # pyhf.infer.intervals.upper_limits.upper_limit: 1.0116
        1.0116
    """
    if not 0 < cl < 1:
        raise FitError(f"cl must be between 0 and 1, got {cl}")
    alpha = 1.0 - cl
    poi = model.parameters.poi
    if poi is None:
        raise FitError("the model has no POI; name one in the measurement's config.poi")

    if isinstance(scan, (int, np.integer)):
        lo, hi = range or model.parameters.bounds[model.parameters.poi_index]
        scan = np.linspace(max(lo, 0.0), hi, int(scan))
    if scan is not None:
        values = np.sort(np.asarray(scan, dtype=np.float64))
        if calculator == "asymptotics":
            calc = AsymptoticCalculator(model, test_stat)
            results = [calc.hypotest(v) for v in values]
        else:
            results = [
                hypotest(model, v, test_stat=test_stat, calculator=calculator, toys=toys, seed=seed)
                for v in values
            ]
        cls_obs = np.array([r.cls_obs for r in results])
        cls_exp = np.array([r.cls_exp for r in results]).T
        observed = _crossing(values, cls_obs, alpha)
        expected = [_crossing(values, band, alpha) for band in cls_exp]
        failed = _failed_fits(results, calc if calculator == "asymptotics" else None)
        return UpperLimit(poi, cl, observed, expected, values, results, "scan", failed)

    if calculator != "asymptotics":
        raise FitError("root-finding uses asymptotics; give a scan for toys")
    lo, hi = range if range is not None else model.parameters.bounds[model.parameters.poi_index]
    lo = max(lo, 0.0)
    calc = AsymptoticCalculator(model, test_stat)
    cache: dict[float, HypoTest] = {}

    def result(mu: float) -> HypoTest:
        if mu not in cache:
            cache[mu] = calc.hypotest(mu)
        return cache[mu]

    def root(member) -> float:
        f_lo, f_hi = member(result(lo)) - alpha, member(result(hi)) - alpha
        if f_hi > 0:
            raise FitError(
                f"CLs at {poi} = {hi:g} is still {member(result(hi)):.3g} > {alpha:g}: the "
                f"limit lies above the range; widen it (--range LO HI) or the POI's bounds"
            )
        if f_lo < 0:
            raise FitError(
                f"CLs at {poi} = {lo:g} is already {member(result(lo)):.3g} < {alpha:g}: the "
                "limit lies below the range; lower its start"
            )
        return float(
            optimize.toms748(lambda mu: member(result(mu)) - alpha, lo, hi, rtol=rtol, xtol=1e-12)
        )

    observed = root(lambda r: r.cls_obs)
    expected = [root(lambda r, k=k: r.cls_exp[k]) for k in np.arange(5)]
    values = np.array(sorted(cache))
    results = [cache[v] for v in values]
    failed = _failed_fits(results, calc)
    return UpperLimit(poi, cl, observed, expected, values, results, "toms748", failed)


def _failed_fits(results: list[HypoTest], calc: AsymptoticCalculator | None) -> int:
    """The failed fits of a limit's tests, the calculator's shared fits counted once."""
    shared = 0 if calc is None else calc.counts.failed
    return shared + sum(r.failed_fits - shared for r in results)
