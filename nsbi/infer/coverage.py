r"""Coverage of Neyman-belt intervals, measured with pseudo-observations.

A belt interval at confidence level CL contains the true value :math:`\mu_0` exactly when
:math:`\mu_0` is accepted, :math:`t^\mathrm{obs}_{\mu_0} \le t_c(\mu_0)` (for :math:`\mu_0` on
the grid; the interval is the set of accepted values). Its coverage is therefore measured
without a whole belt per pseudo-observation, as the observer would build it:

1. draw :math:`N` pseudo-observations at the truth :math:`(\mu_0, \theta_0)` (stream
   ``(seed, 0)`` of :mod:`nsbi.infer.toys`: Poisson-reweighted MC, binned counts and auxiliary
   data all fluctuate);
2. fit each one freely and at :math:`\mu_0` (batched): :math:`t^\mathrm{obs}_{\mu_0, i}` and the
   conditional MLE :math:`\hat{\hat\theta}_i(\mu_0)`;
3. draw :math:`T` toys at :math:`(\mu_0, \hat{\hat\theta}_i)` (the profile construction on that
   observation; stream ``(seed, 1, i)``) or at :math:`(\mu_0, \theta_0)` (``fixed``), and take
   their CL-quantile :math:`t_{c,i}` (:func:`~nsbi.infer.belt.critical_value`);
4. observation :math:`i` is covered when :math:`t^\mathrm{obs}_{\mu_0, i} \le t_{c,i}`.

The coverage is the covered fraction :math:`\hat p`, with binomial standard error
:math:`\sqrt{\hat p (1 - \hat p) / N}`. Profiling makes the construction approximate when the
nuisance parameters are poorly constrained, so this is a real check, not a tautology; with a
finite :math:`T` the expected coverage is :math:`\lceil T\,\mathrm{CL} \rceil / (T + 1)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nsbi.exceptions import FitError
from nsbi.infer.batch_fit import fit_toys
from nsbi.infer.belt import DEFAULT_CL, critical_value, toy_statistics
from nsbi.infer.toys import generate
from nsbi.model import Model, pyhf_torch_backend

__all__ = ["Coverage", "coverage"]


@dataclass
class Coverage:
    r"""Coverage of belt intervals at the truth ``mu``.

    Attributes:
        poi, mu: the POI and its true value.
        cl: the confidence levels.
        t_observed: ``(N,)`` :math:`t_{\mu_0}` of each pseudo-observation.
        critical: ``(N, len(cl))`` each observation's critical values.
        toys: toys per observation.
        fallbacks: toy fits that iminuit finished.
        failed_fits: fits that are not valid (of the pseudo-observations and of their toys).
    """

    poi: str
    mu: float
    cl: list[float]
    t_observed: np.ndarray
    critical: np.ndarray
    toys: int
    fallbacks: int = 0
    failed_fits: int = 0

    @property
    def covered(self) -> np.ndarray:
        """``(N, len(cl))`` whether each observation's interval contains the truth."""
        return self.t_observed[:, None] <= self.critical

    def fraction(self, cl: float) -> tuple[float, float]:
        """The coverage at ``cl`` and its binomial standard error."""
        p = float(self.covered[:, self.cl.index(cl)].mean())
        return p, float(np.sqrt(p * (1 - p) / len(self.t_observed)))

    def expected(self, cl: float) -> float:
        r"""The coverage a perfect construction has with :attr:`toys` toys per observation:
        :math:`\lceil T\,\mathrm{CL} \rceil / (T + 1)` (the rank of the inverted-CDF
        quantile among :math:`T + 1` exchangeable values)."""
        return float(np.ceil(self.toys * cl) / (self.toys + 1))

    def to_dict(self) -> dict:
        return {
            "poi": self.poi,
            "mu": self.mu,
            "observations": len(self.t_observed),
            "toys_per_observation": self.toys,
            "coverage": {
                f"{c:g}": dict(zip(("fraction", "error"), self.fraction(c), strict=True))
                for c in self.cl
            },
            "fallbacks": self.fallbacks,
            "failed_fits": self.failed_fits,
        }

    def __str__(self) -> str:
        lines = [
            f"coverage at {self.poi} = {self.mu:g}: {len(self.t_observed)} pseudo-observations, "
            f"{self.toys} toys each"
        ]
        for c in self.cl:
            p, e = self.fraction(c)
            pull = (p - self.expected(c)) / e if e > 0 else float("nan")
            lines.append(
                f"  CL {c:.4f}: covered {p:.4f} +- {e:.4f} (expected {self.expected(c):.4f}; "
                f"{pull:+.2f} standard errors)"
            )
        if self.failed_fits:
            lines.append(f"  {self.failed_fits} fits are not valid (see failed_fits)")
        return "\n".join(lines)


@pyhf_torch_backend()
def coverage(
    model: Model,
    truth: dict[str, float],
    observations: int,
    toys: int,
    *,
    cl: Sequence[float] = DEFAULT_CL,
    seed: int = 0,
    construction: str = "profile",
    progress: bool = False,
) -> Coverage:
    """Coverage of the Neyman construction at ``truth`` (parameter values by name on top of the
    inits; must give the POI) with ``observations`` pseudo-observations and ``toys`` toys each.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [7.0], observed=[60])
        >>> result = coverage(Model.from_workspace(ws), {"mu": 1.0}, 20, 50, seed=3)
        >>> result.covered.shape
        (20, 2)
    """
    poi = model.parameters.poi
    if poi is None or poi not in truth:
        raise FitError(f"truth must give the POI {poi!r}; got {sorted(truth)}")
    if construction not in ("profile", "fixed"):
        raise FitError(f"unknown construction {construction!r}; use 'profile' or 'fixed'")
    point = model.parameter_vector(truth).numpy()
    mu = float(truth[poi])
    observed = generate(model, point, range(observations), (seed, 0))
    free = fit_toys(model, observed, init=point)
    conditional = fit_toys(model, observed, init=point, fix={poi: mu})
    t_observed = np.clip(2 * (conditional.nll - free.nll), 0.0, None)
    counts = free.counts + conditional.counts

    rows = range(observations)
    if progress:
        from nsbi.progress import progress_bar

        rows = progress_bar(rows, unit="observation", desc="coverage")
    critical = np.empty((observations, len(cl)))
    for i in rows:
        generation = conditional.values[i] if construction == "profile" else point
        t, n = toy_statistics(model, generation, 0, toys, (seed, 1, i))
        counts += n
        critical[i] = [critical_value(t, c)[0] for c in cl]
    return Coverage(
        poi=poi,
        mu=mu,
        cl=[float(c) for c in cl],
        t_observed=t_observed,
        critical=critical,
        toys=int(toys),
        fallbacks=counts.fallbacks,
        failed_fits=counts.failed,
    )
