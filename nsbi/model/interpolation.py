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
"""

from __future__ import annotations

import torch

__all__ = ["code1", "code4", "MULTIPLICATIVE_CODES", "interpolate"]

# pyhf's A^{-1} for alpha0 = 1 (rows: a_1 .. a_6; columns: the entries of b)
_A_INVERSE = torch.tensor(
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
        >>> float(code1(torch.tensor(0.5), torch.tensor(1.21), torch.tensor(0.81)))
        1.1
    """
    return torch.where(alpha >= 0, hi**alpha, lo ** (-alpha))


def code4_coefficients(hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    """The six polynomial coefficients :math:`a_i` of code4, shape ``(..., 6)``."""
    log_hi, log_lo = torch.log(hi), torch.log(lo)
    b = torch.stack(
        [hi - 1, lo - 1, hi * log_hi, -lo * log_lo, hi * log_hi**2, lo * log_lo**2], dim=-1
    )
    return b @ _A_INVERSE.to(b.dtype).T


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


MULTIPLICATIVE_CODES = {"code1": code1, "code4": code4}


def interpolate(code: str, alpha: torch.Tensor, hi: torch.Tensor, lo: torch.Tensor) -> torch.Tensor:
    """Apply the multiplicative interpolation ``code`` (``code1`` or ``code4``)."""
    try:
        return MULTIPLICATIVE_CODES[code](alpha, hi, lo)
    except KeyError:
        raise ValueError(
            f"unknown interpolation code {code!r}; expected one of "
            + ", ".join(MULTIPLICATIVE_CODES)
        ) from None
