r"""The per-event classifier whose odds are a density ratio (the likelihood-ratio trick).

A classifier :math:`s(x)` trained with binary cross-entropy to separate events of a numerator
density :math:`p_1` (label 1) from a denominator :math:`p_0` (label 0), each class carrying total
weight 1, converges to :math:`s^*(x) = p_1(x) / (p_1(x) + p_0(x))`, so

.. math::

    r(x) = \frac{p_1(x)}{p_0(x)} = \frac{s^*(x)}{1 - s^*(x)} = e^{f(x)},

where :math:`f` is the network's logit. The network therefore outputs :math:`\log r` directly.
Inputs are standardised with the mean and standard deviation of the training inputs, stored in
the module's buffers so a saved model carries its own scaler.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["RatioClassifier", "ACTIVATIONS"]

ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh, "elu": nn.ELU}


class RatioClassifier(nn.Module):
    r"""A multilayer perceptron whose output is :math:`\log r(x)`, the logit of the classifier.

    Arguments:
        n_inputs: number of observables.
        hidden_layers: widths of the hidden layers.
        activation: one of ``relu``, ``silu``, ``tanh``, ``elu``.

    Example:
        >>> net = RatioClassifier(2, hidden_layers=(8, 8))
        >>> net(torch.zeros(5, 2)).shape
        torch.Size([5])
    """

    def __init__(
        self, n_inputs: int, hidden_layers: Sequence[int] = (64, 64), activation: str = "silu"
    ):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {activation!r}; expected one of " + ", ".join(ACTIVATIONS)
            )
        self.n_inputs = n_inputs
        self.hidden_layers = tuple(int(h) for h in hidden_layers)
        self.activation = activation
        layers: list[nn.Module] = []
        width = n_inputs
        for hidden in self.hidden_layers:
            layers += [nn.Linear(width, hidden), ACTIVATIONS[activation]()]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.network = nn.Sequential(*layers)
        self.register_buffer("input_mean", torch.zeros(n_inputs))
        self.register_buffer("input_scale", torch.ones(n_inputs))

    def set_scaler(self, mean: torch.Tensor, scale: torch.Tensor) -> None:
        """Store the standardisation (constant features get scale 1)."""
        scale = torch.where(scale > 0, scale, torch.ones_like(scale))
        self.input_mean.copy_(mean)
        self.input_scale.copy_(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log r(x)` for events ``x`` of shape ``(n, n_inputs)``."""
        z = (x - self.input_mean) / self.input_scale
        return self.network(z).squeeze(-1)

    def architecture(self) -> dict:
        """What is needed to rebuild the module before loading its weights."""
        return {
            "n_inputs": self.n_inputs,
            "hidden_layers": list(self.hidden_layers),
            "activation": self.activation,
        }
