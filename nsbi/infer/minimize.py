r"""Minimisation of a model's NLL with iminuit, using exact derivatives from torch autograd.

MIGRAD receives the exact gradient :math:`\partial(-\ln L)/\partial\theta`; HESSE receives the
exact Hessian, so the covariance :math:`V = H^{-1}` of the free parameters carries no
finite-difference error. ``errordef`` is 0.5 because the objective is :math:`-\ln L` (a change of
0.5 in :math:`-\ln L` is one standard deviation). MINOS intervals, when asked for, are the
points where the profiled :math:`-\ln L` rises by 0.5.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import iminuit
import numpy as np
import torch

from nsbi.exceptions import FitError, InvalidArgument
from nsbi.infer.curvature import positive_definite
from nsbi.infer.fit_health import AT_LIMIT, edm_goal, judge_minimum
from nsbi.model import Model, pyhf_torch_backend

__all__ = ["FitResult", "minimize", "DEFAULT_TOLERANCE", "Objective"]

#: MIGRAD tolerance: it stops when the estimated distance to the minimum is below
#: 0.002 * tolerance * errordef. 0.01 (10x tighter than iminuit's default) costs a few calls with
#: exact gradients and puts the minimum within about 1e-3 sigma of the truth.
DEFAULT_TOLERANCE = 0.01


@dataclass
class FitResult:
    r"""The outcome of one minimisation, with its health as iminuit reports it.

    Attributes:
        names: parameter names (``name[i]`` for multi-component parameters).
        values: best-fit values.
        errors: :math:`\sqrt{V_{ii}}`, :math:`V = H_{ff}^{-1}` the inverse of the exact
            Hessian over the free parameters (0 for fixed parameters): the same numbers as the
            diagonal of ``covariance``. Asymmetric intervals are MINOS's (``minos``).
        minos: ``{name: (lo, hi)}`` signed MINOS errors for the parameters asked for.
        nll: :math:`-\ln L` at the minimum.
        valid: the verdict of :func:`nsbi.infer.fit_health.judge_minimum` (finite, EDM below
            goal over the parameters off bounds, positive-definite Hessian, MINOS without a
            new minimum); ``reasons`` says why not.
        edm: estimated distance to minimum.
        accurate_covariance: whether the covariance is the inverse of a positive-definite
            Hessian (not forced positive).
        covariance: full covariance matrix (rows and columns of fixed parameters are 0).
        reasons: why the fit is not valid or its covariance not accurate (empty when healthy).
        at_limit: free parameters whose minimum sits on a bound (information, not failure).
        fixed: which parameters were fixed.
        poi: the POI's name.
        nfcn, ngrad: function and gradient calls.
    """

    names: list[str]
    values: np.ndarray
    errors: np.ndarray
    nll: float
    valid: bool
    edm: float
    accurate_covariance: bool
    covariance: np.ndarray
    fixed: list[bool]
    poi: str | None
    minos: dict[str, tuple[float, float]] = field(default_factory=dict)
    nfcn: int = 0
    ngrad: int = 0
    reasons: list[str] = field(default_factory=list)
    at_limit: list[str] = field(default_factory=list)

    def value(self, name: str) -> float:
        return float(self.values[self.names.index(name)])

    def error(self, name: str) -> float:
        return float(self.errors[self.names.index(name)])

    @property
    def correlation(self) -> np.ndarray:
        """Correlation matrix (0 on rows and columns of fixed parameters)."""
        sigma = np.sqrt(np.diag(self.covariance))
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = self.covariance / np.outer(sigma, sigma)
        return np.nan_to_num(corr)

    def to_dict(self) -> dict:
        """The JSON shape of ``nsbi fit --output``."""
        return {
            "poi": self.poi,
            "parameter_order": list(self.names),
            "parameters": {
                name: {
                    "value": float(v),
                    "error": float(e),
                    "minos": list(self.minos[name]) if name in self.minos else None,
                }
                for name, v, e in zip(self.names, self.values, self.errors, strict=True)
            },
            "nll": float(self.nll),
            "valid": bool(self.valid),
            "edm": float(self.edm),
            "accurate_covariance": bool(self.accurate_covariance),
            "reasons": list(self.reasons),
            "at_limit": list(self.at_limit),
            "covariance": self.covariance.tolist(),
        }

    def __str__(self) -> str:
        width = max(len(n) for n in self.names) + 2
        lines = [f"{'parameter':<{width}}{'value':>12}{'error':>12}   minos"]
        for name, v, e, fixed in zip(self.names, self.values, self.errors, self.fixed, strict=True):
            minos = ""
            if name in self.minos:
                lo, hi = self.minos[name]
                minos = f"{lo:+.4g} / {hi:+.4g}"
            elif fixed:
                minos = "(fixed)"
            mark = " *" if name == self.poi else ""
            lines.append(f"{name + mark:<{width}}{v:>12.6g}{e:>12.4g}   {minos}")
        lines.append(
            f"NLL = {self.nll:.6f}   valid = {self.valid}   EDM = {self.edm:.3g}   "
            f"accurate covariance = {self.accurate_covariance}   calls = {self.nfcn}"
        )
        label = "not valid" if not self.valid else "covariance"
        lines += [f"  {label}: {reason}" for reason in self.reasons]
        if self.at_limit:
            lines.append(f"  at a bound: {', '.join(self.at_limit)}")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{n}{' (POI)' if n == self.poi else ''}</td><td>{v:.6g}</td><td>{e:.4g}</td>"
            f"<td>{_minos_text(self.minos.get(n))}</td></tr>"
            for n, v, e in zip(self.names, self.values, self.errors, strict=True)
        )
        health = "valid" if self.valid else "<b style='color:red'>NOT valid</b>"
        return (
            f"<p>NLL = {self.nll:.6f}, {health}, EDM = {self.edm:.3g}, accurate covariance = "
            f"{self.accurate_covariance}</p><table><tr><th>parameter</th><th>value</th>"
            f"<th>error</th><th>MINOS</th></tr>{rows}</table>"
        )


def _minos_text(interval: tuple[float, float] | None) -> str:
    return "" if interval is None else f"{interval[0]:+.4g} / {interval[1]:+.4g}"


#: the NLL MIGRAD sees where the model's is NaN or infinite (see :meth:`Objective.value`)
NONFINITE_NLL = 1e30


class Objective:
    """NLL, gradient and Hessian of a model as numpy callables for iminuit.

    iminuit asks for the value and the gradient at the same point, so the value computed
    alongside a gradient is cached and reused.
    """

    def __init__(
        self, nll: Callable[[torch.Tensor], torch.Tensor], twice_differentiable: bool = True
    ) -> None:
        self.nll = nll
        self._x: np.ndarray | None = None
        self._value = 0.0
        self._grad: np.ndarray | None = None
        # autograd Hessians ("vectorized", else "rows"), or "gradient differences" for models
        # with once-differentiable parts, whose autograd Hessian would be silently wrong
        self._second_order = "vectorized" if twice_differentiable else "gradient differences"
        self._hessian_x: np.ndarray | None = None
        self._hessian: np.ndarray | None = None
        self.nhessian = 0
        # while True, :meth:`minuit_hessian` gives MIGRAD its starting curvature (see there)
        self.seeding = False

    def value(self, x: Sequence[float]) -> float:
        x = np.asarray(x, dtype=np.float64)
        if self._x is not None and np.array_equal(x, self._x):
            return self._value
        with torch.no_grad():
            value = float(self.nll(torch.from_numpy(x.copy())))
        # a step into a region where the model is undefined (a negative expected count,
        # whose Poisson term is NaN) is a wall MIGRAD's line search backs off from
        return value if np.isfinite(value) else NONFINITE_NLL

    def grad(self, x: Sequence[float]) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is not None and np.array_equal(x, self._x):
            return self._grad
        pars = torch.from_numpy(x.copy()).requires_grad_(True)
        value = self.nll(pars)
        (grad,) = torch.autograd.grad(value, pars)
        self._x, self._value, self._grad = x.copy(), float(value.detach()), grad.numpy()
        return self._grad

    def hessian(self, x: Sequence[float]) -> np.ndarray:
        """Exact Hessian; the rows are computed in one vectorised backward pass (vmap), with a
        row-by-row fallback for operations vmap does not support, and central differences of
        the exact gradient for once-differentiable operations."""
        x = np.asarray(x, dtype=np.float64)
        if self._hessian_x is not None and np.array_equal(x, self._hessian_x):
            return self._hessian
        self._hessian_x, self._hessian = x.copy(), self._compute_hessian(x)
        return self._hessian

    def minuit_hessian(self, x: Sequence[float]) -> np.ndarray:
        """The Hessian handed to Minuit: the exact one for HESSE; while :attr:`seeding`, the
        starting curvature of MIGRAD's variable-metric iteration, made positive definite.

        A start far from the minimum can have negative curvature (then Minuit cannot invert
        the seed), and an NLL linear in a parameter has none; the eigenvalues are replaced by
        their moduli, floored (see :func:`nsbi.infer.batch_fit.positive_definite`). For
        once-differentiable models the seed is a one-sided difference of the exact gradient
        (:math:`n + 1` gradients instead of :math:`2n`): MIGRAD refines it anyway.
        """
        if not self.seeding:
            return self.hessian(x)
        x = np.asarray(x, dtype=np.float64)
        if self._second_order == "gradient differences":
            self.nhessian += 1
            hessian = self._gradient_difference_hessian(x, central=False)
        else:
            hessian = self.hessian(x)
        eigenvalues, vectors, _ = positive_definite(torch.from_numpy(hessian))
        return ((vectors * eigenvalues) @ vectors.T).numpy()

    def _compute_hessian(self, x: np.ndarray) -> np.ndarray:
        pars = torch.tensor(x)
        self.nhessian += 1
        if self._second_order == "vectorized":
            try:
                return torch.autograd.functional.hessian(self.nll, pars, vectorize=True).numpy()
            except RuntimeError:
                self._second_order = "rows"
        if self._second_order == "rows":
            try:
                return torch.autograd.functional.hessian(self.nll, pars).numpy()
            except RuntimeError:
                self._second_order = "gradient differences"
        return self._gradient_difference_hessian(x)

    def _gradient_difference_hessian(self, x: np.ndarray, central: bool = True) -> np.ndarray:
        r"""Central differences of the exact gradient, symmetrised:
        :math:`H_{kl} \approx [\nabla_l f(x + h_k e_k) - \nabla_l f(x - h_k e_k)] / 2h_k`
        with :math:`h_k = 10^{-4} \max(1, |x_k|)` (truncation error :math:`O(h^2)`), or
        one-sided ones, :math:`[\nabla_l f(x + h_k e_k) - \nabla_l f(x)] / h_k` (error
        :math:`O(h)`, half the gradients)."""
        hessian = np.empty((len(x), len(x)))
        centre = None if central else self._raw_grad(x)
        for k in range(len(x)):
            step = 1e-4 * max(1.0, abs(x[k]))
            up, down = x.copy(), x.copy()
            up[k] += step
            if central:
                down[k] -= step
                hessian[k] = (self._raw_grad(up) - self._raw_grad(down)) / (2 * step)
            else:
                hessian[k] = (self._raw_grad(up) - centre) / step
        return 0.5 * (hessian + hessian.T)

    def _raw_grad(self, x: np.ndarray) -> np.ndarray:
        pars = torch.from_numpy(x.copy()).requires_grad_(True)
        (grad,) = torch.autograd.grad(self.nll(pars), pars)
        return grad.numpy()


#: how far :func:`off_kinks` moves a start that sits exactly on 0
KINK_OFFSET = 1e-7


#: the POI scan of the starting points, as fractions of the POI's range from its lower bound:
#: geometric near the bound (where the curvature of sqrt(mu) is), then every 1/40 of the range
#: (sqrt(mu) models can have two minima, one at 0 and one inside: each toy starts in the deeper)
_START_FRACTIONS = (1e-6, 1e-5, 1e-4, 1e-3, 0.003, 0.01, *(k / 40 for k in range(1, 41)))


def best_poi_start(
    nll: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, poi: int, lo: float, hi: float
) -> torch.Tensor:
    r"""``x`` (``(T, npar)`` starting points) with each row's POI moved to the point of a scan
    over ``[lo, hi]`` (or kept) of lowest ``nll``, the other parameters as they are.

    A Newton or MIGRAD start far from the minimum along the POI can end in the wrong basin:
    with :math:`\sqrt{\mu}` coefficients (interference) the NLL can have a minimum at
    :math:`\mu = 0` and one inside, and a fit from :math:`\mu = 1` stops in the nearer one;
    from near :math:`\mu = 0` Newton steps crawl (the step of :math:`b\sqrt{\mu} + c\mu` is
    :math:`2\mu`). The scan costs one (batched) NLL evaluation per point.
    """
    with torch.no_grad():
        best_value = torch.nan_to_num(nll(x), nan=torch.inf)
        best = x[:, poi].clone()
        for fraction in _START_FRACTIONS:
            trial = x.clone()
            trial[:, poi] = lo + fraction * (hi - lo)
            value = torch.nan_to_num(nll(trial), nan=torch.inf)
            better = value < best_value
            best = torch.where(better, trial[:, poi], best)
            best_value = torch.where(better, value, best_value)
    x = x.clone()
    x[:, poi] = best
    return x


def off_kinks(start: np.ndarray, fixed: Sequence[bool], bounds) -> np.ndarray:
    r"""Move free parameters that start exactly at 0 to :data:`KINK_OFFSET` (inside bounds).

    pyhf's piecewise interpolations (normsys ``code1``, histosys ``code0``) are functions of
    :math:`|\alpha|`, whose autograd derivative at exactly :math:`\alpha = 0` is 0: a nuisance
    parameter starting there would see no gradient and stay at the kink. From
    :math:`10^{-7}` the one-sided derivative is exact, and no smooth fit changes.
    """
    start = np.array(start, dtype=np.float64)
    for i, (value, is_fixed, (lo, hi)) in enumerate(zip(start, fixed, bounds, strict=True)):
        if not is_fixed and value == 0.0:
            start[i] = (
                KINK_OFFSET if hi >= KINK_OFFSET else (-KINK_OFFSET if lo <= -KINK_OFFSET else 0)
            )
    return start


def _newton_polish(
    objective: Objective,
    x: np.ndarray,
    hessian: np.ndarray,
    bounds,
    iterations: int = 4,
) -> np.ndarray:
    r"""Refine MIGRAD's minimum ``x`` (free parameters) by projected Newton steps
    :math:`\delta_a = -H_{aa}^{-1} g_a` on the active parameters :math:`a` (those not held on a
    bound by a gradient pushing outwards, see :mod:`nsbi.infer.fit_health`).

    MIGRAD stops once its EDM estimate is below the goal, which can leave a strongly correlated
    minimum off by :math:`10^{-4}\sigma`. With the exact Hessian (evaluated once, then reused as a
    chord method) each step gains several digits for the price of one gradient. A step is kept
    only if it does not raise the NLL; a step that would leave the bounds is clipped to them
    (MIGRAD's bound transform converges slowly onto a minimum that sits on a bound).
    ``hessian`` is the one the covariance comes from, so models differentiated once (whose
    Hessian takes :math:`2n` gradients) build it once.
    """
    lo = np.array([b[0] for b in bounds])
    hi = np.array([b[1] for b in bounds])
    sigma = 1.0 / np.sqrt(np.clip(np.diag(hessian), 1e-300, None))
    value = objective.value(x)
    for _ in range(iterations):
        gradient = objective.grad(x)
        near = AT_LIMIT * sigma
        held = ((x - lo <= near) & (gradient > 0)) | ((hi - x <= near) & (gradient < 0))
        active = ~held
        if not active.any():
            break
        try:
            factor = np.linalg.cholesky(hessian[np.ix_(active, active)])
        except np.linalg.LinAlgError:
            break
        step = np.linalg.solve(factor.T, np.linalg.solve(factor, gradient[active]))
        candidate = x.copy()
        candidate[active] -= step
        candidate = np.clip(candidate, lo, hi)
        new_value = objective.value(candidate)
        if not new_value <= value + 1e-12 * max(1.0, abs(value)):
            break
        x, value = candidate, new_value
        if np.max(np.abs(step)) < 1e-12:
            break
    return x


def minimize(
    model: Model,
    *,
    init: Sequence[float] | None = None,
    fix: dict[str, float] | None = None,
    minos: bool | Sequence[str] = False,
    tolerance: float = DEFAULT_TOLERANCE,
    strategy: int = 0,
    weights: torch.Tensor | None = None,
    errors: bool = True,
) -> FitResult:
    """Minimise ``model.nll`` over its free parameters with MIGRAD (exact gradient), then take
    the covariance from the exact Hessian of the free parameters and, if asked, run MINOS.

    Arguments:
        model: the model (bound to its data).
        init: starting values (default: the model's inits).
        fix: ``{name: value}`` parameters to hold fixed, on top of those the measurement fixes.
        minos: ``True`` for every free parameter, or a list of names.
        tolerance: MIGRAD tolerance (see :data:`DEFAULT_TOLERANCE`).
        strategy: Minuit strategy (0 fast, 1 default, 2 careful).
        weights: per-event weights for unbinned channels (see :meth:`Model.nll`).
        errors: polish the minimum with Newton steps, compute the covariance from the exact
            Hessian and judge the minimum (:mod:`nsbi.infer.fit_health`). ``False`` skips
            these where MIGRAD calls the minimum valid (the NLL at the minimum is what profile
            scans need; its error is quadratic in the position's, so MIGRAD alone is enough);
            the errors are then MIGRAD's estimates.
    """
    space = model.parameters
    start = np.array(space.init if init is None else init, dtype=np.float64)
    fixed = list(space.fixed)
    for name, value in (fix or {}).items():
        index = space.index(name)
        lo, hi = space.bounds[index]
        if not lo <= value <= hi:
            raise InvalidArgument(f"cannot fix {name} to {value}: outside its bounds [{lo}, {hi}]")
        start[index] = value
        fixed[index] = True
    poi = space.poi_index
    if poi is not None and not fixed[poi] and np.isfinite(np.subtract(*space.bounds[poi])):
        with pyhf_torch_backend():
            scanned = best_poi_start(lambda p: model.nll(p, weights),
                                     torch.as_tensor(start)[None], poi, *space.bounds[poi])  # fmt: skip
        start = scanned[0].numpy().copy()
    start = off_kinks(start, fixed, space.bounds)

    if all(fixed):  # nothing to minimise: the NLL at the fixed point
        with pyhf_torch_backend():
            value = Objective(lambda p: model.nll(p, weights)).value(start)
        zeros = np.zeros(len(start))
        return FitResult(
            names=list(space.names),
            values=start,
            errors=zeros,
            nll=value,
            valid=bool(value < NONFINITE_NLL),
            edm=0.0,
            accurate_covariance=True,
            covariance=np.zeros((len(start), len(start))),
            fixed=fixed,
            poi=space.poi,
            nfcn=1,
            reasons=[] if value < NONFINITE_NLL else ["the NLL is not finite at the fixed point"],
        )

    # Minuit sees the free parameters only (see nsbi.infer.fit_health for why): the fixed ones
    # are constants of the objective, so its gradient and Hessian are the free blocks
    free = ~np.array(fixed)
    names = [n for n, f in zip(space.names, free, strict=True) if f]
    bounds = [b for b, f in zip(space.bounds, free, strict=True) if f]
    base, index = torch.from_numpy(start.copy()), torch.from_numpy(np.flatnonzero(free))
    objective = Objective(
        lambda p: model.nll(base.index_put((index,), p), weights), model.twice_differentiable
    )
    goal = edm_goal(tolerance)
    with pyhf_torch_backend():
        # MIGRAD starts from a positive-definite form of the exact Hessian (or differences of
        # the exact gradient for models with once-differentiable parts)
        minuit = iminuit.Minuit(
            objective.value,
            start[free],
            grad=objective.grad,
            hessian=objective.minuit_hessian,
            name=names,
        )
        minuit.errordef = iminuit.Minuit.LIKELIHOOD
        minuit.limits = bounds
        minuit.strategy = strategy
        minuit.tol = tolerance
        objective.seeding = True
        try:
            minuit.migrad()
        finally:
            objective.seeding = False
        x = np.array(minuit.values)
        nfcn, ngrad = int(minuit.nfcn), int(minuit.ngrad)
        if errors or not minuit.valid:
            # the exact Hessian at MIGRAD's minimum, then Newton steps with it: the values gain
            # digits, the covariance (off by the third derivatives times a step of ~1e-3 sigma)
            # keeps them, and models differentiated once build one Hessian, not two. A fit
            # MIGRAD calls invalid is judged here too: its verdict is wrong on bounds.
            hessian = objective.hessian(x)
            x = _newton_polish(objective, x, hessian, bounds)
            nll = objective.value(x)
            health = judge_minimum(
                names, x, nll if nll < NONFINITE_NLL else np.nan, objective.grad(x), hessian,
                bounds, goal,
            )  # fmt: skip
            reasons = list(health.reasons)
            if not health.valid and minuit.fmin.has_reached_call_limit:
                reasons.append("MIGRAD reached its call limit")
            valid, edm, accurate = health.valid, health.edm, health.accurate_covariance
            covariance, at_limit = health.covariance, health.at_limit
        else:
            # MIGRAD's estimates: enough where only the NLL at the minimum matters (scans)
            nll, valid, edm, reasons = float(minuit.fval), True, float(minuit.fmin.edm), []
            accurate = bool(minuit.fmin.has_accurate_covar)
            step = np.array(minuit.errors)
            covariance = (
                np.array(minuit.covariance) if minuit.covariance is not None else np.diag(step**2)
            )
            lo, hi = np.array(bounds).T
            near = AT_LIMIT * step
            at_limit = tuple(n for n, v, a, b, d in zip(names, x, lo, hi, near, strict=True)
                             if v - a <= d or b - v <= d)  # fmt: skip
        minos_errors: dict[str, tuple[float, float]] = {}
        if minos and valid:
            if not errors:
                raise FitError("MINOS needs errors=True")
            asked = names if isinstance(minos, bool) else list(minos)
            for name in asked:
                if fixed[space.index(name)]:
                    raise InvalidArgument(f"MINOS asked for {name!r}, but it is fixed")
            minos_errors, minos_calls, minos_reasons = _minos(
                objective, x, covariance, bounds, names, asked, strategy, tolerance
            )
            nfcn += minos_calls
            reasons += minos_reasons
            valid = valid and not minos_reasons

    values = start.copy()
    values[free] = x
    full = np.zeros((len(start), len(start)))
    full[np.ix_(free, free)] = covariance
    return FitResult(
        names=list(space.names),
        values=values,
        errors=np.sqrt(np.diag(full)),
        nll=nll,
        valid=valid,
        edm=edm,
        accurate_covariance=accurate,
        covariance=full,
        fixed=fixed,
        poi=space.poi,
        minos=minos_errors,
        nfcn=nfcn,
        ngrad=ngrad,
        reasons=reasons,
        at_limit=list(at_limit),
    )


def _minos(
    objective: Objective,
    x: np.ndarray,
    covariance: np.ndarray,
    bounds,
    names: list[str],
    asked: list[str],
    strategy: int,
    tolerance: float,
) -> tuple[dict[str, tuple[float, float]], int, list[str]]:
    """MINOS intervals of ``asked`` from the minimum ``x`` of the free parameters ``names``.

    MINOS fixes the scanned parameter inside Minuit, where a user Hessian would be mapped onto
    the wrong parameters (see :mod:`nsbi.infer.fit_health`), so it runs on a Minuit that has
    the exact gradient only, started at the minimum with the exact errors (its MIGRAD stops at
    once). An interval cut by a parameter bound ends on the bound (information, not failure).

    Returns ``({name: (lower, upper)}, calls, reasons)``: signed errors, the function calls, and
    what failed (a new minimum found, a call limit).
    """
    minuit = iminuit.Minuit(objective.value, x, grad=objective.grad, name=names)
    minuit.errordef = iminuit.Minuit.LIKELIHOOD
    minuit.limits = bounds
    minuit.errors = np.maximum(np.sqrt(np.diag(covariance)), 1e-8)
    minuit.strategy = strategy
    minuit.tol = tolerance
    minuit.migrad()
    minuit.minos(*asked)
    intervals, reasons = {}, []
    for name in asked:
        error = minuit.merrors[name]
        intervals[name] = (float(error.lower), float(error.upper))
        for side in ("lower", "upper"):
            if getattr(error, f"{side}_new_min"):
                reasons.append(f"MINOS found a new minimum scanning {name} ({side})")
            elif getattr(error, f"at_{side}_max_fcn"):
                reasons.append(f"MINOS reached its call limit scanning {name} ({side})")
    return intervals, int(minuit.nfcn), reasons
