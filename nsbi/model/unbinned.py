r"""Unbinned channels: the mixture model of per-event density ratios, as precomputed tables.

For processes :math:`j` with analytic coefficients :math:`f_j(\theta)`, nominal yields
:math:`\nu_j`, yield factors :math:`G_j(\theta)` (normfactors, normsys, lumi) and learned ratios
:math:`r_j(x) = p_j(x)/p_{\text{ref}}(x)`, the expected intensity is

.. math::

    \lambda(x|\theta) = p_{\text{ref}}(x) \sum_j c_j(\theta)\, r_j(x), \qquad
    c_j(\theta) = f_j(\theta)\, \nu_j\, G_j(\theta), \qquad \nu(\theta) = \sum_j c_j(\theta),

and the extended negative log-likelihood of events :math:`x_i` with weights :math:`w_i` is

.. math::

    \mathrm{NLL}(\theta) = \nu(\theta) - \sum_i w_i \ln \sum_j c_j(\theta)\, r_j(x_i)
    \;+\; \text{const},

the constant being :math:`-\sum_i w_i \ln p_{\text{ref}}(x_i)` (independent of :math:`\theta`,
dropped). The ratios :math:`r_j(x_i)` are evaluated ONCE, when the model is built, on the
observed events and on the reference (simulated) events; the networks never run inside the
minimiser. Each ratio is normalised on the reference events,
:math:`\sum_i \omega_i r_j(x_i) = 1` with :math:`\omega_i` the reference weights scaled to sum 1,
so the Asimov dataset (reference events weighted by :math:`\omega_i \lambda(x_i|\theta_A)/p_{\text{ref}}`)
is fitted exactly at :math:`\theta_A`.

The NLL is linear in the event weights, so observed data (weights 1), Asimov data and a batch of
Poisson-reweighted pseudo-experiments (a ``(toys, events)`` weight matrix) are one computation.
A pseudo-experiment of :math:`\nu` expected events reweights :math:`N_\text{ref} \gg \nu`
reference events with Poisson weights that are almost all zero; :class:`SparseWeights` keeps
only the nonzero ones, so the event sum costs :math:`O(\nu)` per toy, not :math:`O(N_\text{ref})`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from nsbi.exceptions import FitError
from nsbi.model.interpolation import code1, code4, code4_coefficients
from nsbi.model.shapes import ShapeSystematics
from nsbi.workspace.expressions import Expression

__all__ = ["SparseWeights", "UnbinnedChannel", "UnbinnedSample", "YieldModifier"]

#: floor of the per-event intensity sum: a parameter point where the learned mixture is not
#: positive at an event gets a large, finite penalty instead of a NaN.
_INTENSITY_FLOOR = 1e-200


@dataclass(frozen=True)
class SparseWeights:
    """Per-event weights of ``T`` datasets over ``n`` events, keeping the nonzero ones only.

    Row :math:`t` has weight ``weights[t, k]`` on event ``index[t, k]``; rows shorter than the
    longest are padded with weight 0 on event 0 (a zero weight adds nothing to the NLL). A
    single dataset has 1-d ``index`` and ``weights``.

    Example:
        >>> rows = [(np.array([1, 3]), np.array([2.0, 1.0])), (np.array([3]), np.array([3.0]))]
        >>> sparse = SparseWeights.from_rows(rows, n_events=4)
        >>> sparse.index.tolist(), sparse.weights.tolist()
        ([[1, 3], [3, 0]], [[2.0, 1.0], [3.0, 0.0]])
        >>> sparse.to_dense().tolist(), sparse[1].index.tolist()
        ([[0.0, 2.0, 0.0, 1.0], [0.0, 0.0, 0.0, 3.0]], [3, 0])
    """

    index: torch.Tensor
    weights: torch.Tensor
    n_events: int

    @classmethod
    def from_rows(cls, rows: list[tuple[np.ndarray, np.ndarray]], n_events: int) -> SparseWeights:
        """One ``(T, K)`` table from each dataset's ``(events, weights)``, padded to the longest."""
        width = max((len(events) for events, _ in rows), default=0)
        index = np.zeros((len(rows), width), dtype=np.int64)
        weights = np.zeros((len(rows), width), dtype=np.float64)
        for t, (events, values) in enumerate(rows):
            index[t, : len(events)] = events
            weights[t, : len(events)] = values
        return cls(torch.from_numpy(index), torch.from_numpy(weights), n_events)

    def __getitem__(self, rows) -> SparseWeights:
        """The datasets at ``rows`` (an int gives one 1-d dataset)."""
        return SparseWeights(self.index[rows], self.weights[rows], self.n_events)

    def to_dense(self) -> torch.Tensor:
        """The ``(T, n)`` (or ``(n,)``) weight matrix."""
        shape = (*self.index.shape[:-1], self.n_events)
        dense = torch.zeros(shape, dtype=self.weights.dtype)
        return dense.scatter_add_(-1, self.index, self.weights)

    def sum(self) -> torch.Tensor:
        """Total weight of each dataset."""
        return self.weights.sum(-1)


@dataclass(frozen=True)
class YieldModifier:
    """A multiplicative yield modifier of one sample (normfactor, normsys or lumi)."""

    name: str
    kind: str  # normfactor | normsys | lumi | shape (the yield change of a shape modifier)
    hi: float = 1.0
    lo: float = 1.0


@dataclass
class UnbinnedSample:
    """One process of an unbinned channel: coefficient, nominal yield and yield modifiers."""

    name: str
    coefficient: Expression
    nominal_yield: float
    modifiers: list[YieldModifier]


class UnbinnedChannel:
    r"""An unbinned channel as per-event tables, evaluated as a torch function of the parameters.

    Arguments:
        name: channel name.
        samples: the processes, in table-column order.
        log_ratios: ``{"observed": (n_obs, J), "reference": (n_ref, J)}`` tables of
            :math:`\log r_j(x_i)` (already normalised on the reference events).
        weights: ``{"observed": (n_obs,), "reference": (n_ref,)}``; observed weights are the
            data weights (1 for real data), reference weights :math:`\omega_i` sum to 1.
        parameter_index: ``{name: position}`` in the model's parameter vector.
        normsys_code: ``code1`` or ``code4`` (also for the yield change of ``shape`` modifiers).
        shapes: the per-event shape systematics (:class:`~nsbi.model.shapes.ShapeSystematics`),
            or ``None``.
    """

    def __init__(
        self,
        name: str,
        samples: list[UnbinnedSample],
        log_ratios: dict[str, np.ndarray],
        weights: dict[str, np.ndarray],
        parameter_index: dict[str, int],
        normsys_code: str = "code4",
        shapes: ShapeSystematics | None = None,
    ):
        self.name = name
        self.shapes = shapes if shapes is not None and shapes.n_pairs else None
        self.samples = samples
        self.ratios = {
            k: torch.as_tensor(np.exp(v), dtype=torch.float64) for k, v in log_ratios.items()
        }
        self.weights = {k: torch.as_tensor(v, dtype=torch.float64) for k, v in weights.items()}
        self.parameter_index = dict(parameter_index)
        self.normsys_code = normsys_code
        self.nominal_yields = torch.tensor([s.nominal_yield for s in samples], dtype=torch.float64)
        # the normsys-like yield factors of all samples as one vector: sample, parameter,
        # hi, lo and the code4 coefficients per modifier
        normsys = [
            (j, parameter_index[m.name], m.hi, m.lo)
            for j, sample in enumerate(samples)
            for m in sample.modifiers
            if m.kind in ("normsys", "shape")
        ]
        self._normsys_parameter = torch.tensor([n[1] for n in normsys], dtype=torch.long)
        self._normsys_hi = torch.tensor([n[2] for n in normsys], dtype=torch.float64)
        self._normsys_lo = torch.tensor([n[3] for n in normsys], dtype=torch.float64)
        self._normsys_coefficients = code4_coefficients(self._normsys_hi, self._normsys_lo)
        self._normsys_of_sample = [
            torch.tensor([m for m, n in enumerate(normsys) if n[0] == j], dtype=torch.long)
            for j in range(len(samples))
        ]
        self._factors = [
            (j, parameter_index[m.name])
            for j, s in enumerate(samples)
            for m in s.modifiers
            if m.kind in ("normfactor", "lumi")
        ]

    @property
    def twice_differentiable(self) -> bool:
        """False when the shape systematics use the fused, once-differentiable pass."""
        return self.shapes is None or self.shapes.twice_differentiable

    @property
    def n_samples(self) -> int:
        return len(self.samples)

    def n_events(self, dataset: str = "observed") -> int:
        return int(self.ratios[dataset].shape[0])

    def coefficients(self, pars: torch.Tensor) -> torch.Tensor:
        r""":math:`c_j(\theta) = f_j(\theta)\, \nu_j\, G_j(\theta)`, shape ``(..., J)``."""
        values = {name: pars[..., index] for name, index in self.parameter_index.items()}
        ones = torch.ones_like(pars[..., 0])
        columns = [sample.coefficient(values) * ones for sample in self.samples]
        for j, index in self._factors:
            columns[j] = columns[j] * pars[..., index]
        if len(self._normsys_parameter):
            alpha = pars[..., self._normsys_parameter]
            hi, lo = self._normsys_hi, self._normsys_lo
            factors = (
                code4(alpha, hi, lo, self._normsys_coefficients)
                if self.normsys_code == "code4"
                else code1(alpha, hi, lo)
            )
            for j, members in enumerate(self._normsys_of_sample):
                if len(members):
                    columns[j] = columns[j] * factors[..., members].prod(-1)
        return torch.stack(columns, dim=-1) * self.nominal_yields

    def expected_yield(self, pars: torch.Tensor) -> torch.Tensor:
        r""":math:`\nu(\theta) = \sum_j c_j(\theta)`."""
        return self.coefficients(pars).sum(-1)

    def _event_terms(self, pars: torch.Tensor, dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Coefficients per event and process: ``(c, t)`` with the intensity ratio
        :math:`\sum_j t_{ij}` and the yield :math:`\sum_j c_j`.

        Without shape systematics :math:`t_{ij} = c_j r_j(x_i)`; with them
        :math:`t_{ij} = c_j r_j(x_i) g_j(x_i,\alpha) / N_j(\alpha)`, with :math:`N_j` the
        reference-event normalisation of :mod:`nsbi.model.shapes`.
        """
        c = self.coefficients(pars)
        ratios = self.ratios[dataset]
        if self.shapes is None:
            return c, c.unsqueeze(-2) * ratios
        log_g_ref = self.shapes.log_factors(pars, "reference")
        shaped_ref = self.ratios["reference"] * torch.exp(log_g_ref)  # (..., n_ref, J)
        norm = (self.weights["reference"].unsqueeze(-1) * shaped_ref).sum(-2)  # (..., J)
        shaped = (
            shaped_ref
            if dataset == "reference"
            else ratios * torch.exp(self.shapes.log_factors(pars, dataset))
        )
        return c, (c / norm).unsqueeze(-2) * shaped

    def intensity_ratio(self, pars: torch.Tensor, dataset: str = "reference") -> torch.Tensor:
        r""":math:`\lambda(x_i|\theta)/p_{\text{ref}}(x_i)` per event: shape ``(n,)`` or
        ``(batch, n)``."""
        if self.shapes is None:
            return self.coefficients(pars) @ self.ratios[dataset].T
        return self._event_terms(pars, dataset)[1].sum(-1)

    def asimov_weights(self, pars: torch.Tensor) -> torch.Tensor:
        r"""Weights of the reference events that make the Asimov dataset at ``pars``:
        :math:`w_i = \omega_i \lambda(x_i|\theta_A)/p_{\text{ref}}(x_i)`; they sum to
        :math:`\nu(\theta_A)`."""
        return self.weights["reference"] * self.intensity_ratio(pars, "reference")

    def nll(
        self,
        pars: torch.Tensor,
        dataset: str = "observed",
        weights: torch.Tensor | SparseWeights | None = None,
    ) -> torch.Tensor:
        r"""Extended NLL (without :math:`\theta`-independent constants).

        ``pars``: ``(npar,)`` or ``(batch, npar)``; ``weights``: ``(n,)`` or ``(batch, n)``
        over the events of ``dataset`` (default: the dataset's own weights), or
        :class:`SparseWeights` over them.
        """
        weights = self.weights[dataset] if weights is None else weights
        if isinstance(weights, SparseWeights):
            c, density = self._sparse_density(pars, dataset, weights)
            weights = weights.weights
        elif self.shapes is None:  # one matrix product, no (events, processes) intermediate
            c = self.coefficients(pars)
            density = c @ self.ratios[dataset].T
        else:
            c, terms = self._event_terms(pars, dataset)
            density = terms.sum(-1)
        density = density.clamp_min(_INTENSITY_FLOOR)
        return c.sum(-1) - (weights * torch.log(density)).sum(-1)

    def _sparse_density(
        self, pars: torch.Tensor, dataset: str, weights: SparseWeights
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(c, density)`` at the events that ``weights`` keep: ``density`` ``(..., K)``."""
        if weights.n_events != self.n_events(dataset):
            raise FitError(
                f"channel {self.name!r}: sparse weights over {weights.n_events} events, but the "
                f"{dataset} dataset has {self.n_events(dataset)}; generate the toys from this model"
            )
        index = weights.index
        if self.shapes is None:
            c = self.coefficients(pars)
            return c, (c.unsqueeze(-2) * self.ratios[dataset][index]).sum(-1)  # (..., K)
        c, terms = self._event_terms(pars, dataset)  # terms (..., n, J)
        if terms.ndim == 2:
            return c, terms[index].sum(-1)
        expanded = index.expand(*terms.shape[:-2], index.shape[-1]).unsqueeze(-1)
        return c, torch.gather(terms, -2, expanded.expand(-1, -1, terms.shape[-1])).sum(-1)
