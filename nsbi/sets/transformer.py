r"""A causal transformer over event sequences that gives the posterior of every prefix in one
pass (section 2.2 of arXiv:2306.12584).

Events :math:`x_1, \dots, x_L` are embedded, passed through transformer encoder layers with a
causal mask (position :math:`k` attends to positions :math:`\le k` only), and the output at
position :math:`k`, with :math:`\log(1 + k)`, parameterises :math:`q(\theta \mid x_{1:k})` by the
same heads as the deep set (:mod:`nsbi.sets.posterior`). Training sums the negative log
posterior over all prefixes of each sequence,

.. math::

    \mathcal{L} = -\frac{1}{\sum_b N_b} \sum_b \sum_{k=1}^{N_b} \log q(\theta_b \mid x_{b,1:k}),

so one sequence of length :math:`N` teaches :math:`N` cardinalities at once, and the
cumulative posterior of a stream is read off at every step. No positional encoding is added:
the attention over a prefix is blind to the order of its events, as a set's should be; only the
query (the newest event) is special.
"""

from __future__ import annotations

import torch
from torch import nn

from nsbi.sets.heads import make_head

__all__ = ["CausalSetTransformer"]


class CausalSetTransformer(nn.Module):
    r"""Per-prefix posteriors from a causal transformer (module docstring).

    Arguments:
        n_features: features per event.
        n_parameters: dimension of :math:`\theta`.
        head: ``"gaussian"`` or ``"flow"``.
        d_model, heads, layers, feedforward: the transformer's widths.
        flow: options of the flow head (``context``, ``transforms``, ``hidden``).

    Example:
        >>> model = CausalSetTransformer(2, 3, d_model=16, heads=2, layers=1, feedforward=32)
        >>> x, mask = torch.randn(4, 6, 2), torch.ones(4, 6)
        >>> model.prefix_log_prob(torch.zeros(4, 3), x, mask).shape   # every prefix
        torch.Size([4, 6])
    """

    def __init__(
        self,
        n_features: int,
        n_parameters: int,
        head: str = "gaussian",
        d_model: int = 64,
        heads: int = 4,
        layers: int = 2,
        feedforward: int = 128,
        flow: dict | None = None,
    ):
        super().__init__()
        flow = dict(flow or {})
        self.config = {
            "n_features": int(n_features),
            "n_parameters": int(n_parameters),
            "head": head,
            "d_model": int(d_model),
            "heads": int(heads),
            "layers": int(layers),
            "feedforward": int(feedforward),
            "flow": flow,
        }
        self.head = make_head(head, n_parameters, flow)
        self.embed = nn.Linear(n_features, d_model)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, feedforward, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.decoder = nn.Sequential(
            nn.Linear(d_model + 1, d_model), nn.GELU(), nn.Linear(d_model, self.head.n_inputs)
        )
        self.register_buffer("feature_mean", torch.zeros(n_features))
        self.register_buffer("feature_scale", torch.ones(n_features))
        self.register_buffer("parameter_loc", torch.zeros(n_parameters))
        self.register_buffer("parameter_scale", torch.ones(n_parameters))
        self.float()

    def set_scalers(self, feature_mean, feature_scale, parameter_loc, parameter_scale) -> None:
        """Standardise features and parameters (a zero scale becomes 1)."""
        scale = torch.as_tensor(feature_scale, dtype=torch.float32)
        self.feature_mean.copy_(torch.as_tensor(feature_mean, dtype=torch.float32))
        self.feature_scale.copy_(torch.where(scale > 0, scale, torch.ones_like(scale)))
        self.parameter_loc.copy_(torch.as_tensor(parameter_loc, dtype=torch.float32))
        self.parameter_scale.copy_(torch.as_tensor(parameter_scale, dtype=torch.float32))

    def _densities(self, x: torch.Tensor, mask: torch.Tensor):
        """The standardised density of every prefix: batch shape ``(B, L)``."""
        x = torch.as_tensor(x, dtype=torch.float32)
        mask = torch.as_tensor(mask, dtype=torch.float32)
        L = x.shape[1]
        h = self.embed((x - self.feature_mean) / self.feature_scale)
        causal = torch.triu(torch.full((L, L), float("-inf"), dtype=h.dtype), diagonal=1)
        h = self.encoder(h, mask=causal, src_key_padding_mask=mask == 0)
        k = torch.cumsum(mask, dim=1)
        return self.head(self.decoder(torch.cat([h, torch.log1p(k)[..., None]], dim=-1)))

    def prefix_log_prob(self, theta: torch.Tensor, x: torch.Tensor, mask: torch.Tensor):
        r""":math:`\log q(\theta_b \mid x_{b,1:k})` for every prefix, ``(B, L)`` (meaningless
        where ``mask`` is 0), in the original units of :math:`\theta`."""
        z = (
            torch.as_tensor(theta, dtype=torch.float32) - self.parameter_loc
        ) / self.parameter_scale
        z = z[:, None, :].expand(-1, x.shape[1], -1)
        return self._densities(x, mask).log_prob(z) - torch.log(self.parameter_scale).sum()

    def log_prob(self, theta: torch.Tensor, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        r"""The training objective per sequence: the mean over its prefixes of
        :math:`\log q(\theta \mid x_{1:k})`, ``(B,)``."""
        mask = torch.as_tensor(mask, dtype=torch.float32)
        values = self.prefix_log_prob(theta, x, mask) * mask
        return values.sum(1) / mask.sum(1).clamp_min(1.0)

    def prefix_moments(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Posterior means and standard deviations of every prefix, ``(B, L, P)`` each (Gaussian
        head: exact; flow head: from 2000 draws)."""
        with torch.no_grad():
            density = self._densities(x, mask)
            if isinstance(density, torch.distributions.MultivariateNormal):
                mean, std = density.loc, density.variance.sqrt()
            else:
                draws = density.sample((2000,))
                mean, std = draws.mean(0), draws.std(0)
        return mean * self.parameter_scale + self.parameter_loc, std * self.parameter_scale
