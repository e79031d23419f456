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

For the multiplicative codes and one parameter point (what a minimiser asks for), a fused pass
computes :math:`\ln I` and its derivative :math:`\partial \ln I/\partial\alpha` per event and
pair in the same chunk (code1 and code4 outside :math:`|\alpha|<1` are linear in the tables;
code4 inside is :math:`1 + \sum_q b_q(x)\,\beta_q(\alpha)` with
:math:`b = (g^+-1,\ g^--1,\ g^+\ln g^+,\ -g^-\ln g^-,\ g^+\ln^2 g^+,\ g^-\ln^2 g^-)` and
:math:`\beta_q(\alpha) = \sum_m (A^{-1})_{mq}\alpha^m`), stores the derivative as float32, and
the backward pass is one matrix-vector product per process, so an NLL+gradient reads each
table about twice. Its backward is once-differentiable: exact second derivatives come from
finite differences of the exact gradient (:mod:`nsbi.infer.minimize` does this by itself).
Additive codes and batches of parameter points use plain torch operations, checkpointed per
chunk (recomputed in the backward pass), which are exact to any order but slower.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.checkpoint import checkpoint

from nsbi.model.interpolation import _A_INVERSE, ADDITIVE_CODES, CODES, additive_delta, interpolate

__all__ = ["ShapeSystematics"]

#: elements (events x pairs) per chunk of the fused pass: a few MB of float64 temporaries
_CHUNK_ELEMENTS = 1 << 18

#: floor of an additive-code factor :math:`1 + \sum_k \Delta_k` (it can cross zero far out)
_FACTOR_FLOOR = 1e-10


class ShapeSystematics:
    """The per-event shape factors :math:`g_j(x, \\alpha)` of one unbinned channel.

    Arguments:
        pairs: ``(sample column j, parameter position k)`` per shape modifier.
        log_hi, log_lo: ``{dataset: (n, P)}`` tables of :math:`\\ln g^\\pm` on the ``observed``
            and ``reference`` events, one column per pair.
        n_samples: the number of processes :math:`J` of the channel.
        code: the interpolation code.
        chunk: events per chunk.

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
    ):
        if code not in CODES:
            raise ValueError(
                f"unknown shape interpolation code {code!r}; expected one of "
                + ", ".join(sorted(CODES))
            )
        self.pairs = [(int(j), int(k)) for j, k in pairs]
        self.code = code
        self.chunk = int(chunk)
        self.n_samples = int(n_samples)
        self.log_hi = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in log_hi.items()}
        self.log_lo = {k: torch.as_tensor(np.asarray(v, np.float32)) for k, v in log_lo.items()}
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
        """:math:`\\ln g_j` for one chunk: ``alpha (..., P)``, tables ``(m, P)`` ->
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
            return torch.log((1 + delta @ self._membership).clamp_min(_FACTOR_FLOOR))
        factor = interpolate(self.code, alpha, torch.exp(log_hi), torch.exp(log_lo))
        return torch.log(factor.clamp_min(_FACTOR_FLOOR)) @ self._membership

    def _fused(
        self, alpha: torch.Tensor, dataset: str, derivative: bool
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """:math:`\\ln g_j` ``(n, J)`` and, if asked, :math:`\\partial\\ln I_p/\\partial\\alpha_p`
        ``(n, P)`` float32, for a multiplicative code at one point ``alpha (P,)``."""
        log_hi, log_lo = self.log_hi[dataset], self.log_lo[dataset]
        n, n_pairs = log_hi.shape
        a = alpha.detach().to(torch.float64)
        positive = a >= 0
        linear_coefficient = torch.where(positive, a, -a)  # ln I = coef * (ln g+ or ln g-)
        linear_derivative = torch.where(positive, 1.0, -1.0).to(torch.float64)
        inside = (a.abs() < 1) if self.code == "code4" else torch.zeros_like(positive)
        any_inside = bool(inside.any())
        if any_inside:
            powers = torch.stack([a**m for m in range(1, 7)], -1)  # (P, 6)
            slopes = torch.stack([m * a ** (m - 1) for m in range(1, 7)], -1)  # d alpha^m / d alpha
            inverse = _A_INVERSE.to(torch.float64)
            beta = powers @ inverse  # (P, 6): beta_q(alpha_p)
            beta_prime = slopes @ inverse
        out = torch.empty(n, self.n_samples, dtype=torch.float64)
        grad = torch.empty(n, n_pairs, dtype=torch.float32) if derivative else None
        step = max(1, _CHUNK_ELEMENTS // max(n_pairs, 1))
        any_outside = not bool(inside.all())
        if any_inside:
            # Horner forms: I = 1 - b0 - b1 + g+ (b0 + l+ (b2 + l+ b4)) + g- (b1 + l- (b5 l- - b3))
            constant = 1.0 - beta[:, 0] - beta[:, 1]
            constant_prime = -beta_prime[:, 0] - beta_prime[:, 1]
        for start in range(0, n, step):
            hi = log_hi[start : start + step].double()
            lo = log_lo[start : start + step].double()
            if any_outside:
                selected = torch.where(positive, hi, lo)
                log_i = selected * linear_coefficient
                if derivative:
                    d_log_i = selected * linear_derivative
            if any_inside:
                g_hi, g_lo = torch.exp(hi), torch.exp(lo)
                factor = (
                    g_hi * (beta[:, 0] + hi * (beta[:, 2] + hi * beta[:, 4]))
                    + g_lo * (beta[:, 1] + lo * (lo * beta[:, 5] - beta[:, 3]))
                    + constant
                ).clamp_min(_FACTOR_FLOOR)
                log_factor = torch.log(factor)
                log_i = torch.where(inside, log_factor, log_i) if any_outside else log_factor
                if derivative:
                    d_factor = (
                        g_hi * (beta_prime[:, 0] + hi * (beta_prime[:, 2] + hi * beta_prime[:, 4]))
                        + g_lo
                        * (beta_prime[:, 1] + lo * (lo * beta_prime[:, 5] - beta_prime[:, 3]))
                        + constant_prime
                    ) / factor
                    d_log_i = torch.where(inside, d_factor, d_log_i) if any_outside else d_factor
            out[start : start + step] = log_i @ self._membership
            if derivative:
                grad[start : start + step] = d_log_i
        return out, grad

    def log_factors(self, pars: torch.Tensor, dataset: str) -> torch.Tensor:
        """:math:`\\ln g_j(x_i, \\alpha)` on the events of ``dataset``: ``pars (npar,)`` ->
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
    """:math:`\\ln g_j(x_i,\\alpha)` with a stored per-event derivative (multiplicative codes)."""

    @staticmethod
    def forward(ctx, alpha: torch.Tensor, shapes: ShapeSystematics, dataset: str):
        derivative = ctx.needs_input_grad[0]
        out, grad = shapes._fused(alpha, dataset, derivative)
        ctx.shapes = shapes
        if derivative:
            ctx.save_for_backward(grad)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_out: torch.Tensor):
        (d_log_i,) = ctx.saved_tensors
        shapes = ctx.shapes
        # d/d alpha_p = sum_i d ln I_ip / d alpha_p * grad_out[i, j(p)]
        grad_alpha = torch.zeros(shapes.n_pairs, dtype=torch.float64)
        n = d_log_i.shape[0]
        step = max(1, _CHUNK_ELEMENTS // max(shapes.n_pairs, 1))
        for start in range(0, n, step):
            chunk = d_log_i[start : start + step].double()
            per_pair = grad_out[start : start + step] @ shapes._membership.T  # (m, P)
            grad_alpha += (chunk * per_pair).sum(0)
        return grad_alpha, None, None
