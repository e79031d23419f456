r"""The health of a minimum, judged from the exact gradient and Hessian at it.

iminuit's verdict is not usable as it stands once a user Hessian is handed to Minuit (iminuit
2.33): with fixed parameters HESSE takes the leading block of the full Hessian instead of the
free one; a direction along which the NLL is flat is reported "accurate"; and a minimum on a
parameter bound is reported "above max EDM" because the EDM mixes the external Hessian with the
internal (bound-transformed) gradient. nsbi therefore minimises over the free parameters only
and judges the minimum itself, with the exact derivatives, by Minuit's own criteria.

**The active set.** A free parameter :math:`\theta_i` sitting on a bound (within
:data:`AT_LIMIT` of its standard deviation) whose gradient pushes it outwards
(:math:`g_i > 0` on the lower bound, :math:`g_i < 0` on the upper) is held there: the
constrained minimum is on the bound and :math:`g_i \neq 0` is no failure. Over the remaining,
*active* parameters :math:`a` the estimated distance to the minimum is MIGRAD's

.. math::

    \mathrm{EDM} = \tfrac12\, g_a^T H_{aa}^{-1} g_a ,

and the minimum is valid when it is below ten times MIGRAD's goal :math:`0.002\,\tau\,
\mathrm{errordef}` (Minuit's "below EDM threshold (goal x 10)"), the NLL and its derivatives are
finite, and :math:`H_{aa}` is positive definite. Parameters on a bound are reported as
information (``at_limit``), not as a failure.

**The covariance** of the free parameters is :math:`V = H_{ff}^{-1}` (every free parameter,
those on a bound included), so that the error :math:`\sigma_i = \sqrt{V_{ii}}` is the same
number in the printed table and in the covariance. An eigenvalue of :math:`H_{ff}` below
:data:`FLAT` times the largest is a *flat direction* (the data do not determine that
combination; a signal strength with no signal): the covariance is then that of the Hessian
with its eigenvalues floored (Minuit's "forced positive definite"), not accurate, and the fit
is not valid (iminuit's numerical HESSE fails there too). A negative eigenvalue is a saddle
point.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nsbi.infer.curvature import positive_definite

__all__ = ["Health", "FitCounts", "judge_minimum", "edm_goal", "AT_LIMIT", "FLAT"]

#: a free parameter within this many standard deviations of a bound is "at limit"
AT_LIMIT = 1e-4

#: an eigenvalue of the free Hessian below this fraction of the largest is a flat direction
FLAT = 1e-9

#: how much of a flat eigenvector a parameter must carry to be named in the reason
_NAMED_SHARE = 0.3


def edm_goal(tolerance: float, errordef: float = 0.5) -> float:
    r"""The EDM a minimum must be below to be valid: ten times MIGRAD's goal
    :math:`0.002\,\tau\,\mathrm{errordef}` (Minuit's "goal x 10").

    Example:
        >>> edm_goal(0.01)
        0.0001
    """
    return 10 * 0.002 * tolerance * errordef


@dataclass(frozen=True)
class Health:
    """The verdict on a minimum.

    Attributes:
        valid: finite, EDM below :func:`edm_goal` over the active parameters, and a positive
            definite Hessian there.
        edm: the EDM over the active parameters.
        accurate_covariance: the covariance is :math:`H_{ff}^{-1}` of a positive-definite
            Hessian (not floored).
        reasons: why the fit is not valid or the covariance not accurate (empty when healthy;
            a valid fit may carry a reason its covariance is not accurate).
        at_limit: free parameters on a bound (information).
        covariance: ``(F, F)`` covariance of the free parameters.
    """

    valid: bool
    edm: float
    accurate_covariance: bool
    reasons: tuple[str, ...]
    at_limit: tuple[str, ...]
    covariance: np.ndarray


def judge_minimum(
    names: Sequence[str],
    x: np.ndarray,
    value: float,
    gradient: np.ndarray,
    hessian: np.ndarray,
    bounds: Sequence[tuple[float, float]],
    goal: float,
) -> Health:
    r"""Judge the minimum ``x`` of the free parameters ``names`` (with their ``bounds``) from
    the NLL ``value``, its exact ``gradient`` ``(F,)`` and ``hessian`` ``(F, F)`` there, by the
    criteria of the module docstring.

    Example:
        >>> import numpy as np
        >>> h = judge_minimum(["a", "b"], np.array([0.0, 0.0]), 0.0, np.array([1.0, 0.0]),
        ...                   np.eye(2), [(0.0, 5.0), (-5.0, 5.0)], goal=1e-4)
        >>> h.valid, h.at_limit, round(h.edm, 12)
        (True, ('a',), 0.0)
        >>> judge_minimum(["a", "b"], np.zeros(2), 0.0, np.zeros(2), np.diag([0.0, 1.0]),
        ...               [(-5.0, 5.0)] * 2, goal=1e-4).reasons
        ('flat direction: the NLL does not determine a',)
    """
    names = list(names)
    lo = np.array([b[0] for b in bounds], dtype=np.float64)
    hi = np.array([b[1] for b in bounds], dtype=np.float64)
    reasons: list[str] = []
    finite = bool(
        np.isfinite(value) and np.all(np.isfinite(gradient)) and np.all(np.isfinite(hessian))
    )
    if not finite:
        bad = [n for n, g in zip(names, gradient, strict=True) if not np.isfinite(g)]
        where = f" (gradient in {', '.join(bad)})" if bad else ""
        reasons.append(f"the NLL or its derivatives are not finite at the minimum{where}")
        gradient = np.nan_to_num(gradient, nan=0.0, posinf=0.0, neginf=0.0)
        hessian = np.nan_to_num(hessian, nan=0.0, posinf=0.0, neginf=0.0)

    diagonal = np.diag(hessian)
    sigma = np.where(diagonal > 0, 1.0 / np.sqrt(np.where(diagonal > 0, diagonal, 1.0)), 1.0)
    near = AT_LIMIT * sigma
    on_lo, on_hi = x - lo <= near, hi - x <= near
    at_limit = tuple(n for n, a, b in zip(names, on_lo, on_hi, strict=True) if a or b)
    held = (on_lo & (gradient > 0)) | (on_hi & (gradient < 0))
    active = ~held

    notes: list[str] = []
    covariance, accurate = _covariance(names, hessian, reasons, notes, held)
    edm = 0.0
    if active.any():
        block = hessian[np.ix_(active, active)]
        eigenvalues, vectors, positive = positive_definite(torch.from_numpy(block))
        g = torch.from_numpy(gradient[active])
        edm = float(0.5 * ((vectors.T @ g) ** 2 / eigenvalues).sum())
        if not bool(positive) and accurate:
            reasons.append("the Hessian is not positive definite over the parameters off bounds")
    if edm > goal:
        reasons.append(f"EDM {edm:.3g} above the maximum {goal:.3g}")
    return Health(
        valid=not reasons,
        edm=edm,
        accurate_covariance=accurate,
        reasons=tuple(reasons + notes),
        at_limit=at_limit,
        covariance=covariance,
    )


def _covariance(
    names: list[str],
    hessian: np.ndarray,
    reasons: list[str],
    notes: list[str],
    held: np.ndarray,
) -> tuple[np.ndarray, bool]:
    """:math:`H^{-1}`, or that of the floored Hessian with the flat or negative directions
    named in ``reasons``; and whether it is accurate. A flat direction along parameters
    ``held`` on a bound (the NLL rising into the range, as a linear one does) goes to
    ``notes``: the minimum is valid, only its error is undefined."""
    eigenvalues, vectors = np.linalg.eigh(hessian)
    scale = max(float(np.abs(eigenvalues).max(initial=0.0)), 1e-300)
    flat = np.abs(eigenvalues) <= FLAT * scale
    negative = (eigenvalues < 0) & ~flat
    for k in np.flatnonzero(flat | negative):
        direction = _direction(names, vectors[:, k])
        on_bound = float((vectors[held, k] ** 2).sum()) > 1 - 1e-6
        if flat[k] and on_bound:
            notes.append(
                f"no curvature along {direction} at its bound (the NLL rises into the range): "
                "the minimum is the bound and its error is undefined; MINOS or a scan gives "
                "the one-sided interval"
            )
        elif flat[k]:
            reasons.append(f"flat direction: the NLL does not determine {direction}")
        else:
            reasons.append(f"the Hessian has negative curvature along {direction}")
    if flat.any() or negative.any():
        floored = np.maximum(np.abs(eigenvalues), max(FLAT * scale, 1e-300))
        return (vectors / floored) @ vectors.T, False
    return (vectors / eigenvalues) @ vectors.T, True


def _direction(names: list[str], vector: np.ndarray) -> str:
    """The parameters carrying an eigenvector, with their relative signs: ``"k1 - k2"``."""
    share = vector**2
    carried = [i for i, s in enumerate(share) if s >= _NAMED_SHARE] or [int(np.argmax(share))]
    sign = np.sign(vector[carried[0]])
    text = names[carried[0]]
    for i in carried[1:]:
        text += f" {'+' if np.sign(vector[i]) == sign else '-'} {names[i]}"
    return text


@dataclass(frozen=True)
class FitCounts:
    """How many fits a result was built on failed, and how many toy fits the batched Newton
    fitter handed to iminuit; results add them up (``a + b``).

    Attributes:
        fallbacks: toy fits the batched fitter did not converge and iminuit finished.
        failed: fits that are not valid in the end (iminuit's verdict after the fallback, or
            :func:`judge_minimum`'s), whose values were used all the same.

    Example:
        >>> FitCounts(fallbacks=2, failed=1) + FitCounts(failed=1)
        FitCounts(fallbacks=2, failed=2)
    """

    fallbacks: int = 0
    failed: int = 0

    def __add__(self, other: FitCounts) -> FitCounts:
        return FitCounts(self.fallbacks + other.fallbacks, self.failed + other.failed)

    @classmethod
    def of(cls, *fits) -> FitCounts:
        """The failed fits among :class:`~nsbi.infer.FitResult` objects ``fits``."""
        return cls(failed=sum(not fit.valid for fit in fits))
