r"""The density heads of the set posteriors: a network's summary of a dataset becomes a
distribution over the parameters, :math:`q(\theta \mid h)`.

- ``"gaussian"``: a full-covariance Gaussian, :math:`\mathcal{N}(m(h), L(h) L(h)^T)` with a
  lower-triangular :math:`L` whose diagonal is positive (exponentiated);
- ``"flow"``: a zuko neural spline flow conditioned on :math:`h`.

Shared by :mod:`nsbi.sets.posterior`, :mod:`nsbi.sets.transformer` and
:mod:`nsbi.sets.hierarchical`.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import MultivariateNormal

__all__ = ["GaussianHead", "FlowHead", "make_head"]


class GaussianHead(nn.Module):
    r""":math:`\mathcal{N}(m, LL^T)` from ``P + P(P+1)/2`` inputs (mean, then the lower
    triangle row by row, diagonal through exp: widths spanning decades, as from :math:`N = 1`
    to 200 events, are then equally easy to reach; softplus was 15-25% too narrow at N = 1)."""

    def __init__(self, n_parameters: int):
        super().__init__()
        self.n_parameters = n_parameters
        self.n_inputs = n_parameters + n_parameters * (n_parameters + 1) // 2
        self.register_buffer(
            "rows", torch.tril_indices(n_parameters, n_parameters)[0], persistent=False
        )
        self.register_buffer(
            "cols", torch.tril_indices(n_parameters, n_parameters)[1], persistent=False
        )

    def forward(self, h: torch.Tensor) -> MultivariateNormal:
        P = self.n_parameters
        loc = h[..., :P]
        entries = h[..., P:]
        diagonal = self.rows == self.cols
        entries = torch.where(diagonal, torch.exp(entries.clamp(-12, 8)), entries)
        tril = h.new_zeros(*h.shape[:-1], P, P)
        tril[..., self.rows, self.cols] = entries
        return MultivariateNormal(loc, scale_tril=tril)


class FlowHead(nn.Module):
    """A zuko neural spline flow over ``P`` parameters conditioned on ``n_inputs`` features."""

    def __init__(self, n_parameters: int, n_inputs: int, transforms: int = 3, hidden=(64, 64)):
        super().__init__()
        import zuko

        self.n_parameters = n_parameters
        self.n_inputs = n_inputs
        self.flow = zuko.flows.NSF(
            n_parameters, n_inputs, transforms=transforms, hidden_features=tuple(hidden)
        )

    def forward(self, h: torch.Tensor):
        return self.flow(h)


def make_head(head: str, n_parameters: int, flow: dict | None = None) -> nn.Module:
    """The density head ``"gaussian"`` or ``"flow"`` (options ``context``, ``transforms``,
    ``hidden``) over ``n_parameters``; its ``n_inputs`` is the width its conditioner needs."""
    if head == "gaussian":
        return GaussianHead(n_parameters)
    if head == "flow":
        flow = flow or {}
        return FlowHead(
            n_parameters,
            int(flow.get("context", 32)),
            int(flow.get("transforms", 3)),
            flow.get("hidden", (64, 64)),
        )
    raise ValueError(f"head {head!r}; expected 'gaussian' or 'flow'")
