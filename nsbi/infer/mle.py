r"""Maximum-likelihood estimation: :math:`\hat\theta = \arg\min_\theta -\ln L(\theta)`."""

from __future__ import annotations

from collections.abc import Sequence

from nsbi.exceptions import FitError
from nsbi.infer.minimize import DEFAULT_TOLERANCE, FitResult, minimize
from nsbi.model import Model

__all__ = ["fit", "fixed_poi_fit"]


def fit(
    model: Model,
    *,
    init: Sequence[float] | None = None,
    fix: dict[str, float] | None = None,
    minos: bool | Sequence[str] = False,
    tolerance: float = DEFAULT_TOLERANCE,
    strategy: int = 0,
) -> FitResult:
    """Unconditional maximum-likelihood fit of every free parameter.

    Example:
        >>> from nsbi.model import Model
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [7.0], observed=[70])
        >>> result = fit(Model.from_workspace(ws))
        >>> result.valid, round(result.value("mu"), 3)
        (True, 2.0)
    """
    return minimize(model, init=init, fix=fix, minos=minos, tolerance=tolerance, strategy=strategy)


def fixed_poi_fit(
    model: Model,
    poi_value: float,
    *,
    init: Sequence[float] | None = None,
    fix: dict[str, float] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    strategy: int = 0,
) -> FitResult:
    r"""Conditional fit :math:`\hat{\hat\theta}(\mu)`: the POI held at ``poi_value``, every other
    free parameter profiled."""
    poi = model.parameters.poi
    if poi is None:
        raise FitError("the model has no POI; name one in the measurement's config.poi")
    return minimize(
        model,
        init=init,
        fix={**(fix or {}), poi: poi_value},
        tolerance=tolerance,
        strategy=strategy,
    )
