r"""The per-event passes over the shape tables for one parameter point (multiplicative codes).

:mod:`nsbi.model.shapes` holds the tables :math:`\ln g^\pm_{ip}` (float32, events x pairs, the
pairs of each process contiguous) and asks, at one point :math:`\alpha`, for

.. math::

    \ln g_j(x_i, \alpha) = \sum_{p \in j} \ln I(\alpha_p;\, g^+_{ip}, g^-_{ip})

and, in the backward pass, for :math:`\sum_i \partial\ln I_{ip}/\partial\alpha_p\,
\bar{o}_{i j(p)}` (``grad_out`` :math:`\bar o`). Two regimes:

- **linear** (``code1`` anywhere, ``code4`` at :math:`|\alpha_p| \ge 1`): :math:`\ln I_{ip} =
  |\alpha_p|\, \ln g^{\operatorname{sgn}\alpha_p}_{ip}`, so the forward pass is two
  matrix products :math:`\ln g^+ W^+ + \ln g^- W^-` (:math:`W^\pm` the coefficients times the
  pair-to-process membership) and the backward pass two more, :math:`(\ln g^\pm)^T \bar o`,
  chunk by chunk in float64 BLAS: each table is read once forward and once backward, which is
  the memory floor of the computation.
- **polynomial** (``code4`` at :math:`|\alpha_p| < 1`): :math:`I_{ip} = 1 + \sum_q b_q(x_i)
  \beta_q(\alpha_p)` with
  :math:`b = (g^+-1,\ g^--1,\ g^+\ln g^+,\ -g^-\ln g^-,\ g^+\ln^2 g^+,\ g^-\ln^2 g^-)` and
  :math:`\beta_q(\alpha) = \sum_m (A^{-1})_{mq}\alpha^m`. The logarithm is taken of the product
  over each process's pairs, :math:`\ln\prod_{p\in j} I_{ip}` (one logarithm per event and
  process instead of one per pair; a chunk whose product under- or overflows is redone as a
  sum of logarithms), and :math:`\partial\ln I_{ip}/\partial\alpha_p = I'_{ip}/I_{ip}` is stored
  in float32 for the backward pass, which is then one matrix product per chunk. The chunk
  function is element-wise plus segment reductions; for large tables it is compiled by
  ``torch.compile`` into one fused loop (two exponentials, two polynomials and a division per
  element), which needs a C++ compiler at run time: without one, or with ``NSBI_COMPILE=0``
  in the environment, the same function runs eagerly (slower, identical results);
  ``NSBI_COMPILE=1`` compiles it for tables of any size.

Everything that depends on :math:`\alpha` is float64.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Sequence

import torch

from nsbi.model.interpolation import A_INVERSE

__all__ = ["derivative_times", "linear_log_factors", "polynomial_log_factors"]

#: elements (events x pairs) per chunk: a few MB of float64 temporaries
CHUNK_ELEMENTS = 1 << 19

#: tables at least this large (events x pairs) are worth the one-off compilation
COMPILE_MIN_ELEMENTS = 1 << 21

#: floor of an interpolated factor (``code4`` and the additive codes can cross zero far out)
FACTOR_FLOOR = 1e-10


def _rows(n_pairs: int) -> int:
    return max(1, CHUNK_ELEMENTS // max(n_pairs, 1))


def linear_log_factors(
    log_hi: torch.Tensor, log_lo: torch.Tensor, alpha: torch.Tensor, membership: torch.Tensor
) -> torch.Tensor:
    r""":math:`\ln g_j = \ln g^+ W^+ + \ln g^- W^-` where every pair is linear: ``(n, J)``.

    Example:
        >>> hi = torch.tensor([[0.1, 0.2]]); lo = -hi
        >>> member = torch.tensor([[1.0], [1.0]], dtype=torch.float64)
        >>> alpha = torch.tensor([2.0, -1.0], dtype=torch.float64)
        >>> linear_log_factors(hi, lo, alpha, member).numpy().round(6).tolist()
        [[0.0]]
    """
    w_hi = (alpha.clamp_min(0))[:, None] * membership
    w_lo = ((-alpha).clamp_min(0))[:, None] * membership
    n = log_hi.shape[0]
    out = torch.empty(n, membership.shape[1], dtype=torch.float64)
    step = _rows(log_hi.shape[1])
    for start in range(0, n, step):
        stop = start + step
        out[start:stop] = log_hi[start:stop].double() @ w_hi + log_lo[start:stop].double() @ w_lo
    return out


def _horner(h, lo, g_hi, g_lo, beta):
    r""":math:`1 + \sum_q b_q \beta_q` (or its derivative, given :math:`\beta'`) in Horner form:
    :math:`g^+(\beta_0 + l^+(\beta_2 + l^+\beta_4)) + g^-(\beta_1 + l^-(l^-\beta_5 - \beta_3))
    + \beta_6`, with row 6 holding :math:`1 - \beta_0 - \beta_1` (or its derivative)."""
    return (
        g_hi * (beta[0] + h * (beta[2] + h * beta[4]))
        + g_lo * (beta[1] + lo * (lo * beta[5] - beta[3]))
        + beta[6]
    )


def _polynomial_chunk(
    hi: torch.Tensor,
    lo: torch.Tensor,
    beta: torch.Tensor,
    beta_prime: torch.Tensor,
    linear: torch.Tensor,
    slope: torch.Tensor,
    select_hi: torch.Tensor,
    inside: torch.Tensor,
    segments: tuple[tuple[int, int], ...],
    derivative: bool,
    all_inside: bool,
):
    r"""Products of the polynomial factors and sums of the linear ones per process, and the
    per-pair derivative ``(m, P)`` float32 (or ``None``), for one chunk of rows.

    ``beta``/``beta_prime`` ``(7, P)``: :math:`\beta_q` and :math:`\beta'_q` and, in row 6,
    :math:`1 - \beta_0 - \beta_1` and its derivative (Horner forms below)."""
    h, lo64 = hi.double(), lo.double()
    g_hi, g_lo = torch.exp(h), torch.exp(lo64)
    factor = _horner(h, lo64, g_hi, g_lo, beta).clamp_min(FACTOR_FLOOR)
    if all_inside:
        products = torch.stack([factor[:, a:b].prod(-1) for a, b in segments], -1)
        sums = None
    else:
        selected = torch.where(select_hi, h, lo64)
        in_factor = torch.where(inside, factor, 1.0)
        in_linear = torch.where(inside, 0.0, selected * linear)
        products = torch.stack([in_factor[:, a:b].prod(-1) for a, b in segments], -1)
        sums = torch.stack([in_linear[:, a:b].sum(-1) for a, b in segments], -1)
    if not derivative:
        return products, sums, None
    d_factor = _horner(h, lo64, g_hi, g_lo, beta_prime) / factor
    if all_inside:
        return products, sums, d_factor.float()
    return products, sums, torch.where(inside, d_factor, selected * slope).float()


@functools.cache
def _compiled_chunk():
    return torch.compile(_polynomial_chunk, dynamic=False)


_COMPILE_FAILED: list[str] = []


def _use_compiled(n_elements: int, compile: bool | None) -> bool:
    """``compile`` if given, else the environment's ``NSBI_COMPILE`` (``0`` never, ``1``
    always), else whether the tables are large enough to repay the compilation."""
    if _COMPILE_FAILED:
        return False
    if compile is not None:
        return bool(compile)
    setting = os.environ.get("NSBI_COMPILE", "")
    if setting in ("0", "1"):
        return setting == "1"
    return n_elements >= COMPILE_MIN_ELEMENTS


def polynomial_log_factors(
    log_hi: torch.Tensor,
    log_lo: torch.Tensor,
    alpha: torch.Tensor,
    inside: torch.Tensor,
    segments: Sequence[tuple[int, int]],
    derivative: bool,
    compile: bool | None = None,
) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
    r""":math:`\ln g_j` ``(n, J)`` and, if asked, :math:`\partial\ln I/\partial\alpha`
    as float32 chunks ``(rows, P)`` (in event order) for ``code4`` with some pairs ``inside``
    :math:`|\alpha| < 1`.

    ``compile``: ``None`` compiles for tables of at least :data:`COMPILE_MIN_ELEMENTS`,
    ``True``/``False`` force it on or off.

    Example:
        >>> hi = torch.tensor([[0.1], [0.0]]); lo = torch.tensor([[-0.1], [0.0]])
        >>> alpha = torch.tensor([0.0], dtype=torch.float64)
        >>> out, d = polynomial_log_factors(hi, lo, alpha, alpha.abs() < 1, [(0, 1)], True)
        >>> out.numpy().round(6).tolist(), d[0].double().numpy().round(6).tolist()  # (ln g+ - ln g-)/2
        ([[0.0], [0.0]], [[0.1], [0.0]])
    """
    segments = tuple((int(a), int(b)) for a, b in segments)
    n, n_pairs = log_hi.shape
    inverse = A_INVERSE.to(torch.float64)
    powers = torch.stack([alpha**m for m in range(1, 7)])  # (6, P)
    slopes = torch.stack([m * alpha ** (m - 1) for m in range(1, 7)])
    beta, beta_prime = inverse.T @ powers, inverse.T @ slopes  # (6, P): beta_q(alpha_p)
    beta = torch.cat([beta, (1.0 - beta[0] - beta[1])[None]]).contiguous()
    beta_prime = torch.cat([beta_prime, (-beta_prime[0] - beta_prime[1])[None]]).contiguous()
    positive = alpha >= 0
    linear = torch.where(positive, alpha, -alpha)  # ln I = |alpha| ln g+-
    slope = torch.where(positive, 1.0, -1.0).to(torch.float64)
    constants = (beta, beta_prime, linear, slope, positive, inside)
    all_inside = bool(inside.all())
    compiled = _use_compiled(n * n_pairs, compile)
    chunk = _compiled_chunk() if compiled else _polynomial_chunk
    out = torch.empty(n, len(segments), dtype=torch.float64)
    stored = [] if derivative else None
    rows = min(_rows(n_pairs), max(n, 1))
    for start in range(0, n, rows):
        hi, lo = log_hi[start : start + rows], log_lo[start : start + rows]
        m = hi.shape[0]
        if compiled and m < rows:  # one static shape: pad the last chunk with ln g = 0
            hi = torch.cat([hi, hi.new_zeros(rows - m, n_pairs)])
            lo = torch.cat([lo, lo.new_zeros(rows - m, n_pairs)])
        try:
            products, sums, d = chunk(hi, lo, *constants, segments, derivative, all_inside)
        except Exception as error:  # no C++ compiler, unsupported platform: run eagerly
            if not compiled:
                raise
            _COMPILE_FAILED.append(repr(error))
            warnings.warn(
                f"torch.compile of the shape-systematics pass failed ({error!r}); running it "
                "eagerly (same results, slower). Set NSBI_COMPILE=0 to skip the attempt.",
                RuntimeWarning,
                stacklevel=2,
            )
            compiled, chunk = False, _polynomial_chunk
            hi, lo = hi[:m], lo[:m]
            products, sums, d = chunk(hi, lo, *constants, segments, derivative, all_inside)
        products = products[:m]
        if bool(((products > 0) & torch.isfinite(products)).all()):
            out[start : start + m] = (
                torch.log(products) if sums is None else torch.log(products) + sums[:m]
            )
        else:  # the product left float64's range: sum the logarithms instead
            out[start : start + m] = _log_sum_chunk(hi[:m], lo[:m], *constants, segments)
        if derivative:
            stored.append(d[:m])
    return out, stored


def _log_sum_chunk(hi, lo, beta, beta_prime, linear, slope, select_hi, inside, segments):
    h, lo64 = hi.double(), lo.double()
    factor = _horner(h, lo64, torch.exp(h), torch.exp(lo64), beta).clamp_min(FACTOR_FLOOR)
    log_i = torch.where(inside, torch.log(factor), torch.where(select_hi, h, lo64) * linear)
    return torch.stack([log_i[:, a:b].sum(-1) for a, b in segments], -1)


def derivative_times(
    grad_out: torch.Tensor,
    log_hi: torch.Tensor,
    log_lo: torch.Tensor,
    alpha: torch.Tensor,
    stored: list[torch.Tensor] | None,
    membership: torch.Tensor,
) -> torch.Tensor:
    r""":math:`\sum_i \partial\ln I_{ip}/\partial\alpha_p\, \bar o_{i j(p)}` ``(P,)``:
    from the stored derivative, or (linear regime) from the tables,
    :math:`\partial \ln I_{ip}/\partial\alpha_p = \ln g^+_{ip}` for :math:`\alpha_p \ge 0`
    and :math:`-\ln g^-_{ip}` below.

    Example:
        >>> hi = torch.tensor([[0.1], [0.3]]); lo = -hi
        >>> member = torch.tensor([[1.0]], dtype=torch.float64)
        >>> go = torch.tensor([[1.0], [2.0]], dtype=torch.float64)
        >>> alpha = torch.tensor([0.5], dtype=torch.float64)
        >>> derivative_times(go, hi, lo, alpha, None, member).numpy().round(6).tolist()
        [0.7]
    """
    n, n_pairs = log_hi.shape
    grad = torch.zeros(n_pairs, dtype=torch.float64)
    step = _rows(n_pairs)
    positive = (alpha >= 0).to(torch.float64)
    if stored is not None:
        start = 0
        for chunk in stored:
            go = grad_out[start : start + chunk.shape[0]]
            grad += ((chunk.double().T @ go) * membership).sum(1)
            start += chunk.shape[0]
        return grad
    for start in range(0, n, step):
        go = grad_out[start : start + step]
        up = ((log_hi[start : start + step].double().T @ go) * membership).sum(1)
        down = ((log_lo[start : start + step].double().T @ go) * membership).sum(1)
        grad += positive * up - (1.0 - positive) * down
    return grad
