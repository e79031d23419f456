r"""Per-event shape systematics: vertical interpolation of per-event density ratios.

A ``shape`` modifier :math:`k` of process :math:`j` has, at every event, the ratios of the
process's density at :math:`\alpha_k = \pm 1` to its nominal density,

.. math::

    g^\pm_{jk}(x) = \frac{p_j(x \mid \alpha_k = \pm 1)}{p_j(x \mid \alpha_k = 0)},

learned by a ratio ensemble (another tree, file or selection) or, for a weight-based
variation, the ratio of the varied to the nominal event weight. The per-event factor at any
:math:`\alpha` is the HistFactory interpolation (:mod:`nsbi.model.interpolation`) applied
event by event, with the same code for every event:

- multiplicative codes (``code1``, ``code4``): :math:`g_j(x,\alpha) = \prod_k
  I_\text{code}(\alpha_k;\, g^+_{jk}(x), g^-_{jk}(x))`;
- additive codes (``code0``, ``code2``, ``code4p``): :math:`g_j(x,\alpha) = 1 + \sum_k
  \Delta_\text{code}(\alpha_k;\, g^+_{jk}(x), 1, g^-_{jk}(x))`, as pyhf adds histosys deltas.

The interpolated factor is not exactly a density ratio between the :math:`\pm1` points (the
integral :math:`\int p_j\, g_j\, dx` drifts from 1), so the shape is renormalised on the
reference events at every :math:`\alpha`,

.. math::

    N_j(\alpha) = \sum_i \omega_i\, r_j(x_i)\, g_j(x_i, \alpha), \qquad
    p_j(x\mid\alpha) = p_j(x)\, g_j(x,\alpha) / N_j(\alpha),

and the yield change of the modifier enters the yield factor :math:`G_j(\alpha)` separately.
With ``code1`` and a variation that is an exponential tilt of the nominal (a Gaussian whose mean
moves), the renormalised model is exact for every :math:`\alpha`.

The tables :math:`\ln g^\pm` are float32 ``(events, pairs)`` (one column per (process, NP)
pair); the interpolation is computed in float64 over chunks of events.

For the multiplicative codes and one parameter point (what a minimiser asks for), the passes of
:mod:`nsbi.model.shape_kernels` run: matrix products over the tables where the interpolation is
linear in them (``code1``; ``code4`` at :math:`|\alpha| \ge 1`), and elsewhere one fused
element-wise pass (compiled for large tables) that stores :math:`\partial\ln I/\partial\alpha`
as float32, so the backward pass is one matrix product per chunk. That backward is
once-differentiable: exact second derivatives come from finite differences of the exact gradient
(:mod:`nsbi.infer.minimize` does this by itself). Additive codes and batches of parameter points
use plain torch operations, checkpointed per chunk (recomputed in the backward pass), which are
exact to any order but slower.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from nsbi.model.interpolation import ADDITIVE_CODES, CODES, additive_delta, interpolate
from nsbi.model.shape_kernels import (
    FACTOR_FLOOR,
    derivative_times,
    linear_log_factors,
    polynomial_log_factors,
)

__all__ = ["ShapeSystematics"]


class ShapeSystematics:
    r"""The per-event shape factors :math:`g_j(x, \alpha)` of one unbinned channel.

    Arguments:
        pairs: ``(sample column j, parameter position k)`` per shape modifier (stored sorted by
            process, the tables' columns permuted to match).
        log_hi, log_lo: ``{dataset: (n, P)}`` tables of :math:`\ln g^\pm` on the ``observed``
            and ``reference`` events, one column per pair.
        n_samples: the number of processes :math:`J` of the channel.
        code: the interpolation code.
        chunk: events per chunk (plain torch path).
        compile: compile the ``code4`` pass with ``torch.compile`` (``None``: for large
            tables; see :mod:`nsbi.model.shape_kernels`).

    Example:
        >>> shift = np.array([[0.1], [-0.2]])   # ln g+ of two events; g- = 1/g+ (a tilt)
        >>> tables = {"observed": shift, "reference": shift}
        >>> shapes = ShapeSystematics([(0, 1)], tables, {k: -v for k, v in tables.items()},
        ...                           n_samples=2, code="code1")
        >>> pars = torch.tensor([1.0, 0.5], dtype=torch.float64)  # alpha = 0.5
        >>> shapes.log_factors(pars, "observed")[:, 0].numpy().round(3).tolist()
        [0.05, -0.1]
    """

    def __init__(
        self,
        pairs: Sequence[tuple[int, int]],
        log_hi: dict[str, np.ndarray],
        log_lo: dict[str, np.ndarray],
        n_samples: int,
        code: str = "code4",
        chunk: int = 65536,
        compile: bool | None = None,
    ):
        if code not in CODES:
            raise ValueError(
                f"unknown shape interpolation code {code!r}; expected one of "
                + ", ".join(sorted(CODES))
            )
        pairs = [(int(j), int(k)) for j, k in pairs]
        # the pairs of each process contiguous (a stable sort; tables permuted to match)
        order = sorted(range(len(pairs)), key=lambda p: pairs[p][0])
        self.pairs = [pairs[p] for p in order]
        self.code = code
        self.chunk = int(chunk)
        self.compile = compile
        self.n_samples = int(n_samples)

        def permuted(tables):
            out = {}
            for dataset, table in tables.items():
                table = np.asarray(table, np.float32)
                if table.ndim == 2 and order != list(range(len(order))):
                    table = np.ascontiguousarray(table[:, order])
                out[dataset] = torch.as_tensor(table)
            return out

        self.log_hi, self.log_lo = permuted(log_hi), permuted(log_lo)
        for tables in (self.log_hi, self.log_lo):
            for dataset, table in tables.items():
                if table.ndim != 2 or table.shape[1] != len(self.pairs):
                    raise ValueError(
                        f"{dataset} table of shape {tuple(table.shape)}; expected "
                        f"(events, {len(self.pairs)})"
                    )
        self._parameter = torch.tensor([k for _, k in self.pairs], dtype=torch.long)
        membership = torch.zeros(len(self.pairs), self.n_samples, dtype=torch.float64)
        for p, (j, _) in enumerate(self.pairs):
            membership[p, j] = 1.0
        self._membership = membership
        owners = [j for j, _ in self.pairs]
        self._segments = tuple(
            (owners.index(j), len(owners) - owners[::-1].index(j)) if j in owners else (0, 0)
            for j in range(self.n_samples)
        )

    @property
    def twice_differentiable(self) -> bool:
        """Additive codes use plain torch operations; multiplicative codes the fused
        once-differentiable pass (for single parameter points)."""
        return self.code in ADDITIVE_CODES

    @property
    def n_pairs(self) -> int:
        return len(self.pairs)

    def _chunk_log_factors(
        self, alpha: torch.Tensor, log_hi: torch.Tensor, log_lo: torch.Tensor
    ) -> torch.Tensor:
        r""":math:`\ln g_j` for one chunk: ``alpha (..., P)``, tables ``(m, P)`` ->
        ``(..., m, J)``."""
        alpha = alpha.unsqueeze(-2)  # (..., 1, P)
        log_hi, log_lo = log_hi.double(), log_lo.double()
        if self.code == "code1":  # exact in log space: alpha ln g+ or -alpha ln g-
            log_g = torch.where(alpha >= 0, alpha * log_hi, -alpha * log_lo)
            return log_g @ self._membership
        if self.code in ADDITIVE_CODES:
            delta = additive_delta(
                self.code, alpha, torch.exp(log_hi), torch.ones_like(log_hi), torch.exp(log_lo)
            )
            return torch.log((1 + delta @ self._membership).clamp_min(FACTOR_FLOOR))
        factor = interpolate(self.code, alpha, torch.exp(log_hi), torch.exp(log_lo))
        return torch.log(factor.clamp_min(FACTOR_FLOOR)) @ self._membership

    def _fused(
        self, alpha: torch.Tensor, dataset: str, derivative: bool
    ) -> tuple[torch.Tensor, list[torch.Tensor] | None]:
        r""":math:`\ln g_j` ``(n, J)`` and, if asked, :math:`\partial\ln I_p/\partial\alpha_p`
        as float32 chunks of rows (``None`` where every pair is linear: the backward pass then
        reads the tables), for a multiplicative code at one point ``alpha (P,)``."""
        log_hi, log_lo = self.log_hi[dataset], self.log_lo[dataset]
        a = alpha.detach().to(torch.float64)
        inside = (a.abs() < 1) if self.code == "code4" else torch.zeros_like(a, dtype=torch.bool)
        if not bool(inside.any()):
            return linear_log_factors(log_hi, log_lo, a, self._membership), None
        return polynomial_log_factors(
            log_hi, log_lo, a, inside, self._segments, derivative, self.compile
        )

    def log_factors(self, pars: torch.Tensor, dataset: str) -> torch.Tensor:
        r""":math:`\ln g_j(x_i, \alpha)` on the events of ``dataset``: ``pars (npar,)`` ->
        ``(n, J)``, or ``(batch, npar)`` -> ``(batch, n, J)``."""
        alpha = pars[..., self._parameter]
        if alpha.ndim == 1 and self.code not in ADDITIVE_CODES:
            return _FusedLogFactors.apply(alpha, self, dataset)
        log_hi, log_lo = self.log_hi[dataset], self.log_lo[dataset]
        parts = []
        for start in range(0, log_hi.shape[0], self.chunk):
            hi, lo = log_hi[start : start + self.chunk], log_lo[start : start + self.chunk]
            if torch.is_grad_enabled() and alpha.requires_grad:
                parts.append(
                    checkpoint(self._chunk_log_factors, alpha, hi, lo, use_reentrant=False)
                )
            else:
                parts.append(self._chunk_log_factors(alpha, hi, lo))
        if not parts:
            return torch.zeros((*alpha.shape[:-1], 0, self.n_samples), dtype=torch.float64)
        return torch.cat(parts, dim=-2)


class _FusedLogFactors(torch.autograd.Function):
    r""":math:`\ln g_j(x_i,\alpha)` with a stored per-event derivative (multiplicative codes)."""

    @staticmethod
    def forward(ctx, alpha: torch.Tensor, shapes: ShapeSystematics, dataset: str):
        derivative = ctx.needs_input_grad[0]
        out, stored = shapes._fused(alpha, dataset, derivative)
        ctx.shapes, ctx.dataset = shapes, dataset
        if derivative:
            ctx.save_for_backward(alpha.detach())
            ctx.stored = stored  # float32 chunks of d ln I / d alpha (not inputs: no versioning)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        shapes, dataset = ctx.shapes, ctx.dataset
        (alpha,) = ctx.saved_tensors
        stored, ctx.stored = ctx.stored, None
        # d/d alpha_p = sum_i d ln I_ip / d alpha_p * grad_out[i, j(p)]
        grad = derivative_times(
            grad_out,
            shapes.log_hi[dataset],
            shapes.log_lo[dataset],
            alpha,
            stored,
            shapes._membership,
        )
        return grad, None, None
