r"""The MC-statistical uncertainty of a fit with learned likelihoods, and its propagation.

**Measured.** Each bootstrap replica :math:`b = 1..B` of the simulation
(:mod:`nsbi.workspace.replicas`: Poisson-reweighted events, retrained ensembles, renormalised
pool, reweighted yields) gives a model :math:`L_b`; minimising each on the *same* data as the
nominal fit gives :math:`\hat\theta_b`, and

.. math::

    V_\mathrm{MC} = \frac{1}{B-1}\sum_b (\hat\theta_b - \bar\theta)(\hat\theta_b -
    \bar\theta)^T, \qquad \sigma^\mathrm{MC}_i = \sqrt{(V_\mathrm{MC})_{ii}},

is the covariance of the estimator over independent simulations of the same size: the
learned-likelihood analogue of ``staterror``, reported beside the statistical error. Its own
relative uncertainty is about :math:`1/\sqrt{2(B-1)}` (24% with 10 replicas).

**Propagated.** A finite simulation moves the learned likelihood as a whole: to first order
:math:`L_\mathrm{learned}(\theta) \approx L(\theta - \varepsilon)` with
:math:`\varepsilon \sim N(0, V_\mathrm{MC})` independent of the data. Writing
:math:`V_\mathrm{MC} = A A^T` (its eigenvectors scaled by the square roots of the
eigenvalues, :math:`K \le B - 1` columns) and adding :math:`K` unit-Gaussian nuisance
parameters :math:`\gamma`,

.. math::

    -\ln L'(\theta, \gamma) = -\ln L(\theta - A\gamma) + \tfrac12 \lVert\gamma\rVert^2,

whose profile over :math:`\gamma` has, near the minimum, the covariance
:math:`V_\mathrm{stat} + V_\mathrm{MC}`: profile intervals, MINOS and scans of the extended
model include the simulation's uncertainty (the Barlow-Beeston idea at the level of the
estimator, which is what the replicas measure; cf. arXiv:2505.19156 on why the ensemble's
member spread does not). The cost is :math:`K` extra parameters whose derivatives are those
of the nominal NLL: no per-event work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nsbi.exceptions import FitError, InvalidOption
from nsbi.infer.minimize import FitResult, minimize
from nsbi.model import Model, pyhf_torch_backend
from nsbi.model.model import ParameterSpace

__all__ = [
    "MCStatUncertainty",
    "mc_stat_uncertainty",
    "MCStatModel",
    "fit_with_mc_stat",
    "WARN_FRACTION",
    "MODES",
]

#: warn when the MC-statistical error of the POI exceeds this fraction of its statistical one
WARN_FRACTION = 0.2

#: eigen-directions of V_MC below this fraction of the largest eigenvalue are dropped
_RANK_CUTOFF = 1e-9


@dataclass
class MCStatUncertainty:
    r"""The MC-statistical covariance of a fit's parameters, from bootstrap replicas.

    Attributes:
        names: the parameter names.
        values: ``(B, npar)`` each replica's minimum on the data.
        covariance: :math:`V_\mathrm{MC}` (rows and columns of fixed parameters are 0).
        failed_fits: replica fits that are not valid.
        nominal: the nominal fit's values.
    """

    names: list[str]
    values: np.ndarray
    covariance: np.ndarray
    failed_fits: int
    nominal: np.ndarray

    @property
    def replicas(self) -> int:
        return int(self.values.shape[0])

    @property
    def errors(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.covariance), 0.0, None))

    def error(self, name: str) -> float:
        return float(self.errors[self.names.index(name)])

    def shifts(self) -> np.ndarray:
        r"""``(npar, K)`` the matrix :math:`A` with :math:`A A^T = V_\mathrm{MC}`: the
        eigenvectors of the covariance times the square roots of their eigenvalues (those
        above :math:`10^{-9}` of the largest)."""
        eigenvalues, vectors = np.linalg.eigh(self.covariance)
        top = float(eigenvalues.max(initial=0.0))
        keep = eigenvalues > _RANK_CUTOFF * top if top > 0 else np.zeros(len(eigenvalues), bool)
        return vectors[:, keep] * np.sqrt(eigenvalues[keep])

    def warning(self, poi: str, statistical: float, events: float | None = None) -> str | None:
        r"""The warning ``nsbi fit`` prints when :math:`\sigma^\mathrm{MC}` of ``poi`` exceeds
        :data:`WARN_FRACTION` of its ``statistical`` error, with the factor of simulated events
        (:math:`\propto 1/\sqrt{N}`) that would bring it under; ``None`` otherwise.

        Example:
            >>> u = MCStatUncertainty(["mu"], np.zeros((10, 1)), np.array([[0.04]]), 0,
            ...                       np.zeros(1))
            >>> text = u.warning("mu", 0.5)
            >>> text.split(" exceeds ")[0]
            'the MC-statistical uncertainty of mu (0.2, from 10 bootstrap replicas)'
            >>> text.split(";")[1]
            ' about 4 times more simulated events would bring it under'
        """
        mc = self.error(poi)
        limit = WARN_FRACTION * statistical
        if not mc > limit:
            return None
        factor = (mc / limit) ** 2
        more = f"about {factor:.2g} times more simulated events"
        if events:
            more += f" ({factor * events:.3g} instead of {events:.3g})"
        return (
            f"the MC-statistical uncertainty of {poi} ({mc:.3g}, from {self.replicas} bootstrap "
            f"replicas) exceeds {WARN_FRACTION:.0%} of its statistical error ({statistical:.3g});"
            f" {more} would bring it under"
        )

    def to_dict(self) -> dict:
        """The ``mc_stat`` block of ``nsbi fit --output``."""
        return {
            "replicas": self.replicas,
            "errors": {n: float(e) for n, e in zip(self.names, self.errors, strict=True)},
            "covariance": self.covariance.tolist(),
            "replica_values": self.values.tolist(),
            "failed_fits": int(self.failed_fits),
        }


@pyhf_torch_backend()
def mc_stat_uncertainty(
    model: Model,
    result: FitResult,
    *,
    weights=None,
    replicas: Sequence[Model] | None = None,
    tolerance: float = 0.001,
    progress: bool = False,
) -> MCStatUncertainty:
    """Refit every bootstrap replica of ``model`` (``model.replicas`` of them, trained by
    ``nsbi train``) to ``model``'s data (or to the per-event ``weights`` of
    :meth:`Model.nll`, as ``result`` was fitted), with the parameters ``result`` fixed held at
    the same values, starting from ``result``'s minimum. ``replicas``: the replica models
    (``model.replica(b)``), when already built (building one reads the simulation again).

    Example (a workspace whose channel declares ``"mc_stat": {"replicas": 10}``, trained)::

        result = fit(model)
        mc = mc_stat_uncertainty(model, result)
        print(result.error("mu"), mc.error("mu"))
    """
    count = model.replicas if replicas is None else len(replicas)
    if count < 2:
        raise FitError(
            "the MC-statistical uncertainty needs bootstrap replicas: declare "
            '"mc_stat": {"replicas": 10} in every unbinned channel and run `nsbi train`'
        )
    fixed = {n: float(v) for n, v, f in zip(result.names, result.values, result.fixed, strict=True)
             if f}  # fmt: skip
    rows = range(count)
    if progress:
        from nsbi.progress import progress_bar

        rows = progress_bar(rows, unit="replica", desc="MC-stat replicas")
    values, failed = [], 0
    for b in rows:
        replica = model.replica(b) if replicas is None else replicas[b]
        refit = minimize(
            replica, init=result.values, fix=fixed, errors=False, tolerance=tolerance,
            weights=weights,
        )  # fmt: skip
        values.append(refit.values)
        failed += not refit.valid
    values = np.array(values)
    covariance = np.cov(values, rowvar=False, ddof=1).reshape(len(result.names), -1)
    covariance[np.array(result.fixed), :] = 0.0
    covariance[:, np.array(result.fixed)] = 0.0
    return MCStatUncertainty(list(result.names), values, covariance, failed, result.values.copy())


class MCStatModel:
    r"""``model`` with the MC-statistical uncertainty propagated into its likelihood: ``K``
    unit-Gaussian parameters ``mc_stat[k]`` shift the parameters along the columns of
    :math:`A` (:meth:`MCStatUncertainty.shifts`), see the module docstring. It has what
    :func:`~nsbi.infer.minimize`, scans, pulls and the ranking use of a
    :class:`~nsbi.model.Model`.

    Example (``mc`` from :func:`mc_stat_uncertainty`)::

        extended = MCStatModel(model, mc)
        result = fit(extended, minos=["mu"])   # intervals with the MC-statistical uncertainty
    """

    def __init__(self, model: Model, uncertainty: MCStatUncertainty):
        self.model = model
        self.shift = torch.from_numpy(uncertainty.shifts())
        k = self.shift.shape[1]
        space = model.parameters
        self.parameters = ParameterSpace(
            names=[*space.names, *(f"mc_stat[{i}]" for i in range(k))],
            init=[*space.init, *([0.0] * k)],
            bounds=[*space.bounds, *([(-5.0, 5.0)] * k)],
            fixed=[*space.fixed, *([False] * k)],
            poi=space.poi,
            constrained=[*(space.constrained or [False] * len(space)), *([True] * k)],
        )
        self._n = len(space)

    @property
    def twice_differentiable(self) -> bool:
        return self.model.twice_differentiable

    @property
    def prefit_uncertainties(self) -> np.ndarray:
        return np.concatenate([self.model.prefit_uncertainties, np.ones(self.shift.shape[1])])

    def nll(self, params: torch.Tensor, weights=None) -> torch.Tensor:
        r""":math:`-\ln L(\theta - A\gamma) + \tfrac12\lVert\gamma\rVert^2` at
        ``params`` = :math:`(\theta, \gamma)` (``(npar + K,)`` or batched)."""
        theta, gamma = params[..., : self._n], params[..., self._n :]
        shifted = theta - gamma @ self.shift.T
        return self.model.nll(shifted, weights) + 0.5 * (gamma**2).sum(-1)


#: ``nsbi fit --mc-stat`` modes
MODES = ("auto", "off", "report", "propagate")


def fit_with_mc_stat(
    model: Model,
    mode: str = "auto",
    *,
    fix: dict[str, float] | None = None,
    minos: bool | list[str] = False,
    tolerance: float | None = None,
    progress: bool = False,
) -> tuple[FitResult, MCStatUncertainty | None, Model | MCStatModel]:
    """The fit ``nsbi fit`` makes: the nominal fit, then by ``mode``

    - ``"off"``: nothing more;
    - ``"report"``: the MC-statistical uncertainty from the replicas (:func:`mc_stat_uncertainty`);
    - ``"propagate"``: that, then the fit of :class:`MCStatModel` (MINOS on it), whose errors
      include the MC-statistical uncertainty;
    - ``"auto"``: ``"report"`` when every unbinned channel declares replicas, else ``"off"``.

    Returns ``(result, uncertainty, fitted_model)``: the fit whose values and errors are
    reported (the extended model's for ``"propagate"``), the uncertainty (``None`` when off),
    and the model that fit belongs to (for scans, pulls and the ranking).
    """
    from nsbi.infer.minimize import DEFAULT_TOLERANCE

    if mode not in MODES:
        raise FitError(f"unknown MC-statistical mode {mode!r}; use one of {', '.join(MODES)}")
    tolerance = tolerance or DEFAULT_TOLERANCE
    if mode == "auto":
        mode = "report" if model.replicas >= 2 else "off"
    if mode != "off" and model.replicas < 2:
        raise InvalidOption(
            "--mc-stat",
            f"{mode} needs bootstrap replicas of every unbinned channel: declare "
            '"mc_stat": {"replicas": 10} in each and run `nsbi train`',
        )
    result = minimize(model, fix=fix, minos=minos if mode != "propagate" else False,
                      tolerance=tolerance)  # fmt: skip
    if mode == "off":
        return result, None, model
    uncertainty = mc_stat_uncertainty(model, result, progress=progress)
    if mode == "report":
        return result, uncertainty, model
    extended = MCStatModel(model, uncertainty)
    init = np.concatenate([result.values, np.zeros(extended.shift.shape[1])])
    total = minimize(extended, init=init, fix=fix, minos=minos, tolerance=tolerance)
    return total, uncertainty, extended
