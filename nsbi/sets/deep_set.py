r"""A permutation-invariant network over sets of events (a deep set, Zaheer et al. 2017).

Each event :math:`x_i` of a dataset is embedded by a per-element encoder :math:`\phi`; the
embeddings are summed with the events' weights :math:`w_i` and passed, with the cardinality and
any conditioning context :math:`c` (e.g. the tested parameter :math:`\theta`), to a set-level head
:math:`\rho`:

.. math::

    f(\{x_i, w_i\}, c) = \rho\Bigl(\tfrac{1}{s}\sum_i w_i\,\phi(x_i),\; \tfrac{N}{s},\; c\Bigr),
    \qquad N = \sum_i w_i,

with a fixed scale :math:`s` (the typical cardinality) that keeps the head's inputs of order one.
The weights make one network serve three kinds of batch:

- padded datasets: ``x`` of shape ``(B, N_max, d)`` with a 0/1 mask as ``weights``;
- Poisson-reweighted pseudo-experiments of one simulated sample (the ATLAS NSBI method): ``x``
  shared by every dataset, shape ``(N, d)``, integer ``weights`` ``(B, N)``; the encoder then
  runs once per event, not once per dataset, and the pooling is one matrix product;
- weighted Monte Carlo (Asimov datasets).

A sum of embeddings is invariant to the order of the events and linear in the weights, so a
dataset with weight 2 on an event equals the dataset with the event twice, and a streaming
update only adds the new events' embeddings.

The cardinality is an argument of :meth:`DeepSet.forward` (by default :math:`\sum_i w_i`); it is
never drawn inside the network. Per-element and set-level weights are separate parameter groups
(:meth:`DeepSet.parameter_groups`) so they can learn at different rates (appendix A.2 of
arXiv:2306.12584).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["DeepSet", "ACTIVATIONS", "feature_scaler", "sum_pool", "mlp"]

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "tanh": nn.Tanh}


def mlp(widths: Sequence[int], activation: str, final_activation: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or final_activation:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def sum_pool(embeddings: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    r""":math:`\sum_i w_i \phi(x_i)` per dataset: ``embeddings`` ``(B, N, E)`` (one set per
    dataset) or ``(N, E)`` (events shared by every dataset), ``weights`` ``(B, N)``.

    Example:
        >>> phi = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
        >>> sum_pool(phi, torch.tensor([[1.0, 0.0, 2.0]]))
        tensor([[3., 2.]])
    """
    if embeddings.dim() == 2:
        return weights @ embeddings
    return torch.einsum("bn,bne->be", weights, embeddings)


def feature_scaler(x: torch.Tensor, weights: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted mean and standard deviation of the event features of a batch (``x`` padded
    ``(B, N, d)`` or shared ``(N, d)``, ``weights`` ``(B, N)``), for :meth:`DeepSet.set_scalers`.

    Example:
        >>> x, mask = torch.tensor([[[1.0], [3.0], [99.0]]]), torch.tensor([[1.0, 1.0, 0.0]])
        >>> [t.tolist() for t in feature_scaler(x, mask)]
        [[2.0], [1.0]]
    """
    events = x.reshape(-1, x.shape[-1]).double()
    w = (weights.reshape(-1) if x.dim() == 3 else weights.sum(0)).double()
    total = w.sum()
    mean = (w[:, None] * events).sum(0) / total
    std = ((w[:, None] * (events - mean) ** 2).sum(0) / total).sqrt()
    return mean.float(), std.float()


class DeepSet(nn.Module):
    r"""Encoder :math:`\phi`, weighted sum pooling and head :math:`\rho` (module docstring).

    Arguments:
        n_features: features per event.
        n_outputs: outputs of the head.
        n_context: conditioning inputs of the head (0: none).
        encoder: hidden widths of :math:`\phi`.
        embedding: width of :math:`\phi(x)`.
        head: hidden widths of :math:`\rho`.
        activation: ``relu``, ``silu``, ``gelu`` or ``tanh``.
        scale: :math:`s`, the typical cardinality.
        summary: what the head sees of the pool: ``"sum"`` (:math:`\sum_i w_i\phi_i / s` and
            :math:`N/s`) or ``"sum_mean"`` (also the mean :math:`\sum_i w_i\phi_i / N` and
            :math:`\log(1 + N)`), which eases functions of the sample mean over a wide range
            of :math:`N` (posterior widths shrinking as :math:`1/\sqrt{N}`). Both derive from
            the sum and :math:`N`, so streaming updates are unchanged.
        passthrough: append the standardised features themselves to :math:`\phi(x)`, so the
            pool carries exact sums (and means) of the raw features, the sufficient statistics
            of exponential-family models, beside the learned ones.

    Features and context are standardised by buffers set with :meth:`set_scalers`, so a saved
    network carries its own scalers.

    Example:
        >>> net = DeepSet(n_features=1, n_context=1, encoder=(8,), embedding=4, head=(8,))
        >>> x, mask = torch.randn(3, 5, 1), torch.ones(3, 5)
        >>> net(x, mask, context=torch.zeros(3, 1)).shape
        torch.Size([3, 1])
        >>> perm = torch.randperm(5)
        >>> torch.allclose(net(x[:, perm], mask, torch.zeros(3, 1)), net(x, mask, torch.zeros(3, 1)))
        True
    """

    def __init__(
        self,
        n_features: int,
        n_outputs: int = 1,
        n_context: int = 0,
        encoder: Sequence[int] = (64, 64),
        embedding: int = 32,
        head: Sequence[int] = (64, 64),
        activation: str = "silu",
        scale: float = 100.0,
        summary: str = "sum",
        passthrough: bool = False,
    ):
        super().__init__()
        if summary not in ("sum", "sum_mean"):
            raise ValueError(f"summary {summary!r}; expected 'sum' or 'sum_mean'")
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of " + ", ".join(ACTIVATIONS)
            )
        if scale <= 0:
            raise ValueError(f"scale must be positive, got {scale}")
        self.config = {
            "n_features": int(n_features),
            "n_outputs": int(n_outputs),
            "n_context": int(n_context),
            "encoder": [int(w) for w in encoder],
            "embedding": int(embedding),
            "head": [int(w) for w in head],
            "activation": activation,
            "scale": float(scale),
            "summary": summary,
            "passthrough": bool(passthrough),
        }
        self.scale = float(scale)
        self.encoder = mlp([n_features, *encoder, embedding], activation, final_activation=True)
        width = embedding + (n_features if passthrough else 0)
        pooled_width = width + 1 if summary == "sum" else 2 * width + 2
        self.head = mlp([pooled_width + n_context, *head, n_outputs], activation)
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))
        self.register_buffer("context_mean", torch.zeros(n_context))
        self.register_buffer("context_scale", torch.ones(n_context))
        self.float()  # float32 whatever the default dtype (pyhf's torch backend sets float64)

    def set_scalers(
        self,
        feature_mean: torch.Tensor,
        feature_scale: torch.Tensor,
        context_mean: torch.Tensor | None = None,
        context_scale: torch.Tensor | None = None,
    ) -> None:
        """Store the standardisations (a zero scale becomes 1)."""

        def put(buffer: torch.Tensor, value) -> None:
            buffer.copy_(torch.as_tensor(value, dtype=buffer.dtype).reshape(buffer.shape))

        def positive(value) -> torch.Tensor:
            value = torch.as_tensor(value, dtype=torch.float32)
            return torch.where(value > 0, value, torch.ones_like(value))

        put(self.feature_mean, feature_mean)
        put(self.feature_scale, positive(feature_scale))
        if context_mean is not None:
            put(self.context_mean, context_mean)
        if context_scale is not None:
            put(self.context_scale, positive(context_scale))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\phi(x)` per event: ``(..., n_features)`` to ``(..., embedding)``."""
        z = (x - self.feature_mean) / self.feature_scale
        if self.config["passthrough"]:
            return torch.cat([self.encoder(z), z], dim=-1)
        return self.encoder(z)

    def embedding_sum(self, x: torch.Tensor, weights: torch.Tensor, embed=None) -> torch.Tensor:
        r""":math:`\sum_i w_i \phi(x_i)`, shape ``(B, embedding)``: what a streaming update
        adds to. With shared events (``x`` ``(N, d)``) only those with a non-zero weight in
        some dataset are embedded (Poisson-reweighted toys leave most at zero). ``embed``
        replaces :meth:`embed` (a wider per-event state, e.g. a posterior's aggregation)."""
        x = torch.as_tensor(x, dtype=self.feature_mean.dtype)
        weights = torch.as_tensor(weights, dtype=x.dtype)
        if x.dim() == 2:
            used = (weights != 0).any(0)
            if not bool(used.all()):
                x, weights = x[used], weights[:, used]
        return sum_pool((embed or self.embed)(x), weights)

    def pooled(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        r""":math:`\frac{1}{s}\sum_i w_i \phi(x_i)`, shape ``(B, embedding)``."""
        return self.embedding_sum(x, weights) / self.scale

    def pooled_sparse(
        self, x: torch.Tensor, index: torch.Tensor, weights: torch.Tensor
    ) -> torch.Tensor:
        r""":meth:`pooled` of datasets over shared events ``x`` (``(N, d)``) given by their
        nonzero weights only: dataset ``b`` has weight ``weights[b, k]`` on event
        ``index[b, k]`` (``(B, K)``, padding with weight 0), so

        .. math:: \frac{1}{s}\sum_k w_{bk}\,\phi(x_{i_{bk}}),

        with each event used by some dataset embedded once: :math:`O(BK)` memory, not the
        :math:`O(BN)` of the dense weight matrix (Poisson-reweighted toys of a large reference
        sample). Equal to :meth:`pooled` of the dense weights up to the order of the sums.

        Example:
            >>> net = DeepSet(n_features=1, encoder=(8,), embedding=4, head=(8,))
            >>> x = torch.randn(5, 1)
            >>> index, w = torch.tensor([[1, 3], [4, 0]]), torch.tensor([[2.0, 1.0], [1.0, 0.0]])
            >>> dense = torch.zeros(2, 5).scatter_add_(1, index, w)
            >>> torch.allclose(net.pooled_sparse(x, index, w), net.pooled(x, dense), atol=1e-6)
            True
        """
        x = torch.as_tensor(x, dtype=self.feature_mean.dtype)
        weights = torch.as_tensor(weights, dtype=x.dtype)
        used, position = torch.unique(torch.as_tensor(index), return_inverse=True)
        embedded = self.embed(x[used])
        return torch.einsum("bk,bke->be", weights, embedded[position]) / self.scale

    def decode(
        self,
        pooled: torch.Tensor,
        cardinality: torch.Tensor,
        context: torch.Tensor | None = None,
    ) -> torch.Tensor:
        r""":math:`\rho` of pooled embeddings ``(B, E)``, cardinalities ``(B,)`` and context
        ``(B, n_context)``; a pooled batch ``(B, E)`` with context ``(B, G, n_context)`` gives
        ``(B, G, n_outputs)`` (one pass for many tested parameter values)."""
        cardinality = cardinality.to(pooled.dtype)[:, None]
        parts = [pooled, cardinality / self.scale]
        if self.config["summary"] == "sum_mean":
            mean = pooled * self.scale / cardinality.clamp_min(1.0)
            parts += [mean, torch.log1p(cardinality)]
        if self.config["n_context"]:
            if context is None:
                raise ValueError("this network needs a context (e.g. the tested parameter)")
            context = (context.to(pooled.dtype) - self.context_mean) / self.context_scale
            if context.dim() == 3:
                G = context.shape[1]
                parts = [p[:, None, :].expand(-1, G, -1) for p in parts]
            parts.append(context)
        return self.head(torch.cat(parts, dim=-1))

    def forward(
        self,
        x: torch.Tensor,
        weights: torch.Tensor,
        context: torch.Tensor | None = None,
        cardinality: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """The head's outputs ``(B, n_outputs)`` for events ``x`` (``(B, N, d)``, or ``(N, d)``
        shared) with ``weights`` ``(B, N)`` (0/1 masks or Poisson weights); the cardinality
        defaults to the sum of the weights."""
        if cardinality is None:
            cardinality = weights.sum(-1)
        return self.decode(self.pooled(x, weights), cardinality, context)

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """``{"element": encoder weights, "set": head weights}``."""
        return {"element": list(self.encoder.parameters()), "set": list(self.head.parameters())}
