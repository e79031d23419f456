r"""Profile-likelihood test statistics of Cowan, Cranmer, Gross and Vitells (arXiv:1007.1727).

With :math:`\hat\mu, \hat\theta` the unconditional MLE (inside the POI's bounds as the model
states them) and :math:`\hat{\hat\theta}(\mu)` the conditional one,

.. math::

    t_\mu = -2 \ln \frac{L(\mu, \hat{\hat\theta}(\mu))}{L(\hat\mu, \hat\theta)} \;\ge 0 .

The *tilde* variants bound the signal strength below by 0: if :math:`\hat\mu < 0` the
denominator becomes :math:`L(0, \hat{\hat\theta}(0))` (eq. 10 and 16 of CCGV). As in pyhf, they
are computed by giving the POI a lower bound of 0 in the fit (then :math:`\hat\mu \ge 0` and
the two definitions agree); a model whose POI is bounded elsewhere gets a warning.

- ``"tmu"``: :math:`t_\mu`; ``"tmu_tilde"``: :math:`\tilde t_\mu`;
- ``"q"``: :math:`q_\mu = t_\mu` if :math:`\hat\mu \le \mu`, else 0 (one-sided, for upper
  limits: an upward fluctuation is no evidence against :math:`\mu`);
- ``"qtilde"``: :math:`\tilde q_\mu`, the same with :math:`\tilde t_\mu` (the LHC default for
  limits, pyhf's default);
- ``"q0"``: :math:`q_0 = t_0` if :math:`\hat\mu \ge 0`, else 0 (discovery).

Every statistic is clipped at 0 (a conditional fit a hair below the unconditional one is
numerical noise).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from nsbi.exceptions import FitError
from nsbi.infer.minimize import FitResult, minimize
from nsbi.model import Model

__all__ = ["TEST_STATISTICS", "TestStatistic", "test_statistic", "check_poi_bounds"]

#: the names :func:`test_statistic` knows
TEST_STATISTICS = ("tmu", "tmu_tilde", "q", "qtilde", "q0")


@dataclass
class TestStatistic:
    r"""A test statistic's value and the two fits it came from.

    Attributes:
        name: one of :data:`TEST_STATISTICS`.
        poi_value: the tested value :math:`\mu`.
        value: the statistic.
        free: the unconditional fit :math:`(\hat\mu, \hat\theta)`.
        conditional: the fit at :math:`\mu`, :math:`(\mu, \hat{\hat\theta})`.
    """

    __test__ = False  # not a pytest class

    name: str
    poi_value: float
    value: float
    free: FitResult
    conditional: FitResult

    @property
    def mu_hat(self) -> float:
        return float(self.free.values[self.free.names.index(self.free.poi)])


def check_poi_bounds(model: Model, name: str) -> None:
    """Warn, as pyhf does, when a tilde statistic's POI is not bounded at 0 or ``q``'s is."""
    if name not in TEST_STATISTICS:
        raise FitError(f"unknown test statistic {name!r}; use one of {', '.join(TEST_STATISTICS)}")
    if model.parameters.poi is None:
        raise FitError("the model has no POI; name one in the measurement's config.poi")
    lower = model.parameters.bounds[model.parameters.poi_index][0]
    if name in ("tmu_tilde", "qtilde") and lower != 0:
        warnings.warn(
            f"{name} assumes the POI is bounded below at 0; it is bounded at {lower:g} "
            "(set measurements[].config.parameters[].bounds)",
            stacklevel=3,
        )
    if name in ("tmu", "q") and lower == 0:
        warnings.warn(
            f"{name} with the POI bounded at 0 is {name}_tilde; use the tilde statistic",
            stacklevel=3,
        )


def _value(name: str, mu: float, mu_hat: float, t: float) -> float:
    if name in ("q", "qtilde") and mu_hat > mu:
        return 0.0
    if name == "q0" and mu_hat < 0:
        return 0.0
    return t


def test_statistic(
    model: Model, mu: float, name: str = "qtilde", *, init=None, free: FitResult | None = None
) -> TestStatistic:
    """The test statistic ``name`` of the model's bound data at POI value ``mu``
    (:func:`check_poi_bounds` says whether the POI's bounds suit it).

    ``free`` reuses an unconditional fit already made on the same data.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [7.0], observed=[60])
        >>> q = test_statistic(Model.from_workspace(ws), 2.0, "qtilde")
        >>> round(q.mu_hat, 3), q.value > 0
        (1.0, True)
    """
    if name not in TEST_STATISTICS:
        raise FitError(f"unknown test statistic {name!r}; use one of {', '.join(TEST_STATISTICS)}")
    poi = model.parameters.poi
    if poi is None:
        raise FitError("the model has no POI; name one in the measurement's config.poi")
    # MIGRAD's minimum (EDM < 1e-5) puts t within ~1e-5 of its limit; the unconditional fit,
    # shared by every tested value, is polished
    free = minimize(model, init=init) if free is None else free
    conditional = minimize(model, init=init, fix={poi: float(mu)}, errors=False)
    mu_hat = float(free.values[model.parameters.poi_index])
    t = max(2.0 * (conditional.nll - free.nll), 0.0)
    return TestStatistic(name, float(mu), _value(name, float(mu), mu_hat, t), free, conditional)


test_statistic.__test__ = False  # a library function, not a pytest test


def batch_values(name: str, mu: float, mu_hat: np.ndarray, t: np.ndarray) -> np.ndarray:
    r"""The statistic ``name`` from arrays of :math:`\hat\mu` and :math:`t_\mu` (toys)."""
    t = np.clip(t, 0.0, None)
    if name in ("q", "qtilde"):
        return np.where(mu_hat > mu, 0.0, t)
    if name == "q0":
        return np.where(mu_hat < 0, 0.0, t)
    return t
