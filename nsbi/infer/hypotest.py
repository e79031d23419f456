r"""Hypothesis tests: CLs, CLs+b, CLb and the discovery p-value, asymptotic or from toys.

**Asymptotic** (CCGV, arXiv:1007.1727, the Wald approximation; pyhf's ``AsymptoticCalculator``):
the test statistic's spread comes from the Asimov dataset of the background-only hypothesis
(:math:`\mu' = 0`; :math:`\mu' = 1` for :math:`q_0`) made at the conditional MLE of the
nuisance parameters on the observed data. With :math:`q` the observed statistic and :math:`q_A`
the Asimov one, the statistic is mapped to

.. math::

    \tilde x = \sqrt{q} - \sqrt{q_A} \quad (q,\ q_0;\ \text{and}\ \tilde q \le q_A), \qquad
    \tilde x = \frac{q - q_A}{2\sqrt{q_A}} \quad (\tilde q > q_A),

which is standard normal under the background-only hypothesis and normal with mean
:math:`-\sqrt{q_A}` under signal plus background, so

.. math::

    \mathrm{CL}_{s+b} = \Phi(-(\tilde x + \sqrt{q_A})), \quad
    \mathrm{CL}_b = \Phi(-\tilde x), \quad \mathrm{CL}_s = \mathrm{CL}_{s+b} / \mathrm{CL}_b,

and the expected band takes :math:`\tilde x = n` for :math:`n = 2, 1, 0, -1, -2` (listed from
the :math:`-2\sigma` to the :math:`+2\sigma` expectation of CLs). For :math:`q_0` the p-value is
:math:`p_0 = \Phi(-\sqrt{q_0})` and the expected one :math:`\Phi(-\sqrt{q_{0,A}})` with the
Asimov data at :math:`\mu = 1`, so :math:`Z = \sqrt{q_0}`.

**Toys**: the statistic's distributions under signal plus background (toys at
:math:`(\mu, \hat{\hat\theta}(\mu))`) and background only (at :math:`(0, \hat{\hat\theta}(0))`),
both profiled on the observed data, drawn and fitted by :mod:`nsbi.infer.toys` and
:mod:`nsbi.infer.batch_fit`; :math:`\mathrm{CL}_{s+b} = P_{s+b}(q \ge q_\mathrm{obs})`,
:math:`\mathrm{CL}_b = P_b(q \ge q_\mathrm{obs})`, and the expected band is the
2.28/15.87/50/84.13/97.72 percentiles of CLs over the background-only toys (pyhf's
``ToyCalculator``). Each p-value carries its binomial standard error.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from nsbi.exceptions import FitError
from nsbi.infer.belt import toy_statistics
from nsbi.infer.fit_health import FitCounts
from nsbi.infer.likelihood_ratio import check_poi_bounds, test_statistic
from nsbi.infer.minimize import minimize
from nsbi.model import Model, pyhf_torch_backend

__all__ = [
    "AsymptoticCalculator",
    "asymptotic_pvalues",
    "HypoTest",
    "Significance",
    "StatisticDistributions",
    "hypotest",
    "significance",
]

#: the expected band: -2, -1, 0, +1, +2 standard deviations
BAND = (-2, -1, 0, 1, 2)
#: CDF of the standard normal at the band, as percentiles
BAND_PERCENTILES = tuple(100 * stats.norm.cdf(n) for n in BAND)


@dataclass
class StatisticDistributions:
    """What a test's p-values come from, for plots (:func:`nsbi.plot.plot_test_statistic`).

    Attributes:
        name: ``"q"``, ``"qtilde"`` or ``"q0"``.
        observed: the statistic on the data.
        asimov: :math:`q_A` (asymptotics; ``None`` for toys).
        alternative: toys under the hypothesis whose tail is CLs+b (signal plus background at
            the tested POI; for ``q0``, the signal at POI = 1 that sets the expected p0).
        null: toys under background only (``None`` for asymptotics).
        poi_value: the tested POI value (0 for ``q0``).
    """

    name: str
    observed: float
    asimov: float | None = None
    alternative: np.ndarray | None = None
    null: np.ndarray | None = None
    poi_value: float = 0.0

    def survival(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r"""Asymptotic :math:`P(q' \ge q)` under the alternative and under background only
        (CCGV: the module docstring's mapping; for :math:`q_0`, :math:`\sqrt{q_0}` is
        normal with mean 0 under background only and :math:`\sqrt{q_{0,A}}` at POI = 1).

        Example:
            >>> d = StatisticDistributions("q0", observed=4.0, asimov=9.0)
            >>> [round(float(v[0]), 4) for v in d.survival(np.array([4.0]))]   # Phi(1), Phi(-2)
            [0.8413, 0.0228]
        """
        q = np.asarray(q, dtype=float)
        if self.asimov is None:
            raise ValueError("survival functions are asymptotic; these are toy distributions")
        if self.name == "q0":
            root = np.sqrt(np.clip(q, 0, None))
            return stats.norm.sf(root - np.sqrt(self.asimov)), stats.norm.sf(root)
        pairs = [asymptotic_pvalues(float(v), self.asimov, self.name)[:2] for v in q]
        return np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])


@dataclass
class HypoTest:
    """CLs and its parts for one POI value.

    Attributes:
        test_stat: ``"q"`` or ``"qtilde"``.
        poi_value: the tested POI value.
        cls_obs, clsb_obs, clb_obs: observed CLs, CLs+b, CLb.
        cls_exp: expected CLs at -2, -1, 0, +1, +2 sigma.
        calculator: ``"asymptotics"`` or ``"toys"``.
        errors: binomial standard errors of the toy p-values (``{}`` for asymptotics).
        failed_fits: fits the p-values rest on that are not valid (the data's and the Asimov
            data's fits; the toys' for the toy calculator).
    """

    test_stat: str
    poi_value: float
    cls_obs: float
    cls_exp: list[float]
    clsb_obs: float
    clb_obs: float
    calculator: str
    errors: dict = field(default_factory=dict)
    distributions: StatisticDistributions | None = field(default=None, repr=False, compare=False)
    failed_fits: int = 0

    def to_dict(self) -> dict:
        out = {
            "test_stat": self.test_stat,
            "poi_value": self.poi_value,
            "cls_obs": self.cls_obs,
            "cls_exp": list(self.cls_exp),
            "clsb_obs": self.clsb_obs,
            "clb_obs": self.clb_obs,
            "calculator": self.calculator,
            "failed_fits": self.failed_fits,
        }
        if self.errors:
            out["errors"] = self.errors
        return out

    def __str__(self) -> str:
        band = ", ".join(f"{v:.4g}" for v in self.cls_exp)
        return (
            f"CLs({self.poi_value:g}) = {self.cls_obs:.4g} observed ({self.test_stat}, "
            f"{self.calculator}); CLs+b = {self.clsb_obs:.4g}, CLb = {self.clb_obs:.4g}; "
            f"expected [-2..+2 sigma]: [{band}]{_failed_text(self.failed_fits)}"
        )


def _failed_text(failed: int) -> str:
    return f"; {failed} fits not valid" if failed else ""


@dataclass
class Significance:
    r"""Discovery p-values and significances, observed and expected (at :math:`\mu = 1`).

    Attributes:
        p0_obs, z_obs, p0_exp, z_exp: the p-values and significances.
        calculator: ``"asymptotics"`` or ``"toys"``.
        errors: binomial standard errors of the toy p-values (``{}`` for asymptotics).
        distributions: what the p-values come from, for plots.
        q0_obs: :math:`q_0` of the data.
        q0_exp: :math:`q_{0,A}` of the Asimov data at :math:`\mu = 1` (asymptotics), or the
            median :math:`q_0` of the toys at :math:`\mu = 1` (toys).
        failed_fits: fits the p-values rest on that are not valid.
    """

    p0_obs: float
    z_obs: float
    p0_exp: float
    z_exp: float
    calculator: str
    errors: dict = field(default_factory=dict)
    distributions: StatisticDistributions | None = field(default=None, repr=False, compare=False)
    q0_obs: float = float("nan")
    q0_exp: float = float("nan")
    failed_fits: int = 0

    def to_dict(self) -> dict:
        out = {"p0_obs": self.p0_obs, "z_obs": self.z_obs, "p0_exp": self.p0_exp}
        out.update({"z_exp": self.z_exp, "calculator": self.calculator})
        out.update({"q0_obs": self.q0_obs, "q0_exp": self.q0_exp})
        out["failed_fits"] = self.failed_fits
        if self.errors:
            out["errors"] = self.errors
        return out

    def __str__(self) -> str:
        return (
            f"p0 = {self.p0_obs:.4g} (Z = {self.z_obs:.3f}, q0 = {self.q0_obs:.4g}) observed, "
            f"{self.p0_exp:.4g} (Z = {self.z_exp:.3f}, q0 = {self.q0_exp:.4g}) expected "
            f"({self.calculator}){_failed_text(self.failed_fits)}"
        )


class AsymptoticCalculator:
    r"""Asymptotic CLs at any POI value of one model, reusing the fits that do not depend on
    it: the unconditional fit to the data, the Asimov dataset (made once, at
    :math:`(\mu', \hat{\hat\theta}(\mu'))` on the data) and its unconditional fit. Each POI
    value then costs two conditional fits.
    """

    @pyhf_torch_backend()
    def __init__(self, model: Model, test_stat: str = "qtilde"):
        check_poi_bounds(model, test_stat)
        self.model = model
        self.test_stat = test_stat
        poi = model.parameters.poi
        # these three fits are polished (Newton steps with the exact Hessian): the Asimov
        # data inherit any error of theta_hat_hat(mu'), and CLs is wanted to 1e-4 or better
        self.free = minimize(model)
        asimov_mu = 1.0 if test_stat == "q0" else 0.0
        asimov_point = minimize(model, fix={poi: asimov_mu})
        self.asimov_pars = asimov_point.values
        self.asimov = model.asimov(self.asimov_pars)
        self.asimov_free = minimize(self.asimov, init=self.asimov_pars)
        #: the invalid fits among the three above (each result adds its conditional fits')
        self.counts = FitCounts.of(self.free, asimov_point, self.asimov_free)

    @pyhf_torch_backend()
    def statistics(self, mu: float) -> tuple[float, float]:
        """The observed statistic and the Asimov one at ``mu``."""
        q, q_asimov, _ = self.statistics_and_failures(mu)
        return q, q_asimov

    @pyhf_torch_backend()
    def statistics_and_failures(self, mu: float) -> tuple[float, float, int]:
        """The observed and the Asimov statistic at ``mu``, and the failed fits of the whole
        test (the three shared fits and the two conditional ones)."""
        name = self.test_stat
        q = test_statistic(self.model, mu, name, free=self.free)
        q_asimov = test_statistic(self.asimov, mu, name, free=self.asimov_free)
        failed = (self.counts + FitCounts.of(q.conditional, q_asimov.conditional)).failed
        return q.value, q_asimov.value, failed

    @pyhf_torch_backend()
    def hypotest(self, mu: float) -> HypoTest:
        """CLs, CLs+b, CLb and the expected band at ``mu``."""
        q, q_asimov, failed = self.statistics_and_failures(mu)
        clsb, clb, cls = asymptotic_pvalues(q, q_asimov, self.test_stat)
        expected = [asymptotic_pvalues(0, q_asimov, self.test_stat, x=-n)[2] for n in BAND]
        distributions = StatisticDistributions(self.test_stat, q, q_asimov, poi_value=float(mu))
        return HypoTest(
            self.test_stat, float(mu), cls, expected, clsb, clb, "asymptotics", {},
            distributions, failed,
        )  # fmt: skip


def asymptotic_pvalues(q: float, q_asimov: float, name: str, x: float | None = None):
    """(CLs+b, CLb, CLs) for observed statistic ``q`` (or mapped value ``x``)."""
    sqrt_qa = np.sqrt(q_asimov)
    if sqrt_qa == 0:  # the tested value is the background-only one: CLs+b = CLb
        p = float(stats.norm.sf(np.sqrt(q) if x is None else x))
        return p, p, 1.0
    if x is None:
        sqrt_q = np.sqrt(q)
        if name == "qtilde" and sqrt_q > sqrt_qa:
            x = (q - q_asimov) / (2 * sqrt_qa)
        else:
            x = sqrt_q - sqrt_qa
    clsb = float(stats.norm.sf(x + sqrt_qa))
    clb = float(stats.norm.sf(x))
    return clsb, clb, clsb / clb


def _tail(samples: np.ndarray, value: float) -> tuple[float, float]:
    r""":math:`P(q \ge \text{value})` and its binomial standard error."""
    p = float(np.mean(samples >= value - 1e-6 * max(1.0, abs(value))))
    return p, float(np.sqrt(p * (1 - p) / len(samples)))


@pyhf_torch_backend()
def hypotest(
    model: Model,
    poi_value: float,
    *,
    test_stat: str = "qtilde",
    calculator: str = "asymptotics",
    toys: int = 2000,
    seed: int = 0,
) -> HypoTest:
    """CLs of the model's data at ``poi_value``.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([12.0, 11.0], [50.0, 52.0], [3.0, 7.0], observed=[51, 48])
        >>> result = hypotest(Model.from_workspace(ws), 1.0)
        >>> round(result.cls_obs, 4)   # pyhf.infer.hypotest(1.0, ...) gives 0.0525
        0.0525
    """
    if test_stat not in ("q", "qtilde"):
        raise FitError(f"CLs uses test_stat 'q' or 'qtilde', not {test_stat!r} (q0: significance)")
    mu = float(poi_value)
    if calculator == "asymptotics":
        return AsymptoticCalculator(model, test_stat).hypotest(mu)
    if calculator != "toys":
        raise FitError(f"unknown calculator {calculator!r}; use 'asymptotics' or 'toys'")
    check_poi_bounds(model, test_stat)
    observed = test_statistic(model, mu, test_stat)
    poi = model.parameters.poi
    fits = [minimize(model, fix={poi: v}, errors=False) for v in (mu, 0.0)]
    points = [fit.values for fit in fits]
    signal, signal_counts = toy_statistics(model, points[0], 0, toys, (seed, 0), mu, test_stat)
    background, background_counts = toy_statistics(
        model, points[1], 0, toys, (seed, 1), mu, test_stat
    )
    counts = FitCounts.of(observed.free, observed.conditional, *fits)
    counts += signal_counts + background_counts
    (clsb, clsb_error), (clb, clb_error) = (
        _tail(signal, observed.value),
        _tail(background, observed.value),
    )
    # expected: CLs of every background-only toy, at the band's percentiles
    signal_sorted = np.sort(signal)
    background_sorted = np.sort(background)

    def cls_of(q):
        sb = 1 - np.searchsorted(signal_sorted, q - 1e-9, side="left") / len(signal_sorted)
        b = 1 - np.searchsorted(background_sorted, q - 1e-9, side="left") / len(background)
        return np.where(b > 0, sb / np.where(b > 0, b, 1), np.nan)

    expected = np.percentile(cls_of(background), BAND_PERCENTILES, method="inverted_cdf")
    cls = clsb / clb if clb > 0 else float("nan")
    cls_error = cls * np.hypot(clsb_error / max(clsb, 1e-300), clb_error / max(clb, 1e-300))
    errors = {"clsb_obs": clsb_error, "clb_obs": clb_error, "cls_obs": float(cls_error)}
    distributions = StatisticDistributions(
        test_stat, observed.value, alternative=signal, null=background, poi_value=mu
    )
    expected = [float(v) for v in expected]
    return HypoTest(
        test_stat, mu, cls, expected, clsb, clb, "toys", errors, distributions, counts.failed
    )


@pyhf_torch_backend()
def significance(
    model: Model, *, calculator: str = "asymptotics", toys: int = 10000, seed: int = 0
) -> Significance:
    r"""Discovery significance with :math:`q_0`: observed, and expected at :math:`\mu = 1`.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [0.001], observed=[65])
        >>> result = significance(Model.from_workspace(ws))
        >>> round(result.z_exp, 2)    # sqrt(2((s+b) ln(1+s/b) - s)) = 1.37
        1.37
    """
    if calculator == "asymptotics":
        q0, q0_asimov, failed = AsymptoticCalculator(model, "q0").statistics_and_failures(0.0)
        z_obs, z_exp = float(np.sqrt(q0)), float(np.sqrt(q0_asimov))
        distributions = StatisticDistributions("q0", q0, q0_asimov)
        p_obs, p_exp = float(stats.norm.sf(z_obs)), float(stats.norm.sf(z_exp))
        return Significance(
            p_obs, z_obs, p_exp, z_exp, calculator, {}, distributions, q0, q0_asimov, failed
        )
    if calculator != "toys":
        raise FitError(f"unknown calculator {calculator!r}; use 'asymptotics' or 'toys'")
    check_poi_bounds(model, "q0")
    observed = test_statistic(model, 0.0, "q0")
    poi = model.parameters.poi
    fits = [minimize(model, fix={poi: v}, errors=False) for v in (0.0, 1.0)]
    background, background_counts = toy_statistics(
        model, fits[0].values, 0, toys, (seed, 0), 0.0, "q0"
    )
    signal, signal_counts = toy_statistics(model, fits[1].values, 0, toys, (seed, 1), 0.0, "q0")
    counts = FitCounts.of(observed.free, observed.conditional, *fits)
    counts += background_counts + signal_counts
    median = float(np.median(signal))
    p0_obs, error_obs = _tail(background, observed.value)
    p0_exp, error_exp = _tail(background, median)

    def z(p):
        return float(stats.norm.isf(p)) if p > 0 else float("inf")

    errors = {"p0_obs": error_obs, "p0_exp": error_exp}
    distributions = StatisticDistributions(
        "q0", observed.value, alternative=signal, null=background
    )
    return Significance(
        p0_obs, z(p0_obs), p0_exp, z(p0_exp), "toys", errors, distributions,
        observed.value, median, counts.failed,
    )  # fmt: skip
