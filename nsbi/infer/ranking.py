r"""Nuisance-parameter ranking: the impact of each constrained parameter on the POI.

For each constrained nuisance parameter :math:`\theta_k` with best-fit value
:math:`\hat\theta_k`, post-fit uncertainty :math:`\hat\sigma_k` and pre-fit uncertainty
:math:`\sigma_k` (its constraint's width), the model is refitted with :math:`\theta_k` fixed at

.. math::

    \hat\theta_k \pm \sigma_k \;(\text{pre-fit impact}), \qquad
    \hat\theta_k \pm \hat\sigma_k \;(\text{post-fit impact}),

and the impact is the shift of the POI, :math:`\Delta\hat\mu = \hat{\hat\mu}(\theta_k) -
\hat\mu`. Parameters are ordered by their largest absolute post-fit impact, as in cabinetry's
``fit.ranking`` (the bar this follows; pulls :math:`(\hat\theta_k - \theta_{k,0})/\sigma_k` and
constraints :math:`\hat\sigma_k/\sigma_k` are reported beside).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nsbi.exceptions import FitError
from nsbi.infer.minimize import DEFAULT_TOLERANCE, FitResult, minimize
from nsbi.model import Model

__all__ = ["Impact", "ranking", "pulls"]


@dataclass(frozen=True)
class Impact:
    r"""The impact of one nuisance parameter on the POI.

    Attributes:
        name: the parameter.
        value, error: best-fit value and post-fit uncertainty.
        prefit_error: the width of its constraint.
        prefit_up, prefit_down: :math:`\Delta\hat\mu` with the parameter fixed at
            :math:`\hat\theta \pm \sigma` (pre-fit).
        postfit_up, postfit_down: the same at :math:`\hat\theta \pm \hat\sigma`.
        failed_fits: how many of the four refits are not valid.
    """

    name: str
    value: float
    error: float
    prefit_error: float
    prefit_up: float
    prefit_down: float
    postfit_up: float
    postfit_down: float
    failed_fits: int = 0

    @property
    def postfit_impact(self) -> float:
        """The larger absolute post-fit shift, the ranking key."""
        return max(abs(self.postfit_up), abs(self.postfit_down))

    def to_dict(self) -> dict:
        return {
            k: v if k == "name" else (int(v) if k == "failed_fits" else float(v))
            for k, v in self.__dict__.items()
        }


def pulls(model: Model, result: FitResult) -> dict[str, tuple[float, float]]:
    r"""``{name: (pull, constraint)}`` of every free constrained parameter:
    pull :math:`(\hat\theta - \theta_0)/\sigma` with :math:`\theta_0` the parameter's
    nominal (init) value, constraint :math:`\hat\sigma/\sigma`."""
    widths = model.prefit_uncertainties
    out = {}
    for k, name in enumerate(model.parameters.names):
        if widths[k] > 0 and not result.fixed[k]:
            nominal = model.parameters.init[k]
            out[name] = (
                float((result.values[k] - nominal) / widths[k]),
                float(result.errors[k] / widths[k]),
            )
    return out


def ranking(
    model: Model,
    result: FitResult | None = None,
    *,
    parameters: Sequence[str] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
) -> list[Impact]:
    """Impacts of the constrained nuisance parameters on the POI, largest post-fit first.

    Arguments:
        model: the model (bound to the data to fit).
        result: its best fit (default: fitted here).
        parameters: the parameters to rank (default: every free constrained one).

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [7.0], observed=[65])
        >>> [impact] = ranking(Model.from_workspace(ws))
        >>> impact.name, impact.postfit_up < 0 < impact.postfit_down
        ('uncorr_bkguncrt[0]', True)
    """
    space = model.parameters
    poi = space.poi
    if poi is None:
        raise FitError("ranking needs a POI; name one in the measurement's config.poi")
    result = result or minimize(model, tolerance=tolerance)
    widths = model.prefit_uncertainties
    if parameters is None:
        names = [
            n
            for k, n in enumerate(space.names)
            if widths[k] > 0 and not result.fixed[k] and n != poi
        ]
    else:
        names = list(parameters)
        for name in names:
            k = space.index(name)
            if name == poi or result.fixed[k]:
                raise FitError(f"cannot rank {name!r}: it is the POI or fixed")
    mu_hat = result.value(poi)
    impacts = []
    for name in names:
        k = space.index(name)
        lo, hi = space.bounds[k]
        shifts, failed = {}, 0
        for label, width in (("prefit", widths[k]), ("postfit", result.errors[k])):
            for sign in (+1, -1):
                value = float(np.clip(result.values[k] + sign * width, lo, hi))
                refit = minimize(model, init=result.values, fix={name: value}, tolerance=tolerance)
                shifts[label, sign] = refit.value(poi) - mu_hat
                failed += not refit.valid
        impacts.append(
            Impact(
                name,
                float(result.values[k]),
                float(result.errors[k]),
                float(widths[k]),
                shifts["prefit", 1],
                shifts["prefit", -1],
                shifts["postfit", 1],
                shifts["postfit", -1],
                failed,
            )
        )
    return sorted(impacts, key=lambda impact: impact.postfit_impact, reverse=True)
