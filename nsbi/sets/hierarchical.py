r"""Hierarchical posteriors: global parameters of a whole dataset and local parameters of each of
its elements, learned jointly (eq. 7 of arXiv:2306.12584).

A per-element encoder :math:`s_\phi` (an MLP for feature vectors, a convolutional network for
images) gives each element a feature vector, chunked into a global half and a local half. The
global halves are summed and decoded, with the cardinality, into the global posterior; each
local half, with the global parameters, conditions the posterior of that element's local
parameters:

.. math::

    -\mathcal{L} = \log q^\text{glob}\Bigl(\theta \Bigm| g\bigl(\textstyle\sum_i
        s_\phi^\text{glob}(x_i),\ N\bigr)\Bigr)
        + \sum_{i=1}^N \log q^\text{loc}\bigl(z_i \bigm| s_\phi^\text{loc}(x_i),\ \theta\bigr).

Trained on simulated :math:`(\theta, \{z_i\}, \{x_i\})` with the true :math:`\theta` in the local
term, the minimum is the true global posterior :math:`p(\theta \mid \{x\})` and the true
conditional :math:`p(z_i \mid x_i, \theta)`; local events are conditionally independent given
:math:`\theta` in the models this serves (:math:`z_i \sim p(z \mid \theta)`,
:math:`x_i \sim p(x \mid z_i)`), so :math:`p(z_i \mid \{x\}, \theta) = p(z_i \mid x_i, \theta)`. The
local posterior given the whole dataset, :math:`p(z_i \mid \{x\}) = \int d\theta\, p(z_i \mid x_i,
\theta)\, p(\theta \mid \{x\})`, is sampled ancestrally (:meth:`HierarchicalPosterior.sample`):
global draws first, then one local draw per global draw. As the dataset grows the global
posterior narrows and the local posteriors borrow that strength (partial pooling).

Heads are those of :mod:`nsbi.sets.posterior` (``"gaussian"`` full-covariance normal, or a zuko
``"flow"``); parameters are standardised by the prior's moments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nsbi.sets.deep_set import ACTIVATIONS, mlp
from nsbi.sets.heads import make_head
from nsbi.sets.storage import load_set_model, save_set_model
from nsbi.sets.training import SetTrainingHistory, optimise

__all__ = [
    "HierarchicalPosterior",
    "HierarchicalTraining",
    "ImageEncoder",
    "train_hierarchical",
    "save_hierarchical",
    "load_hierarchical",
]


class _Block(nn.Module):
    """A residual block (two 3x3 convolutions, batch-free: group norm, so a dataset's images
    never see each other)."""

    def __init__(self, channels_in: int, channels: int, stride: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels_in, channels, 3, stride, 1, bias=False),
            nn.GroupNorm(min(8, channels), channels),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=False),
            nn.GroupNorm(min(8, channels), channels),
        )
        self.skip = (
            nn.Identity()
            if stride == 1 and channels_in == channels
            else nn.Sequential(
                nn.Conv2d(channels_in, channels, 1, stride, bias=False),
                nn.GroupNorm(min(8, channels), channels),
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


class ImageEncoder(nn.Module):
    """A residual convolutional encoder of single-channel images to ``n_outputs`` features.

    ``blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512)`` is ResNet-18's layout (the paper's
    lensing encoder, with group norm for batch norm); the default is a small network for CPUs.
    ``stem_stride=2`` halves the resolution in the first convolution (four times cheaper).

    Example:
        >>> ImageEncoder(16, widths=(8, 16), blocks=(1, 1))(torch.randn(2, 3, 32, 32)).shape
        torch.Size([2, 3, 16])
    """

    def __init__(
        self,
        n_outputs: int,
        widths: Sequence[int] = (16, 32, 64),
        blocks: Sequence[int] = (1, 1, 1),
        stem_stride: int = 1,
    ):
        super().__init__()
        if len(widths) != len(blocks):
            raise ValueError("widths and blocks: one entry per stage")
        layers: list[nn.Module] = [
            nn.Conv2d(1, widths[0], 3, stem_stride, 1, bias=False),
            nn.GroupNorm(min(8, widths[0]), widths[0]),
            nn.ReLU(),
        ]
        previous = widths[0]
        for stage, (width, count) in enumerate(zip(widths, blocks, strict=True)):
            for k in range(count):
                layers.append(_Block(previous, width, 2 if k == 0 and stage > 0 else 1))
                previous = width
        self.body = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.out = nn.Linear(previous, n_outputs)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(..., H, W)`` to ``(..., n_outputs)``."""
        batch = images.shape[:-2]
        flat = images.reshape(-1, 1, *images.shape[-2:])
        return self.out(self.body(flat)).reshape(*batch, -1)


class HierarchicalPosterior(nn.Module):
    r"""Joint global and local posterior estimator (module docstring).

    Arguments:
        n_global, n_local: dimensions of :math:`\theta` and of each :math:`z_i`.
        element: ``"mlp"`` with ``n_features`` per element, or ``"image"`` (single-channel
            images; ``image`` options ``widths``, ``blocks`` of :class:`ImageEncoder`).
        features: width of each half of :math:`s_\phi(x)`.
        encoder: hidden widths of the MLP element encoder.
        decoder: hidden widths of the global decoder :math:`g` and of the local conditioner.
        global_head, local_head: ``"gaussian"`` or ``"flow"``; flow: options of flow heads.
        scale: the typical cardinality (pooled sums are divided by it).

    Example:
        >>> net = HierarchicalPosterior(n_global=1, n_local=1, n_features=2, features=4,
        ...                             encoder=(8,), decoder=(8,))
        >>> x, mask = torch.randn(3, 5, 2), torch.ones(3, 5)
        >>> net.log_prob(torch.zeros(3, 1), torch.zeros(3, 5, 1), x, mask)[0].shape
        torch.Size([3])
    """

    def __init__(
        self,
        n_global: int,
        n_local: int,
        n_features: int = 0,
        element: str = "mlp",
        features: int = 32,
        encoder: Sequence[int] = (128, 128),
        decoder: Sequence[int] = (128, 128),
        global_head: str = "gaussian",
        local_head: str = "gaussian",
        activation: str = "gelu",
        scale: float = 10.0,
        flow: dict | None = None,
        image: dict | None = None,
    ):
        super().__init__()
        if element not in ("mlp", "image"):
            raise ValueError(f"element {element!r}; expected 'mlp' or 'image'")
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        self.config = {
            "n_global": int(n_global),
            "n_local": int(n_local),
            "n_features": int(n_features),
            "element": element,
            "features": int(features),
            "encoder": [int(w) for w in encoder],
            "decoder": [int(w) for w in decoder],
            "global_head": global_head,
            "local_head": local_head,
            "activation": activation,
            "scale": float(scale),
            "flow": dict(flow or {}),
            "image": dict(image or {}),
        }
        self.scale = float(scale)
        if element == "mlp":
            if n_features < 1:
                raise ValueError("an 'mlp' element encoder needs n_features >= 1")
            self.encoder = mlp([n_features, *encoder, 2 * features], activation)
        else:
            self.encoder = ImageEncoder(2 * features, **(image or {}))
        self.global_head = make_head(global_head, n_global, flow)
        self.local_head = make_head(local_head, n_local, flow)
        self.decoder = mlp([2 * features + 2, *decoder, self.global_head.n_inputs], activation)
        self.conditioner = mlp(
            [features + n_global, *decoder, self.local_head.n_inputs], activation
        )
        for name in ("feature", "global", "local"):
            width = {"feature": max(n_features, 1), "global": n_global, "local": n_local}[name]
            self.register_buffer(f"{name}_loc", torch.zeros(width))
            self.register_buffer(f"{name}_scale", torch.ones(width))
        self.float()

    def set_scalers(self, **moments) -> None:
        """Standardisations: ``feature=(mean, std)`` (a scalar pair for images), ``global_``,
        ``local`` (the priors' moments)."""
        for name, (loc, scale) in moments.items():
            name = name.rstrip("_")
            getattr(self, f"{name}_loc").copy_(torch.as_tensor(loc, dtype=torch.float32))
            scale = torch.as_tensor(scale, dtype=torch.float32)
            getattr(self, f"{name}_scale").copy_(torch.where(scale > 0, scale, 1.0))

    def _features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.as_tensor(x, dtype=torch.float32)
        if self.config["element"] == "mlp":
            s = self.encoder((x - self.feature_loc) / self.feature_scale)
        else:
            s = self.encoder((x - self.feature_loc[0]) / self.feature_scale[0])
        return s.chunk(2, dim=-1)

    def _global_density(self, pooled_sum: torch.Tensor, cardinality: torch.Tensor):
        n = cardinality[:, None]
        inputs = [pooled_sum / self.scale, pooled_sum / n.clamp_min(1.0), n / self.scale,
                  torch.log1p(n)]  # fmt: skip
        # sum/scale and mean share the pooled width: the decoder input is 2 * features + 2
        return self.global_head(self.decoder(torch.cat(inputs, -1)))

    def _local_density(self, local: torch.Tensor, theta_standardised: torch.Tensor):
        return self.local_head(self.conditioner(torch.cat([local, theta_standardised], -1)))

    def log_prob(self, theta, z, x, mask) -> tuple[torch.Tensor, torch.Tensor]:
        r""":math:`\log q(\theta \mid \{x\})` ``(B,)`` and :math:`\log q(z_i \mid x_i,
        \theta)` ``(B, N)`` (zero where ``mask`` is 0), in the original units."""
        mask = torch.as_tensor(mask, dtype=torch.float32)
        glob, loc = self._features(x)
        pooled = (glob * mask[..., None]).sum(1)
        t = (torch.as_tensor(theta, dtype=torch.float32) - self.global_loc) / self.global_scale
        log_global = self._global_density(pooled, mask.sum(-1)).log_prob(t)
        log_global = log_global - torch.log(self.global_scale).sum()
        u = (torch.as_tensor(z, dtype=torch.float32) - self.local_loc) / self.local_scale
        t_each = t[:, None, :].expand(-1, mask.shape[1], -1)
        log_local = self._local_density(loc, t_each).log_prob(u) - torch.log(self.local_scale).sum()
        return log_global, log_local * mask

    @torch.no_grad()
    def sample(self, x, mask, n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        r"""Joint draws: global ``(n, B, P)`` and local ``(n, B, N, L)`` (the local marginal
        posterior :math:`p(z_i \mid \{x\})` by ancestral sampling), reproducible by ``seed``."""
        mask = torch.as_tensor(mask, dtype=torch.float32)
        glob, loc = self._features(x)
        pooled = (glob * mask[..., None]).sum(1)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            t = self._global_density(pooled, mask.sum(-1)).sample((n,))  # (n, B, P)
            u = self._local_draws(loc, t)
        return t * self.global_scale + self.global_loc, u

    @torch.no_grad()
    def sample_local(self, x, mask, theta, n: int, seed: int = 0) -> torch.Tensor:
        r"""``n`` draws ``(n, B, N, L)`` of each element's local parameters given the global
        ``theta`` ``(B, P)``: :math:`q(z_i \mid x_i, \theta)`."""
        _, loc = self._features(x)
        t = (torch.as_tensor(theta, dtype=torch.float32) - self.global_loc) / self.global_scale
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return self._local_draws(loc, t.expand(n, *t.shape))

    def _local_draws(self, loc: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        """One local draw per global draw ``t`` ``(n, B, P)`` (standardised), original units."""
        n, N = t.shape[0], loc.shape[1]
        t_each = t[:, :, None, :].expand(-1, -1, N, -1)
        u = self._local_density(loc.expand(n, *loc.shape), t_each).sample()
        return u * self.local_scale + self.local_loc


@dataclass
class HierarchicalTraining:
    """Settings of :func:`train_hierarchical` (AdamW, cosine annealing, fresh simulations each
    step, the best validated weights kept): as :class:`~nsbi.sets.posterior.PosteriorTraining`,
    with ``local_weight`` the weight of the summed local term of eq. 7 (1: the paper's)."""

    steps: int = 3000
    batch: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    validation: int = 512
    eval_every: int = 250
    seed: int = 0
    local_weight: float = 1.0
    network: dict = field(default_factory=dict)


def train_hierarchical(source, config: HierarchicalTraining | None = None, progress=False):
    """Train a :class:`HierarchicalPosterior` on ``source`` (``sample(n, rng) -> (theta, z, x,
    mask)``, ``n_features``, ``n_global``, ``n_local``, ``prior_moments() -> (global, local)``
    pairs of (mean, std), ``element``).

    Example:
        >>> from nsbi.simulators import HierarchicalNormalSource
        >>> config = HierarchicalTraining(steps=10, batch=8, validation=16, eval_every=5,
        ...     network={"features": 4, "encoder": [8], "decoder": [8]})
        >>> model, history = train_hierarchical(HierarchicalNormalSource(n_max=10), config)
        >>> history.steps
        [5, 10]
    """
    config = config or HierarchicalTraining()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    validation = _tensors(source.sample(config.validation, np.random.default_rng([config.seed, 1])))
    _, _, x_val, m_val = validation
    model = HierarchicalPosterior(
        source.n_global,
        source.n_local,
        n_features=getattr(source, "n_features", 0),
        element=getattr(source, "element", "mlp"),
        scale=float(m_val.sum(-1).mean()),
        **config.network,
    )
    events = x_val[m_val > 0]
    if model.config["element"] == "mlp":
        feature = (events.mean(0), events.std(0))
    else:
        feature = (events.mean().reshape(1), events.std().reshape(1))
    global_moments, local_moments = source.prior_moments()
    model.set_scalers(feature=feature, global_=global_moments, local=local_moments)
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )

    def loss(batch) -> torch.Tensor:
        theta, z, x, mask = batch
        log_global, log_local = model.log_prob(theta, z, x, mask)
        return -(log_global.mean() + config.local_weight * log_local.sum(-1).mean())

    history: SetTrainingHistory = optimise(
        model,
        optimiser,
        loss,
        lambda: _tensors(source.sample(config.batch, rng)),
        validation,
        config,
        progress="hierarchical posterior" if progress else None,
    )
    model.metadata = {
        "training": dataclasses.asdict(config),
        "source": source.describe(),
        "history": dataclasses.asdict(history),
    }
    return model, history


def _tensors(batch):
    return tuple(torch.as_tensor(np.asarray(b), dtype=torch.float32) for b in batch)


_METADATA = "hierarchical.json"


def save_hierarchical(model: HierarchicalPosterior, directory: str | Path) -> Path:
    """Write ``model`` to ``directory`` (safetensors + JSON, replaced atomically; no pickle).

    Example:
        >>> import tempfile
        >>> net = HierarchicalPosterior(1, 1, n_features=2, features=4, encoder=(8,), decoder=(8,))
        >>> again = load_hierarchical(save_hierarchical(net, tempfile.mkdtemp() + "/h"))
        >>> x, mask = torch.randn(2, 3, 2), torch.ones(2, 3)
        >>> all(torch.equal(a, b) for a, b in zip(again.sample(x, mask, 4), net.sample(x, mask, 4)))
        True
    """

    return save_set_model(directory, model, "hierarchical_posterior", _METADATA,
                          **getattr(model, "metadata", {}))  # fmt: skip


def load_hierarchical(directory: str | Path) -> HierarchicalPosterior:
    """Read a model written by :func:`save_hierarchical` (weights only, no pickle)."""
    model, metadata = load_set_model(
        directory, "hierarchical_posterior", _METADATA, "hierarchical posterior",
        lambda metadata: HierarchicalPosterior(**metadata["network"]),
    )  # fmt: skip
    model.metadata = {k: v for k, v in metadata.items() if k in ("training", "source", "history")}
    return model
