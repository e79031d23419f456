r"""Training a :class:`RatioClassifier` on weighted simulation.

Loss: the weighted binary cross-entropy

.. math::

    \mathcal{L} = -\sum_{i \in 1} \tilde w_i \ln s(x_i) - \sum_{i \in 0} \tilde w_i \ln(1 - s(x_i)),
    \qquad \tilde w_i = w_i \Big/ \sum_{k \in \text{class}(i)} w_k,

so each class carries total weight 1 whatever its number of events or cross-section; the
minimiser is :math:`s^* = p_1/(p_1+p_0)` even when individual weights are negative (as from NLO
generators), because the loss is linear in the weights and its expectation is unchanged.

Events are split at random into training and validation sets (per class); training uses Adam
with mini-batches and a cosine decay of the learning rate from ``learning_rate`` to 1/100 of it
over ``epochs``; training stops early once the validation loss has not improved for
``patience`` epochs, and the weights of the best validation epoch are restored. (Measured on the
interference toy, 100k events, ``benchmarks/ensemble_spread.py`` settings: halving the rate on
plateaus let noisy validation losses stop members after 9-11 epochs with log-ratio RMSE 0.056;
the cosine decay over 30 epochs gave 0.027-0.035 for the same seeds.) Ensemble
members see a Poisson bootstrap of the training events (each event's weight times a Poisson(1)
draw), which keeps weighted samples weighted.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from nsbi.progress import progress_bar
from nsbi.ratios.classifier import RatioClassifier

__all__ = ["TrainingConfig", "TrainingHistory", "train_classifier"]


@dataclass
class TrainingConfig:
    """Settings of one classifier's training (the workspace's ``training`` keys).

    Attributes:
        hidden_layers, activation: the network.
        epochs: maximum number of passes over the training events.
        batch_size: events per optimiser step.
        learning_rate: Adam's initial step size.
        validation_fraction: share of events held out for early stopping.
        patience: epochs without validation improvement before stopping.
        seed: seed of everything random (split, bootstrap, initialisation, shuffling).
        device: ``cpu`` or ``cuda``.
    """

    hidden_layers: tuple[int, ...] = (64, 64)
    activation: str = "silu"
    epochs: int = 100
    batch_size: int = 1024
    learning_rate: float = 2e-3
    validation_fraction: float = 0.2
    patience: int = 10
    seed: int = 0
    device: str = "cpu"

    @classmethod
    def from_spec(cls, spec: dict | None, **overrides) -> TrainingConfig:
        """From a workspace channel's ``training`` dict (``members`` is read elsewhere)."""
        values = {k: v for k, v in (spec or {}).items() if k != "members"}
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "hidden_layers" in values:
            values["hidden_layers"] = tuple(values["hidden_layers"])
        return cls(**values)

    def to_dict(self) -> dict:
        values = asdict(self)
        values["hidden_layers"] = list(self.hidden_layers)
        return values


@dataclass
class TrainingHistory:
    """Per-epoch losses and where training stopped."""

    train_loss: list[float] = field(default_factory=list)
    validation_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1

    def to_dict(self) -> dict:
        return asdict(self)


def _split(n: int, fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    order = rng.permutation(n)
    n_val = max(1, int(round(fraction * n))) if n > 1 else 0
    return order[n_val:], order[:n_val]


def _normalise(weights: np.ndarray) -> np.ndarray:
    total = weights.sum()
    if not total > 0:
        raise ValueError(f"the sum of weights of a class is {total:g}; it must be positive")
    return weights / total


def _weighted_bce(
    logits: torch.Tensor, labels: torch.Tensor, weights: torch.Tensor
) -> torch.Tensor:
    losses = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    return (weights * losses).sum()


def train_classifier(
    numerator: np.ndarray,
    numerator_weights: np.ndarray | None,
    denominator: np.ndarray,
    denominator_weights: np.ndarray | None,
    config: TrainingConfig | None = None,
    *,
    bootstrap: bool = False,
    progress: bool = False,
    description: str = "training",
) -> tuple[RatioClassifier, TrainingHistory]:
    r"""Train a classifier whose logit estimates :math:`\log p_1(x)/p_0(x)`.

    Arguments:
        numerator, denominator: events ``(n, d)`` of :math:`p_1` and :math:`p_0`.
        numerator_weights, denominator_weights: per-event weights (``None``: all 1; negative
            weights are allowed, each class's sum must be positive).
        config: the :class:`TrainingConfig`.
        bootstrap: multiply training weights by Poisson(1) draws (for ensemble members).
        progress: show a progress bar over epochs.

    Example:
        >>> rng = np.random.default_rng(1)
        >>> x1, x0 = rng.normal(0.5, 1, (4000, 1)), rng.normal(-0.5, 1, (4000, 1))
        >>> net, history = train_classifier(x1, None, x0, None,
        ...                                 TrainingConfig(hidden_layers=(16,), epochs=40,
        ...                                                learning_rate=5e-3))
        >>> with torch.no_grad():   # exact log-ratio at x = 0 and x = 1 is 0 and 1
        ...     estimate = net(torch.tensor([[0.0], [1.0]])).numpy()
        >>> bool(abs(estimate[0]) < 0.15 and abs(estimate[1] - 1) < 0.15)
        True
    """
    config = config or TrainingConfig()
    rng = np.random.default_rng(config.seed)
    torch_generator = torch.Generator().manual_seed(config.seed)
    numerator = np.asarray(numerator, dtype=np.float32)
    denominator = np.asarray(denominator, dtype=np.float32)
    w1 = (
        np.ones(len(numerator))
        if numerator_weights is None
        else np.asarray(numerator_weights, float)
    )
    w0 = (
        np.ones(len(denominator))
        if denominator_weights is None
        else np.asarray(denominator_weights, float)
    )

    parts = {}
    for label, x, w in ((1.0, numerator, w1), (0.0, denominator, w0)):
        train, val = _split(len(x), config.validation_fraction, rng)
        w_train = w[train] * (rng.poisson(1.0, len(train)) if bootstrap else 1.0)
        parts[label] = (x[train], _normalise(w_train), x[val], _normalise(w[val]))

    def stack(index_x, index_w):
        x = np.concatenate([parts[1.0][index_x], parts[0.0][index_x]])
        w = np.concatenate([parts[1.0][index_w], parts[0.0][index_w]])
        y = np.concatenate([np.ones(len(parts[1.0][index_x])), np.zeros(len(parts[0.0][index_x]))])
        device = config.device
        return (
            torch.as_tensor(x, device=device),
            torch.as_tensor(y, dtype=torch.float32, device=device),
            torch.as_tensor(w, dtype=torch.float32, device=device),
        )

    x_train, y_train, w_train = stack(0, 1)
    x_val, y_val, w_val = stack(2, 3)

    with torch.random.fork_rng(devices=[]):  # seed the initialisation, leave the caller's RNG
        torch.manual_seed(config.seed)
        net = RatioClassifier(x_train.shape[1], config.hidden_layers, config.activation)
    net.set_scaler(x_train.mean(0).cpu(), x_train.std(0).cpu())
    net.to(config.device)
    optimizer = torch.optim.Adam(net.parameters(), lr=config.learning_rate)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=config.epochs, eta_min=config.learning_rate / 100
    )

    history = TrainingHistory()
    best_state, best_loss, stale = None, float("inf"), 0
    n = len(x_train)
    bar = progress_bar(range(config.epochs), desc=description, enabled=progress, leave=False)
    for epoch in bar:
        net.train()
        order = torch.randperm(n, generator=torch_generator).to(config.device)
        total = 0.0
        for start in range(0, n, config.batch_size):
            batch = order[start : start + config.batch_size]
            # the batch's share of the total weight keeps the loss scale independent of batching
            loss = _weighted_bce(net(x_train[batch]), y_train[batch], w_train[batch]) * (
                n / len(batch) / 2.0
            )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch) / n
        net.eval()
        with torch.no_grad():
            val_loss = float(_weighted_bce(net(x_val), y_val, w_val)) / 2.0
        history.train_loss.append(total)
        history.validation_loss.append(val_loss)
        scheduler.step()
        if val_loss < best_loss - 1e-7:
            best_loss, stale, history.best_epoch = val_loss, 0, epoch
            best_state = copy.deepcopy(net.state_dict())
        else:
            stale += 1
            if stale >= config.patience:
                break
        bar.set_postfix(val=f"{val_loss:.5f}")
    if best_state is not None:
        net.load_state_dict(best_state)
    net.eval()
    return net.cpu(), history
