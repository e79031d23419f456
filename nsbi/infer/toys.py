r"""Pseudo-experiments: datasets drawn from a model at a parameter point :math:`\theta`.

Every channel kind fluctuates as the data would:

- **binned channels**: main counts :math:`n_b \sim \text{Pois}(\nu_b(\theta))`; auxiliary data
  of pyhf's constraints :math:`a \sim \mathcal{N}(a(\theta), \sigma)` (``normal``) or
  :math:`a \sim \text{Pois}(a(\theta))` (``poisson``: :math:`\gamma\tau`), as pyhf samples them;
- **unbinned channels**: Poisson reweighting of the simulated reference events (the ATLAS NSBI
  method): with the Asimov weights :math:`w_i^A = \omega_i \lambda(x_i|\theta)/p_\text{ref}(x_i)`
  (which sum to :math:`\nu(\theta)`), a pseudo-experiment has weights
  :math:`w_i \sim \text{Pois}(w_i^A)`, so its total is :math:`\text{Pois}(\nu)` and its events
  follow the model's intensity on the reference sample (drawn as a total :math:`n \sim
  \text{Pois}(\nu)` shared multinomially, the same distribution, in :math:`O(n \log
  N_\text{ref})`); only the nonzero weights are kept
  (:class:`~nsbi.model.unbinned.SparseWeights`: about :math:`\nu` of the reference events per
  toy), so fits of toys cost :math:`O(\nu)` per NLL evaluation, not :math:`O(N_\text{ref})`;
- **constraints of parameters only unbinned channels use**: :math:`a_k \sim
  \mathcal{N}(\theta_k, \sigma_k)`.

Toy :math:`t` of stream ``key`` draws from ``numpy.random.default_rng([*key, t])``, so any toy
can be regenerated on its own, in any order, on any worker: the same key and index give the same
dataset.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nsbi.exceptions import FitError
from nsbi.model import Model
from nsbi.model.unbinned import SparseWeights

__all__ = ["PseudoExperiments", "generate"]


@dataclass
class PseudoExperiments:
    """A batch of pseudo-experiments of one model, bound to it with :meth:`bind`.

    Attributes:
        indices: the toy indices (in their stream).
        binned: ``(T, ndata)`` main counts then auxiliary data of the binned channels, or ``None``.
        weights: ``{channel: SparseWeights}``: the Poisson weights of the reference events
            (``(T, n_reference)`` with :meth:`~nsbi.model.unbinned.SparseWeights.to_dense`).
        aux: ``(T, n_constraints)`` auxiliary data of the non-pyhf constraints.
    """

    indices: np.ndarray
    binned: torch.Tensor | None
    weights: dict[str, SparseWeights]
    aux: torch.Tensor

    def __len__(self) -> int:
        return len(self.indices)

    def bind(self, model: Model, row: int | None = None) -> Model:
        """The model bound to these ``T`` datasets (its NLL takes ``(T, npar)``), or to the one
        at position ``row`` as a plain model (its NLL takes ``(npar,)``)."""

        def pick(tensor: torch.Tensor) -> torch.Tensor:
            return tensor if row is None else tensor[row]

        bound = model if self.binned is None else model.with_binned_data(pick(self.binned))
        for channel, weights in self.weights.items():
            bound = bound.with_unbinned_data(channel, "reference", pick(weights))
        return bound.with_auxdata(pick(self.aux))

    def subset(self, rows: Sequence[int] | np.ndarray) -> PseudoExperiments:
        """The pseudo-experiments at ``rows`` (positions in this batch)."""
        rows = torch.as_tensor(np.asarray(rows, dtype=np.int64))
        return PseudoExperiments(
            self.indices[rows.numpy()],
            None if self.binned is None else self.binned[rows],
            {k: v[rows] for k, v in self.weights.items()},
            self.aux[rows],
        )


def generate(
    model: Model,
    pars: torch.Tensor | np.ndarray | Sequence[float],
    indices: int | Sequence[int] | range,
    key: Sequence[int] = (0,),
) -> PseudoExperiments:
    """Pseudo-experiments of ``model`` at ``pars``: toys ``indices`` (an int ``T`` means
    ``range(T)``) of the stream ``key``.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [7.0], observed=[60])
        >>> model = Model.from_workspace(ws)
        >>> toys = generate(model, model.parameter_vector({"mu": 1.0}), 4, key=(7,))
        >>> toys.binned.shape                     # 4 toys: one count, one auxiliary datum
        torch.Size([4, 2])
        >>> bool((generate(model, model.parameter_vector(), [2], key=(7,)).binned
        ...       == toys.binned[2]).all())      # toy 2 regenerated on its own
        True
    """
    pars = torch.as_tensor(np.asarray(pars, dtype=np.float64))
    indices = np.arange(indices) if isinstance(indices, int) else np.asarray(list(indices))
    key = [int(k) for k in key]
    binned = None
    with torch.no_grad():
        if model.binned is not None:
            expected = model.binned.expected_data(pars).numpy()
            n_main = model.binned.n_main
            kinds, sigmas = model.binned.auxdata_constraints()
            poisson = np.array([k == "poisson" for k in kinds], dtype=bool)
        asimov = {c.name: c.asimov_weights(pars).numpy() for c in model.unbinned}
        constraints = model._constraints
        centres = np.array([float(pars[c.index]) for c in constraints])
        widths = np.array([c.sigma for c in constraints])
    sampling = {name: _event_sampling(name, w) for name, w in asimov.items()}
    rows_binned, rows_weights, rows_aux = [], {name: [] for name in asimov}, []
    for index in indices:
        rng = np.random.default_rng([*key, int(index)])
        if model.binned is not None:
            row = np.empty_like(expected)
            row[:n_main] = rng.poisson(expected[:n_main])
            aux = expected[n_main:]
            row[n_main:] = np.where(
                poisson, rng.poisson(np.where(poisson, aux, 0.0)), rng.normal(aux, sigmas)
            )
            rows_binned.append(row)
        for name, (total, cdf) in sampling.items():
            picks = np.searchsorted(cdf, rng.random(rng.poisson(total)), side="right")
            events, counts = np.unique(picks, return_counts=True)
            rows_weights[name].append((events, counts.astype(np.float64)))
        rows_aux.append(rng.normal(centres, widths))
    if model.binned is not None:
        binned = torch.as_tensor(np.stack(rows_binned)) if len(indices) else None
    t = len(indices)
    return PseudoExperiments(
        indices=indices,
        binned=binned,
        weights={k: SparseWeights.from_rows(v, len(asimov[k])) for k, v in rows_weights.items()},
        aux=torch.as_tensor(np.stack(rows_aux).reshape(t, len(constraints))),
    )


def _event_sampling(channel: str, weights: np.ndarray) -> tuple[float, np.ndarray]:
    r"""The total :math:`\nu = \sum_i w_i^A` and the cumulative distribution of the events'
    shares :math:`w_i^A/\nu` that draw a channel's Poisson weights.

    Independent :math:`w_i \sim \text{Pois}(w_i^A)` are, jointly, a total
    :math:`n \sim \text{Pois}(\nu)` shared among the events by a multinomial of
    probabilities :math:`w_i^A/\nu` (the splitting property of the Poisson process). Drawn so,
    a toy costs :math:`O(n \log N_\text{ref})` (``n`` uniforms located in the cumulative
    shares) instead of :math:`N_\text{ref}` Poisson draws.
    """
    if not np.all(weights >= 0):
        bad = np.flatnonzero(~(weights >= 0))
        raise FitError(
            f"channel {channel!r}: pseudo-experiments reweight the reference events by "
            f"Pois(w_i), but {len(bad)} of {len(weights)} Asimov weights are negative or NaN "
            f"(first: event {bad[0]}, w = {weights[bad[0]]:.4g}): negative Monte Carlo weights "
            "or a negative intensity at this parameter point; drop or absorb the negative "
            "weights of the reference sample, or generate at a point where the intensity is "
            "positive"
        )
    total = float(weights.sum())
    cdf = np.cumsum(weights)
    return total, cdf / cdf[-1] if total > 0 else cdf
