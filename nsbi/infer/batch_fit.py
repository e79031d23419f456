r"""Many fits at once: a vectorised Newton minimiser over a batch of pseudo-experiments.

The NLL of ``T`` toys bound to one model is one torch call on ``(T, npar)`` parameters (each
row sees only its own data), so the gradient of :math:`\sum_t -\ln L_t` gives every toy's
gradient and ``npar`` more backward passes (one vmapped pass) give every toy's exact Hessian,
refreshed every few iterations (see :func:`fit_toys`). Each iteration takes,
for every toy not yet converged, the Newton step on its free parameters

.. math::

    \delta = -\tilde H^{-1} g, \qquad \tilde H = V\,\mathrm{diag}(\max(|\lambda_i|,
    \epsilon))\,V^T,

(the Hessian with its eigenvalues made positive, so a step always descends), clipped to the
bounds, halved until the NLL falls (Armijo), with parameters sitting on a bound and pushed
outwards held there (a projected Newton method). A toy has converged when its estimated
distance to the minimum :math:`\mathrm{EDM} = \tfrac12 g^T H^{-1} g` is below ``edm_goal``
(MIGRAD's criterion) and its Hessian is positive definite on the free parameters.

Each toy starts at the best of ``init`` and a scan of the free POI over its range (the other
parameters at ``init``): one batched NLL evaluation per scan point, cheap beside the Newton
iterations. It finds the deeper basin where the NLL has two (:math:`\sqrt{\mu}` coefficients
give a minimum at :math:`\mu = 0` and one inside, with toys on either side). A Newton method
started on the far side of a strongly curved region crawls: with :math:`\sqrt{\mu}`
coefficients (interference) a toy started at :math:`\mu \approx 0` whose minimum is at
:math:`\hat\mu > 0` only triples :math:`\mu` per step (the Newton step of
:math:`b\sqrt{\mu} + c\mu` near 0 is :math:`2\mu`).

Toys that have not converged after ``max_iterations`` are refitted one by one with iminuit
(:func:`nsbi.infer.minimize`), the reference; their count is reported as ``fallbacks``.

**Memory.** A batch holds, for every toy, the per-event tables of the reference pools through
the gradient and the Hessian's backward passes: about

.. math::

    m_\text{toy} \approx 32\ \text{bytes} \times N_\text{ref} (J + 2 K)(F + 2)

(:math:`N_\text{ref}` reference events over all unbinned channels, :math:`J` samples,
:math:`K` per-event shape pairs, :math:`F` free parameters; 92 MB against 72 MB measured for
60 000 events, two samples, three shape systematics, four parameters). The toys are fitted in
batches of ``floor(budget / m_toy)``, the budget ``NSBI_TOY_MEMORY_GB`` (default 2 GB) but at
most half the memory available, so that no command outgrows the machine
(``benchmarks/toy_memory.py``); each toy reaches the same minimum (to the fits' tolerance)
however the toys are batched.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nsbi.exceptions import FitError
from nsbi.infer.curvature import positive_definite
from nsbi.infer.fit_health import FitCounts
from nsbi.infer.minimize import best_poi_start, minimize, off_kinks
from nsbi.infer.toys import PseudoExperiments
from nsbi.model import Model, pyhf_torch_backend

__all__ = ["BatchFit", "fit_toys", "toy_batch_size", "TOY_MEMORY_VARIABLE"]

#: the environment variable of the memory budget (GB) of a batch of toy fits
TOY_MEMORY_VARIABLE = "NSBI_TOY_MEMORY_GB"
_DEFAULT_TOY_MEMORY_GB = 2.0


def _available_bytes() -> float:
    """MemAvailable of ``/proc/meminfo`` (Linux), else the free physical pages."""
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return float(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return float("inf")


def toy_batch_size(model: Model, n_free: int, memory_gb: float | None = None) -> int:
    r"""How many toys of ``model`` to fit at once (module docstring): the budget
    ``memory_gb`` (default ``NSBI_TOY_MEMORY_GB``, else 2 GB; at most half the available
    memory) over the estimated bytes per toy.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> model = Model.from_workspace(uncorrelated_background([5.0], [50.0], [7.0], [52]))
        >>> toy_batch_size(model, 2) >= 10_000   # a binned model: nothing per event
        True
    """
    if memory_gb is None:
        memory_gb = float(os.environ.get(TOY_MEMORY_VARIABLE, _DEFAULT_TOY_MEMORY_GB))
    if not memory_gb > 0:
        raise FitError(f"{TOY_MEMORY_VARIABLE}: expected a positive number of GB, got {memory_gb}")
    budget = min(memory_gb * 1024**3, 0.5 * _available_bytes())
    per_toy = (
        32.0
        * (n_free + 2)
        * sum(
            channel.n_events("reference")
            * (len(channel.samples) + 2 * (channel.shapes.n_pairs if channel.shapes else 0))
            for channel in model.unbinned
        )
    )
    per_toy += (
        64.0 * (n_free + 2) * (model.binned_data.shape[-1] if model.binned is not None else 0)
    )
    return max(1, int(budget // max(per_toy, 1.0)))


@dataclass
class BatchFit:
    r"""Minima of a batch of fits.

    Attributes:
        values: ``(T, npar)`` best-fit parameters.
        nll: ``(T,)`` :math:`-\ln L` at the minima.
        converged: ``(T,)`` whether the batched Newton method converged (else iminuit's fit).
        fallbacks: how many toys were refitted with iminuit.
        iterations: Newton iterations of the batch.
        failed: ``(T,)`` toys whose fit is not valid in the end: not converged by the batch,
            and iminuit's fallback invalid too (or not run). Their values are the better of
            the two minima found, used all the same, and counted in every result built on
            them (``failed_fits``).
    """

    values: np.ndarray
    nll: np.ndarray
    converged: np.ndarray
    fallbacks: int
    iterations: int
    failed: np.ndarray | None = None

    @property
    def counts(self) -> FitCounts:
        """The fallbacks and failed fits of the batch."""
        failed = 0 if self.failed is None else int(np.count_nonzero(self.failed))
        return FitCounts(fallbacks=self.fallbacks, failed=failed)


def _value_and_gradient(model: Model, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NLL ``(T,)`` and gradient ``(T, npar)``."""
    x = x.detach().clone().requires_grad_(True)
    value = model.nll(x)
    (grad,) = torch.autograd.grad(value.sum(), x)
    return value.detach(), grad


def _gradient_and_hessian(
    model: Model, x: torch.Tensor, free: list[int]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """NLL ``(T,)``, gradient ``(T, npar)`` and free-parameter Hessian ``(T, F, F)``."""
    x = x.detach().clone().requires_grad_(True)
    value = model.nll(x)
    (grad,) = torch.autograd.grad(value.sum(), x, create_graph=True)
    # row k of every toy's Hessian is the backward pass of grad[:, k]; all rows at once by a
    # vmapped (batched-gradient) backward pass, else one pass per row
    basis = torch.zeros((len(free), *x.shape), dtype=x.dtype)
    basis[torch.arange(len(free)), :, free] = 1.0
    try:
        (rows,) = torch.autograd.grad(
            grad, x, grad_outputs=basis, retain_graph=True, is_grads_batched=True
        )
        hessian = rows[:, :, free].transpose(0, 1)
    except RuntimeError:
        rows = [
            torch.autograd.grad(grad[:, k].sum(), x, retain_graph=True)[0][:, free] for k in free
        ]
        hessian = torch.stack(rows, 1)
    return value.detach(), grad.detach(), 0.5 * (hessian + hessian.transpose(1, 2)).detach()


def _infinite_slopes_at_bounds(model, x, free, value, g, hessian, lo_f, hi_f, near):
    r"""Toys whose gradient is infinite or NaN on a bound, as :math:`\sqrt{\mu}` coefficients
    give at :math:`\mu = 0` (interference), are probed one step (:math:`10^{-6}` of the range)
    inside: where the NLL there is lower, the toy moves there and carries on from finite
    derivatives; otherwise the bound is its minimum along that parameter, whose gradient is set
    to push outwards (the active set holds it) and whose Hessian is the probe's.

    Returns ``(x, value, g, hessian)`` (``g`` over the free parameters)."""
    bad = ~torch.isfinite(g)
    if not bool(bad.any()):
        return x, value, g, hessian
    xf = x[:, free]
    on_lo, on_hi = bad & (xf <= lo_f + near), bad & (xf >= hi_f - near)
    step = 1e-6 * (hi_f - lo_f)
    probe = x.clone()
    probe[:, free] = torch.where(on_lo, xf + step, torch.where(on_hi, xf - step, xf))
    probe_value, probe_grad, probe_hessian = _gradient_and_hessian(model, probe, free)
    toy_bad = bad.any(-1)
    move = toy_bad & (probe_value < value)
    x = torch.where(move[:, None], probe, x)
    value = torch.where(move, probe_value, value)
    g = torch.where(move[:, None], probe_grad[:, free], g)
    outwards = torch.where(on_lo, 1.0, -1.0).to(g)
    g = torch.where(~move[:, None] & (on_lo | on_hi), outwards, g)
    hessian = torch.where(toy_bad[:, None, None], probe_hessian, hessian)
    return x, value, torch.nan_to_num(g, nan=0.0), torch.nan_to_num(hessian, nan=0.0)


def _projected_newton_step(
    hessian: torch.Tensor, g: torch.Tensor, active: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The Newton step on the parameters not in ``active`` (whose gradient ``g`` is already 0),
    with the Hessian made positive definite; and whether it was already."""
    mask = (~active).double()
    h = hessian * mask[:, :, None] * mask[:, None, :] + torch.diag_embed(active.double())
    modified, vectors, positive = positive_definite(h)
    projected = (vectors.transpose(1, 2) @ g[..., None])[..., 0] / modified
    return -(vectors @ projected[..., None])[..., 0], positive


def fit_toys(
    model: Model,
    toys: PseudoExperiments,
    *,
    fix: dict[str, float] | None = None,
    init: Sequence[float] | np.ndarray | torch.Tensor | None = None,
    edm_goal: float = 1e-6,
    max_iterations: int = 40,
    fallback: bool = True,
    batch_size: int | None = None,
) -> BatchFit:
    """Fit every pseudo-experiment of ``toys`` (parameters in ``fix`` held at their values),
    ``batch_size`` at a time (default :func:`toy_batch_size`: what the memory budget holds).

    ``init``: ``(npar,)`` or ``(T, npar)`` starting points (default: the model's inits).

    Example:
        >>> from nsbi.infer.toys import generate
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [7.0], observed=[60])
        >>> model = Model.from_workspace(ws)
        >>> toys = generate(model, model.parameter_vector(), 8, key=(1,))
        >>> result = fit_toys(model, toys)
        >>> bool(result.converged.all()), result.fallbacks
        (True, 0)
    """
    t = len(toys)
    n_free = sum(1 for k, f in enumerate(model.parameters.fixed)
                 if not f and model.parameters.names[k] not in (fix or {}))  # fmt: skip
    size = batch_size or toy_batch_size(model, n_free)
    if t <= size:
        return _fit_batch(model, toys, fix, init, edm_goal, max_iterations, fallback)
    starts = None if init is None else np.asarray(init, dtype=np.float64)
    parts = []
    for first in range(0, t, size):
        rows = np.arange(first, min(first + size, t))
        start = starts[rows] if starts is not None and starts.ndim == 2 else starts
        parts.append(_fit_batch(model, toys.subset(rows), fix, start, edm_goal, max_iterations,
                                fallback))  # fmt: skip
    return BatchFit(
        np.concatenate([p.values for p in parts]),
        np.concatenate([p.nll for p in parts]),
        np.concatenate([p.converged for p in parts]),
        sum(p.fallbacks for p in parts),
        max(p.iterations for p in parts),
        np.concatenate([p.failed if p.failed is not None else ~p.converged for p in parts]),
    )


def _fit_batch(model, toys, fix, init, edm_goal, max_iterations, fallback) -> BatchFit:
    """:func:`fit_toys` of one batch, all in memory at once."""
    space = model.parameters
    t = len(toys)
    fixed = list(space.fixed)
    start = torch.tensor(space.init, dtype=torch.float64)
    if init is not None:
        start = torch.as_tensor(np.asarray(init, dtype=np.float64))
    x = start.expand(t, -1).clone() if start.ndim == 1 else start.clone()
    for name, value in (fix or {}).items():
        index = space.index(name)
        x[:, index] = float(value)
        fixed[index] = True
    free = [i for i, f in enumerate(fixed) if not f]
    lo = torch.tensor([b[0] for b in space.bounds], dtype=torch.float64)
    hi = torch.tensor([b[1] for b in space.bounds], dtype=torch.float64)
    x = torch.minimum(torch.maximum(x, lo), hi)
    bound = toys.bind(model)
    poi = space.poi_index
    if poi is not None and not fixed[poi] and bool(torch.isfinite(hi[poi] - lo[poi])):
        x = best_poi_start(bound.nll, x, poi, float(lo[poi]), float(hi[poi]))
    x = torch.from_numpy(np.stack([off_kinks(row, fixed, space.bounds) for row in x.numpy()]))
    converged = torch.zeros(t, dtype=torch.bool)
    iterations = 0
    with pyhf_torch_backend():
        if not free:
            with torch.no_grad():
                value = bound.nll(x)
            return BatchFit(x.numpy(), value.numpy(), np.ones(t, bool), 0, 0)
        lo_f, hi_f = lo[free], hi[free]
        hessian, age, backtracked = None, 0, False
        for iteration in range(1, max_iterations + 1):
            iterations = iteration
            # the Hessian costs F backward passes, the gradient one: it is refreshed on the
            # first two iterations, every third, after a step that had to backtrack, and
            # before convergence is declared; in between, steps use the last one (a chord
            # method, linearly convergent near the minimum)
            if hessian is None or iteration <= 2 or age >= 3 or backtracked:
                value, grad, hessian = _gradient_and_hessian(bound, x, free)
                age = 0
            else:
                value, grad = _value_and_gradient(bound, x)
                age += 1
            near = 1e-9 * (hi_f - lo_f)
            x, value, g, hessian = _infinite_slopes_at_bounds(
                bound, x, free, value, grad[:, free], hessian, lo_f, hi_f, near
            )
            xf = x[:, free]
            # projected Newton: parameters pushed outwards on a bound (within 1e-9 of the
            # range, which rounding leaves) are held there. So are those pushed outwards within
            # 1e-3 of the range of a bound whose Newton step crosses it, snapped onto it where
            # that lowers the NLL: else a parameter just inside a bound clips every step at
            # the bound, which spoils the steps of the others. (Where it would raise the NLL
            # the step overshoots a minimum inside, as Newton steps on sqrt(mu) do near 0.)
            pushed_lo, pushed_hi = g > 0, g < 0
            active = ((xf <= lo_f + near) & pushed_lo) | ((xf >= hi_f - near) & pushed_hi)
            g_raw, close = g, 1e-3 * (hi_f - lo_f)
            while True:  # each pass adds parameters to the active set, or ends
                g = torch.where(active, 0.0, g_raw)
                step, positive = _projected_newton_step(hessian, g, active)
                snap_lo = ~active & pushed_lo & (xf <= lo_f + close) & (xf + step < lo_f)
                snap_hi = ~active & pushed_hi & (xf >= hi_f - close) & (xf + step > hi_f)
                snap = snap_lo | snap_hi
                if not bool(snap.any()):
                    break
                trial = x.clone()
                trial[:, free] = torch.where(snap_lo, lo_f, torch.where(snap_hi, hi_f, xf))
                with torch.no_grad():
                    trial_value = bound.nll(trial)
                lower = snap.any(-1) & (trial_value <= value)
                if not bool(lower.any()):
                    break
                active = active | (snap & lower[:, None])
                x = torch.where(lower[:, None], trial, x)
                value = torch.where(lower, trial_value, value)
                xf = x[:, free]
            edm = 0.5 * (g * -step).sum(-1)
            converged = positive & (edm < edm_goal)
            if bool(converged.all()):
                if age == 0:
                    # one last Newton step with the fresh Hessian: from EDM < goal it gains
                    # several digits (kept where it lowers the NLL)
                    trial = x.clone()
                    trial[:, free] = torch.minimum(torch.maximum(xf + step, lo_f), hi_f)
                    with torch.no_grad():
                        trial_value = bound.nll(trial)
                    better = trial_value < value
                    x = torch.where(better[:, None], trial, x)
                    value = torch.where(better, trial_value, value)
                    break
                age = 3  # confirm with a fresh Hessian
                continue
            # backtracking line search on the toys still moving
            moving = ~converged
            accepted = torch.zeros(t, dtype=torch.bool)
            size = torch.ones(t, dtype=torch.float64)
            for _ in range(12):
                trial = x.clone()
                trial_f = torch.minimum(torch.maximum(xf + size[:, None] * step, lo_f), hi_f)
                trial[:, free] = trial_f
                with torch.no_grad():
                    trial_value = bound.nll(trial)
                # Armijo on the projected step (the bounds may cut the Newton step short)
                slope = (g * (trial_f - xf)).sum(-1)
                ok = moving & ~accepted & (trial_value <= value + 1e-4 * slope)
                x = torch.where(ok[:, None], trial, x)
                value = torch.where(ok, trial_value, value)  # the NLL at x, kept current
                accepted |= ok
                if bool((accepted | ~moving).all()):
                    break
                size = torch.where(accepted, size, 0.5 * size)
            backtracked = bool((moving & (size < 1)).any())
            # a toy whose line search failed everywhere is at its numerical minimum
            stuck = moving & ~accepted
            if bool(stuck.any()):
                converged = converged | (stuck & positive & (edm < 100 * edm_goal))
    values = x.numpy().copy()
    nll = value.numpy().copy()
    converged = converged.numpy().copy()
    fallbacks = 0
    failed = ~converged
    if fallback:
        for row in np.flatnonzero(~converged):
            one = toys.bind(model, int(row))
            result = minimize(one, init=values[row], fix=fix, errors=False, tolerance=0.001)
            fallbacks += 1
            failed[row] = not result.valid
            if result.valid or result.nll < nll[row]:
                values[row], nll[row] = result.values, result.nll
    return BatchFit(values, nll, converged, fallbacks, iterations, failed)
