r"""HistFactory interpolation of multiplicative factors, as pyhf defines them (:math:`\alpha_0 = 1`).

One torch implementation serves yields :math:`G(\alpha)` (``hi``/``lo`` are the relative yields
at :math:`\alpha = \pm 1`) and per-event factors :math:`g(x, \alpha)` (``hi``/``lo`` are the
per-event ratios). Everything broadcasts: ``alpha`` of shape ``(..., K)`` against ``hi``, ``lo``
of shape ``(K,)`` or ``(n, K)``.

code1 (exponential):

.. math::

    I(\alpha) = \begin{cases} (I^+)^{\alpha} & \alpha \ge 0 \\ (I^-)^{-\alpha} & \alpha < 0 \end{cases}

code4 (polynomial inside, exponential outside):

.. math::

    I(\alpha) = \begin{cases} (I^+)^{\alpha} & \alpha \ge 1 \\
    1 + \sum_{i=1}^{6} a_i \alpha^i & |\alpha| < 1 \\ (I^-)^{-\alpha} & \alpha \le -1 \end{cases}

with :math:`a = A^{-1} b`, :math:`b = (I^+ - 1,\ I^- - 1,\ I^+ \ln I^+,\ -I^- \ln I^-,\
I^+ \ln^2 I^+,\ I^- \ln^2 I^-)`, so that the value and the first two derivatives are continuous
at :math:`\alpha = \pm 1`.

The additive codes interpolate the difference to the nominal,
:math:`I(\alpha) = I^0 + \Delta(\alpha)` with :math:`\delta^\pm = \pm(I^\pm - I^0)`; applied
to a factor (nominal :math:`I^0 = 1`) they give :math:`1 + \Delta(\alpha)`:

code0 (piecewise linear): :math:`\Delta = \delta^+ \alpha` for :math:`\alpha > 0`, else
:math:`\delta^- \alpha`.

code2 (quadratic inside, linear outside), with :math:`a = \frac12(I^+ + I^-) - I^0`,
:math:`b = \frac12(I^+ - I^-)`:

.. math::

    \Delta(\alpha) = \begin{cases} (b + 2a)(\alpha - 1) & \alpha > 1 \\
    a\alpha^2 + b\alpha & |\alpha| \le 1 \\ (b - 2a)(\alpha + 1) & \alpha < -1 \end{cases}

exactly as pyhf defines it (its reference ``_slow_code2``, and its fast path since
scikit-hep/pyhf#2668; pyhf 0.7.6's fast path uses :math:`(b - 2a)\alpha` below -1). Note that
this definition is discontinuous at :math:`|\alpha| = 1` (ROOT's code 2 adds
:math:`\pm(I^\pm - I^0)` outside; scikit-hep/pyhf#2729): prefer code4p.

code4p (polynomial inside, linear outside), :math:`S = \frac12(\delta^+ + \delta^-)`,
:math:`A = \frac1{16}(\delta^+ - \delta^-)`:

.. math::

    \Delta(\alpha) = \begin{cases} \delta^+ \alpha & \alpha > 1 \\
    \alpha\big(S + \alpha A (15 - 10\alpha^2 + 3\alpha^4)\big) & |\alpha| \le 1 \\
    \delta^- \alpha & \alpha < -1 \end{cases}
"""

from __future__ import annotations

import torch

__all__ = [
    "INTERPOLATION_CODES",
    "A_INVERSE",
    "DEFAULT_INTERPOLATION",
    "interpolation_problem",
    "code0",
    "code1",
    "code2",
    "code4",
    "code4p",
    "code4_coefficients",
    "additive_delta",
    "MULTIPLICATIVE_CODES",
    "ADDITIVE_CODES",
    "CODES",
    "interpolate",
]

#: interpolation codes by modifier type (as the workspace schema allows them)
INTERPOLATION_CODES = {
    "normsys": ("code1", "code4"),
    "histosys": ("code0", "code2", "code4p"),
    "shape": ("code0", "code1", "code2", "code4", "code4p"),
}

#: the code of each modifier type unless the measurement or the caller says otherwise (pyhf's)
DEFAULT_INTERPOLATION = {"normsys": "code4", "histosys": "code4p", "shape": "code4"}


def interpolation_problem(kind: str, code: str) -> str | None:
    """Why ``kind=code`` is not an interpolation nsbi has, or ``None`` when it is.

    Example:
        >>> interpolation_problem("normsys", "code1") is None
        True
        >>> print(interpolation_problem("normsys", "code0")[:50])
        normsys=code0 is not available; the codes are norm
    """
    if code in INTERPOLATION_CODES.get(kind, ()):
        return None
    choices = "; ".join(f"{k}: {', '.join(v)}" for k, v in INTERPOLATION_CODES.items())
    return f"{kind}={code} is not available; the codes are {choices}"


# pyhf's A^{-1} for alpha0 = 1 (rows: a_1 .. a_6; columns: the entries of b)
A_INVERSE = torch.tensor(
    [
        [15 / 16, -15 / 16, -7 / 16, -7 / 16, 1 / 16, -1 / 16],
        [3 / 2, 3 / 2, -9 / 16, 9 / 16, 1 / 16, 1 / 16],
        [-5 / 8, 5 / 8, 5 / 8, 5 / 8, -1 / 8, 1 / 8],
        [-3 / 2, -3 / 2, 7 / 8, -7 / 8, -1 / 8, -1 / 8],
        [3 / 16, -3 / 16, -3 / 16, -3 / 16, 1 / 16, -1 / 16],
        [1 / 2, 1 / 2, -5 / 16, 5 / 16, 1 / 16, 1 / 16],
    ],
    dtype=torch.float64,
)


def code1(alpha: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    """Exponential interpolation (code1).

    Example:
        >>> t = lambda v: torch.tensor(v, dtype=torch.float64)
        >>> round(float(code1(t(0.5), t(1.21), t(0.81))), 12)
        1.1
    """
    return torch.where(alpha >= 0, hi**alpha, lo ** (-alpha))


def code4_coefficients(hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    """The six polynomial coefficients :math:`a_i` of code4, shape ``(..., 6)``."""
    log_hi, log_lo = torch.log(hi), torch.log(lo)
    b = torch.stack(
        [hi - 1, lo - 1, hi * log_hi, -lo * log_lo, hi * log_hi**2, lo * log_lo**2], dim=-1
    )
    return b @ A_INVERSE.to(b.dtype).T


def code4(
    alpha: torch.Tensor,
    hi: torch.Tensor,
    lo: torch.Tensor,
    coefficients: torch.Tensor | None = None,
) -> torch.Tensor:
    """Polynomial interpolation with exponential extrapolation (code4), pyhf's normsys default.

    ``coefficients`` (from :func:`code4_coefficients`) may be precomputed once per model.

    Example:
        >>> hi, lo = torch.tensor(1.1, dtype=torch.float64), torch.tensor(0.9, dtype=torch.float64)
        >>> [round(float(code4(torch.tensor(a, dtype=torch.float64), hi, lo)), 6) for a in (-1, 0, 1)]
        [0.9, 1.0, 1.1]
    """
    if coefficients is None:
        coefficients = code4_coefficients(hi, lo)
    outside = torch.where(alpha >= 1, hi ** alpha.clamp(min=1), lo ** (-alpha.clamp(max=-1)))
    inside_alpha = alpha.clamp(-1, 1)
    powers = torch.stack([inside_alpha**k for k in range(1, 7)], dim=-1)
    inside = 1 + (powers * coefficients).sum(-1)
    return torch.where(alpha.abs() < 1, inside, outside)


def additive_delta(
    code: str, alpha: torch.Tensor, hi: torch.Tensor, nominal: torch.Tensor, lo: torch.Tensor
) -> torch.Tensor:
    r""":math:`\Delta(\alpha)` of the additive ``code`` (``code0``, ``code2``, ``code4p``) for
    the values ``lo``, ``nominal``, ``hi`` at :math:`\alpha = -1, 0, +1`; pyhf's
    ``interpolators.<code>`` return exactly these deltas.

    Example:
        >>> t = lambda v: torch.tensor(v, dtype=torch.float64)
        >>> [float(additive_delta("code0", t(a), t(12.0), t(10.0), t(9.0))) for a in (-2, 0.5)]
        [-2.0, 1.0]
    """
    delta_up, delta_down = hi - nominal, nominal - lo
    if code == "code0":
        return torch.where(alpha > 0, delta_up * alpha, delta_down * alpha)
    if code == "code2":
        a = 0.5 * (hi + lo) - nominal
        b = 0.5 * (hi - lo)
        inside = a * alpha * alpha + b * alpha
        return torch.where(
            alpha > 1,
            (b + 2 * a) * (alpha - 1),
            torch.where(alpha < -1, (b - 2 * a) * (alpha + 1), inside),
        )
    if code == "code4p":
        s = 0.5 * (delta_up + delta_down)
        a = 0.0625 * (delta_up - delta_down)
        alpha2 = alpha * alpha
        inside = alpha * (s + alpha * a * (15 + alpha2 * (-10 + alpha2 * 3)))
        return torch.where(
            alpha > 1, delta_up * alpha, torch.where(alpha < -1, delta_down * alpha, inside)
        )
    raise ValueError(f"unknown additive interpolation code {code!r}; expected code0, code2, code4p")


def code0(alpha: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    r"""Piecewise-linear interpolation of a factor (code0): :math:`1 + \Delta(\alpha)`."""
    return 1 + additive_delta("code0", alpha, hi, torch.ones_like(hi), lo)


def code2(alpha: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    """Quadratic interpolation, linear extrapolation of a factor (code2, pyhf's definition)."""
    return 1 + additive_delta("code2", alpha, hi, torch.ones_like(hi), lo)


def code4p(alpha: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    """Polynomial interpolation, linear extrapolation of a factor (code4p, pyhf's histosys
    default).

    Example:
        >>> t = lambda v: torch.tensor(v, dtype=torch.float64)
        >>> [round(float(code4p(t(a), t(1.2), t(0.9))), 6) for a in (-1, 0, 1, 2)]
        [0.9, 1.0, 1.2, 1.4]
    """
    return 1 + additive_delta("code4p", alpha, hi, torch.ones_like(hi), lo)


MULTIPLICATIVE_CODES = {"code1": code1, "code4": code4}
ADDITIVE_CODES = {"code0": code0, "code2": code2, "code4p": code4p}
CODES = {**MULTIPLICATIVE_CODES, **ADDITIVE_CODES}


def interpolate(code: str, alpha: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    r"""The factor :math:`I(\alpha)` (nominal 1) of interpolation ``code``, any of
    ``code0``, ``code1``, ``code2``, ``code4``, ``code4p``; ``hi``/``lo`` are the factors at
    :math:`\alpha = \pm 1` (relative yields, or per-event ratios :math:`g^\pm(x)`).

    Example:
        >>> t = lambda v: torch.tensor(v, dtype=torch.float64)
        >>> round(float(interpolate("code1", t(-0.5), t(1.21), t(0.81))), 6)
        0.9
    """
    try:
        function = CODES[code]
    except KeyError:
        raise ValueError(
            f"unknown interpolation code {code!r}; expected one of " + ", ".join(sorted(CODES))
        ) from None
    return function(alpha, hi, lo)
