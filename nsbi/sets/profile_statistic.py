r"""A learned dataset-wide test statistic, one-to-one with the profile likelihood ratio
(Heinrich, arXiv:2203.13079; section 3.2 and appendix A.2 of arXiv:2306.12584).

A deep set :math:`s_\phi(\{x\}, \theta)` (:mod:`nsbi.sets.deep_set`) that sees a whole dataset
and the tested value :math:`\theta` is trained as a classifier:

- :math:`y = 0`: datasets drawn at :math:`(\theta_0, \nu)`, with :math:`\theta_0` uniform in the
  training range and the nuisances :math:`\nu` drawn at random (:mod:`nsbi.sets.sources`);
- :math:`y = 1`: datasets drawn at :math:`(\theta_0 \pm \Delta, \nu')`, half on each side, with
  :math:`\Delta \sim U(\Delta_\text{lo}, \Delta_\text{hi})` and fresh random nuisances;

every dataset evaluated with :math:`\theta = \theta_0`, binary cross-entropy. The optimum is the
classifier of "drawn at :math:`\theta_0`" against "drawn nearby", averaged over the nuisances: it
grows as the data move away from :math:`\theta_0` in either direction whatever the nuisances
are, the best average power across alternatives; on the mixture of the paper it is one-to-one
with the profile likelihood ratio :math:`t_\theta` without any nuisance ever being fitted.

The statistic is the classifier's logit,

.. math::

    t_\text{ML}(\theta; \{x\}) = \log\frac{s_\phi(\{x\}, \theta)}{1 - s_\phi(\{x\}, \theta)},

a monotone function of :math:`s_\phi \in [0, 1]` (the paper's axis), which keeps its resolution
where :math:`s_\phi` is within float precision of 1. The head's two outputs make the logit
:math:`u_1^2 + u_2`: any function still, but with the shape of Wald's approximation
:math:`t_\theta \approx (\hat\theta - \theta)^2/\sigma^2` within reach at initialisation. A
plain logit starts where the label is uncorrelated with every linear function of the inputs
(alternatives on both sides of :math:`\theta_0`), and training sat on the plateau
:math:`\log 2` for hundreds of steps (for ever, with small networks); the squared output
leaves it at once. Large means incompatible with
:math:`\theta`; :math:`\hat\theta_\text{ML} = \text{argmin}_\theta\, t_\text{ML}`. The pooled
embedding does not depend on :math:`\theta`, so a grid of :math:`G` values for :math:`B`
datasets costs one pass of the encoder and :math:`B \times G` passes of the small head.
Critical values come from toys (:func:`nsbi.infer.belt.neyman_belt` with a learned statistic):
any ordering gives exact coverage once calibrated, a good one gives short intervals.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from nsbi.model.unbinned import SparseWeights
from nsbi.sets.deep_set import DeepSet, feature_scaler
from nsbi.sets.sources import WorkspaceSource
from nsbi.sets.storage import SetModelError, load_set_model, save_set_model
from nsbi.sets.training import SetTrainingHistory, optimise

__all__ = [
    "LearnedStatistic",
    "grid_argmin",
    "StatisticTraining",
    "SetTrainingHistory",
    "train_statistic",
    "save_statistic",
    "load_statistic",
    "SetModelError",
]

_METADATA = "statistic.json"


@dataclass
class StatisticTraining:
    r"""Settings of :func:`train_statistic`.

    The defaults train in minutes on a laptop CPU (higher learning rates, cosine annealing,
    5000 steps); :meth:`paper` gives appendix A.2's (constant rates :math:`10^{-4}` and
    :math:`10^{-3}`, 30000 steps).

    Attributes:
        theta_range: :math:`\theta_0 \sim U(\text{theta\_range})`.
        delta_range: :math:`\Delta \sim U(\text{delta\_range})`.
        batch: datasets per class per step (:math:`y=1` split equally between the two sides).
        steps: optimisation steps (the paper: 30000).
        lr_element, lr_set: Adam learning rates of the encoder and the head.
        schedule: ``"cosine"`` (annealed to 1/20 of the rates) or ``"constant"``.
        validation: datasets per class of the fixed validation batch.
        eval_every: steps between validations; the best validated weights are kept.
        seed: seeds the network's initialisation and every dataset drawn.
    """

    theta_range: tuple[float, float] = (3.0, 7.0)
    delta_range: tuple[float, float] = (0.5, 2.0)
    batch: int = 100
    steps: int = 5000
    lr_element: float = 1e-3
    lr_set: float = 3e-3
    schedule: str = "cosine"
    validation: int = 1000
    eval_every: int = 250
    seed: int = 0
    network: dict = field(
        default_factory=lambda: {"encoder": [64, 64], "embedding": 32, "head": [64, 64]}
    )

    @classmethod
    def paper(cls, **changes) -> StatisticTraining:
        """Appendix A.2 of arXiv:2306.12584: Adam at :math:`10^{-4}` (per element) and
        :math:`10^{-3}` (set-wide), constant, 30000 steps of 100 + 100 datasets."""
        settings = {"steps": 30000, "lr_element": 1e-4, "lr_set": 1e-3, "schedule": "constant"}
        return cls(**{**settings, **changes})

    @classmethod
    def for_source(
        cls,
        source,
        *,
        paper: bool = False,
        theta_range: tuple[float, float] | None = None,
        delta_range: tuple[float, float] | None = None,
        validation: int | None = None,
        **changes,
    ) -> StatisticTraining:
        r"""The settings ``nsbi train-statistic`` uses for ``source``: a workspace's tests
        :math:`\theta_0` over the POI's bounds with :math:`\Delta` from 1/8 to 1/2 of them and
        validates on 200 datasets per class (each a weight vector over every reference event);
        a simulator keeps the defaults (1000). ``paper``: :meth:`paper`'s settings.
        ``changes`` that are ``None`` are ignored.

        Example:
            >>> from nsbi.simulators import SimulatorSource
            >>> StatisticTraining.for_source(SimulatorSource(), steps=None).theta_range
            (3.0, 7.0)
        """
        settings = {k: v for k, v in changes.items() if v is not None}
        if isinstance(source, WorkspaceSource):
            space = source.model.parameters
            lo, hi = space.bounds[space.poi_index]
            settings["theta_range"] = (lo, hi)
            settings["delta_range"] = ((hi - lo) / 8, (hi - lo) / 2)
            settings["validation"] = 200
        if theta_range is not None:
            settings["theta_range"] = tuple(theta_range)
        if delta_range is not None:
            settings["delta_range"] = tuple(delta_range)
        if validation is not None:
            settings["validation"] = validation
        return cls.paper(**settings) if paper else cls(**settings)


class LearnedStatistic:
    r""":math:`t_\text{ML}(\theta; \{x\})` (module docstring) around a trained
    :class:`~nsbi.sets.deep_set.DeepSet`.

    Arguments:
        network: a deep set with one context input (:math:`\theta`) and two outputs
            (:func:`logit`).
        poi: name of the parameter of interest.
        observables: names of the event features, in order.
        metadata: training settings and provenance, saved with the network.
    """

    def __init__(
        self,
        network: DeepSet,
        poi: str,
        observables: tuple[str, ...],
        metadata: dict | None = None,
    ):
        if network.config["n_context"] != 1 or network.config["n_outputs"] != 2:
            raise ValueError("a learned statistic needs a deep set with one context, two outputs")
        self.network = network.eval()
        self.poi = poi
        self.observables = tuple(observables)
        self.metadata = dict(metadata or {})

    @property
    def theta_range(self) -> tuple[float, float]:
        r"""The range of :math:`\theta_0` it was trained on (where it is meaningful)."""
        lo, hi = self.metadata.get("training", {}).get("theta_range", (-math.inf, math.inf))
        return float(lo), float(hi)

    def on_grid(
        self,
        x: torch.Tensor,
        weights: torch.Tensor | SparseWeights,
        grid: np.ndarray | torch.Tensor,
        chunk: int = 4096,
    ) -> np.ndarray:
        r""":math:`t_\text{ML}` of ``B`` datasets at ``G`` values of :math:`\theta`:
        ``(B, G)``, one encoder pass (in chunks of ``chunk`` datasets). ``weights``: ``(B, N)``
        over the events ``x`` (``(B, N, d)``, or ``(N, d)`` shared), or the
        :class:`SparseWeights` of ``B`` toys over shared events."""
        grid = torch.as_tensor(np.asarray(grid, dtype=np.float32))
        x = torch.as_tensor(x, dtype=torch.float32)
        sparse = isinstance(weights, SparseWeights)  # toys' nonzero weights over shared events
        index = weights.index if sparse else None
        weights = torch.as_tensor(weights.weights if sparse else weights, dtype=torch.float32)
        out = []
        with torch.no_grad():
            shared = x.dim() == 2
            for start in range(0, len(weights), chunk):
                w = weights[start : start + chunk]
                if sparse:
                    pooled = self.network.pooled_sparse(x, index[start : start + chunk], w)
                else:
                    pooled = self.network.pooled(x if shared else x[start : start + chunk], w)
                context = grid[None, :, None].expand(len(w), -1, 1)
                out.append(logit(self.network.decode(pooled, w.sum(-1), context)))
        return torch.cat(out).double().numpy()

    def __call__(
        self, x: torch.Tensor, weights: torch.Tensor | SparseWeights, theta: float | np.ndarray
    ) -> np.ndarray:
        r""":math:`t_\text{ML}` of ``B`` datasets at one :math:`\theta`: ``(B,)``."""
        return self.on_grid(x, weights, np.atleast_1d(np.asarray(theta, dtype=np.float32)))[:, 0]

    def theta_hat(self, x: torch.Tensor, weights: torch.Tensor, grid: np.ndarray) -> np.ndarray:
        r""":math:`\hat\theta_\text{ML} = \text{argmin}_\theta\, t_\text{ML}` per dataset:
        the grid's minimum refined by the vertex of the parabola through it and its
        neighbours (clipped to the grid)."""
        grid = np.asarray(grid, dtype=np.float64)
        return grid_argmin(grid, self.on_grid(x, weights, grid))


def logit(outputs: torch.Tensor) -> torch.Tensor:
    """The classifier's logit from the head's two outputs, :math:`u_1^2 + u_2`."""
    return outputs[..., 0] ** 2 + outputs[..., 1]


def grid_argmin(grid: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The minimum of each row of ``values`` ``(B, G)`` over ``grid``, refined by a parabola
    through the smallest point and its two neighbours.

    Example:
        >>> grid = np.linspace(0.0, 2.0, 5)
        >>> float(grid_argmin(grid, ((grid - 0.7) ** 2)[None])[0])
        0.7
    """
    values = np.atleast_2d(values)
    k = np.clip(np.argmin(values, axis=1), 1, len(grid) - 2)
    rows = np.arange(len(values))
    y0, y1, y2 = values[rows, k - 1], values[rows, k], values[rows, k + 1]
    x0, x1, x2 = grid[k - 1], grid[k], grid[k + 1]
    denominator = (x0 - x1) * (x0 - x2) * (x1 - x2)
    a = (x2 * (y1 - y0) + x1 * (y0 - y2) + x0 * (y2 - y1)) / denominator
    b = (x2**2 * (y0 - y1) + x1**2 * (y2 - y0) + x0**2 * (y1 - y2)) / denominator
    vertex = np.where(a > 0, -b / (2 * np.where(a > 0, a, 1.0)), grid[np.argmin(values, axis=1)])
    return np.clip(vertex, grid[0], grid[-1])


def _labelled_batch(source, n: int, config: StatisticTraining, generator: torch.Generator):
    r"""``n`` datasets with :math:`y=0` and ``n`` with :math:`y=1` (half at each side), their
    conditioning :math:`\theta_0` and labels."""
    lo, hi = config.theta_range
    d_lo, d_hi = config.delta_range
    theta0 = lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)
    delta = d_lo + (d_hi - d_lo) * torch.rand(n, generator=generator, dtype=torch.float64)
    side = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0).to(torch.float64)
    x0, w0 = source.sample(theta0, generator)
    x1, w1 = source.sample(theta0 + side * delta, generator)
    if x0.dim() == 3:  # pad the two halves to one length
        width = max(x0.shape[1], x1.shape[1])
        x0, w0 = _pad(x0, w0, width)
        x1, w1 = _pad(x1, w1, width)
        x = torch.cat([x0, x1])
    else:
        x = x0
    weights = torch.cat([w0, w1])
    context = torch.cat([theta0, theta0]).float()[:, None]
    labels = torch.cat([torch.zeros(n), torch.ones(n)])
    return x, weights, context, labels


def _pad(x: torch.Tensor, w: torch.Tensor, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    extra = width - x.shape[1]
    if extra == 0:
        return x, w
    return (
        torch.cat([x, x.new_zeros(x.shape[0], extra, x.shape[2])], 1),
        torch.cat([w, w.new_zeros(w.shape[0], extra)], 1),
    )


def train_statistic(
    source,
    config: StatisticTraining | None = None,
    progress: bool = False,
    callback: Callable[[int, float], None] | None = None,
) -> tuple[LearnedStatistic, SetTrainingHistory]:
    r"""Train :math:`t_\text{ML}` on datasets of ``source`` (:mod:`nsbi.sets.sources`) with the
    scheme of the module docstring; returns the statistic with the best validated weights.

    Example:
        >>> from nsbi.simulators import SimulatorSource
        >>> config = StatisticTraining(steps=20, batch=16, validation=32, eval_every=10,
        ...     network={"encoder": [8], "embedding": 4, "head": [8]})
        >>> statistic, history = train_statistic(SimulatorSource(), config)
        >>> history.steps, statistic.on_grid(*SimulatorSource().sample(
        ...     torch.tensor([5.0]), torch.Generator().manual_seed(1)), [4.0, 5.0]).shape
        ([10, 20], (1, 2))
    """
    config = config or StatisticTraining()
    if not (config.theta_range[0] < config.theta_range[1] and config.delta_range[0] > 0):
        raise ValueError("theta_range must be increasing and delta_range positive")
    if config.schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule {config.schedule!r}; expected 'cosine' or 'constant'")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    validation_generator = torch.Generator().manual_seed(config.seed + 1_000_003)
    validation = _labelled_batch(source, config.validation, config, validation_generator)

    x_val, w_val = validation[0], validation[1]
    lo, hi = config.theta_range
    network = DeepSet(
        source.n_features,
        n_outputs=2,
        n_context=1,
        scale=float(w_val.sum(-1).mean()),
        **config.network,
    )
    network.set_scalers(*feature_scaler(x_val, w_val), [(lo + hi) / 2], [(hi - lo) / 2])
    groups = network.parameter_groups()
    optimiser = torch.optim.Adam(
        [
            {"params": groups["element"], "lr": config.lr_element},
            {"params": groups["set"], "lr": config.lr_set},
        ]
    )
    loss_function = torch.nn.BCEWithLogitsLoss()

    def loss(batch) -> torch.Tensor:
        x, w, c, y = batch
        return loss_function(logit(network(x, w, c)), y)

    history = optimise(
        network,
        optimiser,
        loss,
        lambda: _labelled_batch(source, config.batch, config, generator),
        validation,
        config,
        progress="learned statistic" if progress else None,
        callback=callback,
    )
    metadata = {
        "training": dataclasses.asdict(config),
        "source": source.describe(),
        "history": dataclasses.asdict(history),
    }
    return LearnedStatistic(network, source.poi, source.observables, metadata), history


def save_statistic(statistic: LearnedStatistic, directory: str | Path) -> Path:
    """Write ``statistic`` to ``directory`` (safetensors weights and JSON metadata, replaced
    atomically; nothing is pickled).

    Example:
        >>> import tempfile
        >>> net = DeepSet(1, 2, n_context=1, encoder=(4,), embedding=2, head=(4,))
        >>> path = save_statistic(LearnedStatistic(net, "mu", ("x",)), tempfile.mkdtemp() + "/t")
        >>> again = load_statistic(path)
        >>> x, w = torch.randn(2, 3, 1), torch.ones(2, 3)
        >>> bool(np.allclose(again.on_grid(x, w, [1.0]), LearnedStatistic(net, "mu", ("x",))
        ...     .on_grid(x, w, [1.0])))
        True
    """

    return save_set_model(
        directory, statistic.network, "learned_statistic", _METADATA, poi=statistic.poi,
        observables=list(statistic.observables), **statistic.metadata,
    )  # fmt: skip


def load_statistic(directory: str | Path) -> LearnedStatistic:
    """Read a statistic written by :func:`save_statistic` (weights only, no pickle)."""
    network, metadata = load_set_model(
        directory, "learned_statistic", _METADATA, "learned statistic",
        lambda metadata: DeepSet(**metadata["network"]), "train one with `nsbi train-statistic`",
    )  # fmt: skip
    extra = {
        k: v
        for k, v in metadata.items()
        if k not in {"format_version", "kind", "poi", "observables", "network", "nsbi_version"}
    }
    return LearnedStatistic(network, metadata["poi"], tuple(metadata["observables"]), extra)
