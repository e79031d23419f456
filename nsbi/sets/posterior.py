r"""Amortised posteriors over event ensembles: a deep set that maps a whole dataset of any size to
:math:`q(\theta \mid \{x\})` (sections 2.2 and 3.1 of arXiv:2306.12584).

The encoder :math:`\phi` embeds each event, the embeddings are summed, and a decoder that also
sees the cardinality :math:`N` gives the parameters of a density over the global parameters
:math:`\theta`:

.. math::

    q(\theta \mid \{x\}) = q\bigl(\theta \mid h\bigr), \qquad
    h = \rho\Bigl(\tfrac{1}{s}\textstyle\sum_i \phi(x_i),\ N/s\Bigr),

with one of two heads:

- ``"gaussian"``: :math:`\mathcal{N}(m(h), L(h) L(h)^T)`, :math:`L` lower triangular with a
  positive diagonal (exp), a full covariance;
- ``"flow"``: a neural spline flow (zuko) conditioned on :math:`h`, for posteriors that are
  skewed, bounded or multimodal.

Training minimises the expected negative log posterior density of the true parameters over
datasets simulated from the prior, :math:`\mathbb{E}_{\theta \sim p(\theta), \{x\} \sim
p(\{x\}|\theta)}[-\log q(\theta \mid \{x\})]`, whose minimum is the true posterior (neural
posterior estimation). Parameters the head does not model (nuisances, or local parameters) are
marginalised by not being asked for: the network never sees them.

With ``aggregation="bayesian"`` (Bayesian context aggregation, Volpp et al., ICLR 2021) each
event also gives a Gaussian factor in natural parameters, a precision :math:`\lambda_i > 0`
(softplus) and :math:`\eta_i` per parameter, and the factors are multiplied with a learned
prior factor :math:`(\lambda_0, \eta_0)` by summing them:

.. math::

    \Lambda = \lambda_0 + \textstyle\sum_i \lambda_i, \qquad
    \mu_\text{agg} = (\eta_0 + \textstyle\sum_i \eta_i) / \Lambda, \qquad
    \sigma_\text{agg} = \Lambda^{-1/2},

which is the exact posterior when the events are conditionally independent Gaussian
observations of :math:`\theta`, and whose width shrinks as :math:`1/\sqrt{N}` by construction
otherwise. The head then models :math:`(\theta - \mu_\text{agg}) / \sigma_\text{agg}` given
:math:`h`: corrections are learned in units of the aggregated width, as precise at
:math:`N = 200` as at :math:`N = 1` (with the plain head the decoder must reach a mean to a
fraction of a per-cent of the prior's width at large :math:`N`, and its errors there inflate the
learned width). Both heads take it; the decoder's last layer starts at zero, so training starts
from the aggregated posterior.

The sum of embeddings is the whole state of a dataset, so a posterior is updated in streaming
mode by adding the new events' embeddings (:meth:`DatasetPosterior.update`), without touching
the old events; the result equals recomputation from scratch up to float rounding.
Parameters are standardised with the prior's mean and standard deviation (stored in the module)
and every density is reported in the original units.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.distributions import MultivariateNormal

from nsbi.sets.deep_set import DeepSet, feature_scaler
from nsbi.sets.heads import make_head
from nsbi.sets.storage import load_set_model, save_set_model
from nsbi.sets.training import SetTrainingHistory, optimise
from nsbi.sets.transformer import CausalSetTransformer

__all__ = [
    "SetPosterior",
    "BayesianAggregation",
    "DatasetPosterior",
    "PosteriorTraining",
    "expected_coverage",
    "train_posterior",
    "save_posterior",
    "load_posterior",
]

_METADATA = "posterior.json"


class BayesianAggregation(nn.Module):
    r"""Per-event Gaussian factors :math:`(\eta_i, \lambda_i)` read off each event's
    embedding, and a learned prior factor (module docstring).

    Example:
        >>> agg = BayesianAggregation(width=4, n_parameters=2)
        >>> state = agg.observe(torch.randn(3, 5, 4)).sum(1)    # summed over 5 events
        >>> mean, std = agg.moments(state)
        >>> bool((std < 1 / 5**0.5 + 1).all()), mean.shape
        (True, torch.Size([3, 2]))
    """

    def __init__(self, width: int, n_parameters: int):
        super().__init__()
        self.n_parameters = n_parameters
        self.readout = nn.Linear(width, 2 * n_parameters)
        # the prior factor starts at N(0, 1), the prior in standardised units
        self.prior_eta = nn.Parameter(torch.zeros(n_parameters))
        self.prior_precision = nn.Parameter(torch.full((n_parameters,), math.log(math.e - 1)))

    def observe(self, embedding: torch.Tensor) -> torch.Tensor:
        r""":math:`(\eta_i, \lambda_i)` per event, ``(..., 2P)`` (softplus precisions; a
        log-precision readout was tried: better with 400 steps and N <= 60, worse at N = 1
        with 1500 steps and N <= 200, widths 1.22 against 1.04 of the analytic ones)."""
        eta, precision = self.readout(embedding).chunk(2, dim=-1)
        return torch.cat([eta, nn.functional.softplus(precision)], dim=-1)

    def moments(self, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        r""":math:`(\mu_\text{agg}, \sigma_\text{agg})` of summed factors ``(B, 2P)``."""
        eta, precision = state.chunk(2, dim=-1)
        precision = precision + nn.functional.softplus(self.prior_precision)
        return (eta + self.prior_eta) / precision, precision.rsqrt()


class _Standardised:
    r"""The density of :math:`\theta = \mu + \sigma z` for :math:`z \sim` ``base``."""

    def __init__(self, base, loc: torch.Tensor, scale: torch.Tensor):
        self.base, self.loc, self.scale = base, loc, scale

    def log_prob(self, theta: torch.Tensor) -> torch.Tensor:
        z = (theta - self.loc) / self.scale
        return self.base.log_prob(z) - torch.log(self.scale).sum(-1)

    def sample(self, shape=()) -> torch.Tensor:
        return self.loc + self.scale * self.base.sample(shape)


def _shift_gaussian(base: MultivariateNormal, loc: torch.Tensor, scale: torch.Tensor):
    r""":math:`\mu + \sigma z` for Gaussian :math:`z`, still a MultivariateNormal."""
    return MultivariateNormal(
        loc + scale * base.loc, scale_tril=scale[..., :, None] * base.scale_tril
    )


class SetPosterior(nn.Module):
    r"""A deep set posterior estimator (module docstring).

    Arguments:
        n_features: features per event.
        n_parameters: dimension of :math:`\theta`.
        head: ``"gaussian"`` or ``"flow"``.
        encoder, embedding, decoder, activation, scale, summary, passthrough: the deep set
            (:class:`~nsbi.sets.deep_set.DeepSet`; by default the decoder also sees the mean
            embedding and :math:`\log N`).
        flow: options of the flow head (``transforms``, ``hidden``, ``context``: the width of
            :math:`h`).
        aggregation: ``"sum"`` (the head models :math:`\theta` from :math:`h` alone) or
            ``"bayesian"`` (per-event Gaussian factors set the location and width the head
            corrects; module docstring).

    Example:
        >>> model = SetPosterior(n_features=2, n_parameters=3, encoder=(8,), embedding=4,
        ...                      decoder=(8,))
        >>> x, mask = torch.randn(5, 7, 2), torch.ones(5, 7)
        >>> model.log_prob(torch.zeros(5, 3), x, mask).shape
        torch.Size([5])
    """

    def __init__(
        self,
        n_features: int,
        n_parameters: int,
        head: str = "gaussian",
        encoder=(128, 128),
        embedding: int = 64,
        decoder=(128, 128),
        activation: str = "gelu",
        scale: float = 100.0,
        summary: str = "sum_mean",
        passthrough: bool = False,
        flow: dict | None = None,
        aggregation: str = "sum",
    ):
        super().__init__()
        if aggregation not in ("sum", "bayesian"):
            raise ValueError(f"aggregation {aggregation!r}; expected 'sum' or 'bayesian'")
        flow = dict(flow or {})
        self.config = {
            "n_features": int(n_features),
            "n_parameters": int(n_parameters),
            "head": head,
            "encoder": [int(w) for w in encoder],
            "embedding": int(embedding),
            "decoder": [int(w) for w in decoder],
            "activation": activation,
            "scale": float(scale),
            "summary": summary,
            "passthrough": bool(passthrough),
            "flow": flow,
            "aggregation": aggregation,
        }
        self.head = make_head(head, n_parameters, flow)
        self.deep_set = DeepSet(
            n_features,
            n_outputs=self.head.n_inputs,
            encoder=encoder,
            embedding=embedding,
            head=decoder,
            activation=activation,
            scale=scale,
            summary=summary,
            passthrough=passthrough,
        )
        self.width = embedding + (n_features if passthrough else 0)
        self.aggregation = None
        if aggregation == "bayesian":
            self.aggregation = BayesianAggregation(self.width, n_parameters)
            last = self.deep_set.head[-1]
            nn.init.zeros_(last.weight)  # the head starts as the aggregated posterior
            nn.init.zeros_(last.bias)
        self.register_buffer("parameter_loc", torch.zeros(n_parameters))
        self.register_buffer("parameter_scale", torch.ones(n_parameters))
        self.float()  # float32 whatever the default dtype (pyhf's torch backend sets float64)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        r"""The additive per-event state: :math:`\phi(x)`, then :math:`(\eta, \lambda)`
        with Bayesian aggregation."""
        e = self.deep_set.embed(x)
        if self.aggregation is None:
            return e
        return torch.cat([e, self.aggregation.observe(e)], dim=-1)

    def embedding_sum(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """The summed per-event state of each dataset, ``(B, width)``: what streaming adds to."""
        return self.deep_set.embedding_sum(x, weights, embed=self.embed)

    def set_parameter_scaler(self, loc, scale) -> None:
        r"""Standardise :math:`\theta` by ``loc`` and ``scale`` (e.g. the prior's moments)."""
        self.parameter_loc.copy_(torch.as_tensor(loc, dtype=torch.float32))
        self.parameter_scale.copy_(torch.as_tensor(scale, dtype=torch.float32))

    def conditional(self, embedding_sum: torch.Tensor, cardinality: torch.Tensor):
        """The standardised density given the summed embeddings ``(B, E)`` and cardinalities."""
        pooled = embedding_sum[..., : self.width] / self.deep_set.scale
        density = self.head(self.deep_set.decode(pooled, cardinality))
        if self.aggregation is None:
            return density
        loc, scale = self.aggregation.moments(embedding_sum[..., self.width :])
        if isinstance(density, MultivariateNormal):
            return _shift_gaussian(density, loc, scale)
        return _Standardised(density, loc, scale)

    def log_prob(self, theta: torch.Tensor, x: torch.Tensor, weights: torch.Tensor):
        r""":math:`\log q(\theta_b \mid \{x\}_b)` in the original units, shape ``(B,)``."""
        x = torch.as_tensor(x, dtype=torch.float32)
        weights = torch.as_tensor(weights, dtype=torch.float32)
        density = self.conditional(self.embedding_sum(x, weights), weights.sum(-1))
        z = (theta.to(self.parameter_loc.dtype) - self.parameter_loc) / self.parameter_scale
        return density.log_prob(z) - torch.log(self.parameter_scale).sum()

    def prefix_log_prob(self, theta: torch.Tensor, x: torch.Tensor, mask: torch.Tensor):
        r""":math:`\log q(\theta_b \mid x_{b,1:k})` for every prefix :math:`k`, ``(B, L)``:
        the cumulative sums of the embeddings are the pooled states of all prefixes, so one
        pass over a sequence scores all its cardinalities (meaningless where ``mask`` is 0)."""
        x = torch.as_tensor(x, dtype=torch.float32)
        mask = torch.as_tensor(mask, dtype=torch.float32)
        B, L = mask.shape
        cumulative = torch.cumsum(self.embed(x) * mask[..., None], dim=1)
        counts = torch.cumsum(mask, dim=1)
        density = self.conditional(cumulative.reshape(B * L, -1), counts.reshape(-1))
        z = (
            torch.as_tensor(theta, dtype=torch.float32) - self.parameter_loc
        ) / self.parameter_scale
        z = z[:, None, :].expand(-1, L, -1).reshape(B * L, -1)
        values = density.log_prob(z) - torch.log(self.parameter_scale).sum()
        return values.reshape(B, L)

    def posterior(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> DatasetPosterior:
        """The posteriors of ``B`` datasets (``x`` ``(B, N, d)``, ``weights`` a 0/1 mask or
        multiplicities, default all ones), ready for streaming updates."""
        x = torch.as_tensor(x, dtype=torch.float32)
        if weights is None:
            weights = torch.ones(x.shape[:-1])
        weights = torch.as_tensor(weights, dtype=torch.float32)
        with torch.no_grad():
            total = self.embedding_sum(x, weights)
        return DatasetPosterior(self, total, weights.sum(-1))


@dataclass
class DatasetPosterior:
    """The posteriors of a batch of datasets, held as their summed embeddings and sizes.

    Example:
        >>> model = SetPosterior(1, 1, encoder=(8,), embedding=4, decoder=(8,)).eval()
        >>> x = torch.randn(2, 10, 1)
        >>> streamed = model.posterior(x[:, :6]).update(x[:, 6:])
        >>> torch.allclose(streamed.mean, model.posterior(x).mean, atol=1e-5)
        True
    """

    model: SetPosterior
    embedding_sum: torch.Tensor
    cardinality: torch.Tensor
    samples_for_moments: int = 4000
    _cache: dict = field(default_factory=dict, repr=False)

    def update(self, x: torch.Tensor, weights: torch.Tensor | None = None) -> DatasetPosterior:
        """Add new events (``(B, n, d)``) to each dataset, in place; returns ``self``."""
        x = torch.as_tensor(x, dtype=torch.float32)
        if weights is None:
            weights = torch.ones(x.shape[:-1])
        weights = torch.as_tensor(weights, dtype=torch.float32)
        with torch.no_grad():
            self.embedding_sum = self.embedding_sum + self.model.embedding_sum(x, weights)
        self.cardinality = self.cardinality + weights.sum(-1)
        self._cache.clear()
        return self

    def _density(self):
        with torch.no_grad():
            return self.model.conditional(self.embedding_sum, self.cardinality)

    def log_prob(self, theta: torch.Tensor) -> torch.Tensor:
        r""":math:`\log q(\theta)` in the original units; ``theta`` ``(B, P)`` or
        ``(S, B, P)``."""
        m = self.model
        z = (torch.as_tensor(theta, dtype=torch.float32) - m.parameter_loc) / m.parameter_scale
        with torch.no_grad():
            return self._density().log_prob(z) - torch.log(m.parameter_scale).sum()

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` draws per dataset, shape ``(n, B, P)``, reproducible with ``seed``."""
        m = self.model
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            torch.manual_seed(seed)
            z = self._density().sample((n,))
        return z * m.parameter_scale + m.parameter_loc

    def _moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        if "moments" not in self._cache:
            m = self.model
            density = self._density()
            if isinstance(density, MultivariateNormal):
                mean = density.loc * m.parameter_scale + m.parameter_loc
                cov = density.covariance_matrix * torch.outer(m.parameter_scale, m.parameter_scale)
            else:
                draws = self.sample(self.samples_for_moments)
                mean = draws.mean(0)
                centred = draws - mean
                cov = torch.einsum("sbi,sbj->bij", centred, centred) / (len(draws) - 1)
            self._cache["moments"] = (mean, cov)
        return self._cache["moments"]

    def credibility(self, theta: torch.Tensor, samples: int = 2000, seed: int = 0) -> np.ndarray:
        """The smallest credibility of a highest-density region containing ``theta`` ``(B, P)``:
        the fraction of posterior draws denser than ``theta``. Over datasets drawn from the
        prior, a calibrated posterior gives uniform values, so the fraction below ``c`` is the
        expected coverage of the level-``c`` regions (:func:`expected_coverage`)."""
        draws = self.sample(samples, seed)
        denser = self.log_prob(draws) > self.log_prob(torch.as_tensor(theta))[None]
        return denser.float().mean(0).numpy()

    @property
    def mean(self) -> torch.Tensor:
        """Posterior means ``(B, P)`` (exact for the Gaussian head, from samples otherwise)."""
        return self._moments()[0]

    @property
    def covariance(self) -> torch.Tensor:
        """Posterior covariances ``(B, P, P)``."""
        return self._moments()[1]

    @property
    def std(self) -> torch.Tensor:
        """Posterior standard deviations ``(B, P)``."""
        return torch.diagonal(self.covariance, dim1=-2, dim2=-1).sqrt()


def expected_coverage(
    credibility: np.ndarray, levels: tuple[float, ...] = (0.68, 0.95)
) -> dict[float, tuple[float, float]]:
    """Fraction of datasets whose truth lies inside the level-``c`` highest-density region
    (``credibility`` from :meth:`DatasetPosterior.credibility`), with its binomial error.

    Example:
        >>> cov = expected_coverage(np.random.default_rng(0).uniform(size=4000))
        >>> abs(cov[0.68][0] - 0.68) < 3 * cov[0.68][1]
        True
    """
    credibility = np.asarray(credibility)
    out = {}
    for level in levels:
        p = float(np.mean(credibility <= level))
        out[level] = (p, float(np.sqrt(max(p * (1 - p), 1e-12) / len(credibility))))
    return out


@dataclass
class PosteriorTraining:
    """Settings of :func:`train_posterior` (AdamW with cosine annealing, fresh datasets from
    the prior every step, the best validated weights kept).

    Attributes:
        steps: optimisation steps; batch: datasets per step.
        learning_rate, weight_decay: AdamW's.
        validation: datasets of the fixed validation batch; eval_every: steps between
            validations.
        seed: seeds the initialisation and every dataset drawn.
        prefixes: score every prefix :math:`x_{1:k}` of each simulated set (the cumulative sums
            of the embeddings; the transformer's loss, :mod:`nsbi.sets.transformer`), so a set of
            :math:`N` elements teaches all cardinalities up to :math:`N`; ``False``: the whole
            set only. Prefix :math:`k` is weighted by the inverse of the fraction of sets that
            reach it, so every cardinality weighs as much as in the whole-set loss. For
            0/1-masked sets with the events first.
        network: keyword arguments of :class:`SetPosterior` (``head``, widths, ``flow``), or
            with ``"architecture": "transformer"`` those of
            :class:`~nsbi.sets.transformer.CausalSetTransformer` (loss over every prefix).
    """

    steps: int = 3000
    batch: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    validation: int = 1000
    eval_every: int = 250
    seed: int = 0
    prefixes: bool = True
    network: dict = field(
        default_factory=lambda: {
            "head": "gaussian",
            "encoder": [128, 128],
            "embedding": 64,
            "decoder": [128, 128],
        }
    )


def train_posterior(
    source,
    config: PosteriorTraining | None = None,
    progress: bool = False,
    callback=None,
) -> tuple[nn.Module, SetTrainingHistory]:
    """Train a :class:`SetPosterior` on ``source`` (``sample(n, rng) -> (theta, x, mask)``
    from the prior predictive, ``n_features``, ``n_parameters``, ``prior_moments()``; see
    :mod:`nsbi.sets.sources`).

    Example:
        >>> from nsbi.simulators import MultivariateNormalSource
        >>> config = PosteriorTraining(steps=20, batch=16, validation=32, eval_every=10,
        ...     network={"encoder": [16], "embedding": 8, "decoder": [16]})
        >>> model, history = train_posterior(MultivariateNormalSource(n_max=20), config)
        >>> history.steps
        [10, 20]
    """
    config = config or PosteriorTraining()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    validation = _tensors(source.sample(config.validation, np.random.default_rng([config.seed, 1])))
    theta_val, x_val, w_val = validation
    network = dict(config.network)
    if network.pop("architecture", "deep_set") == "transformer":
        model = CausalSetTransformer(source.n_features, source.n_parameters, **network)
        model.set_scalers(*feature_scaler(x_val, w_val), *source.prior_moments())
    else:
        model = SetPosterior(
            source.n_features, source.n_parameters, scale=float(w_val.sum(-1).mean()), **network
        )
        model.deep_set.set_scalers(*feature_scaler(x_val, w_val))
        model.set_parameter_scaler(*source.prior_moments())
    optimiser = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )

    def loss(batch) -> torch.Tensor:
        theta, x, w = batch
        if config.prefixes:
            # prefix k of a set exists in the sets with N >= k: weighting it by the inverse of
            # that fraction gives every cardinality the weight the whole-set loss gives it
            reach = w.mean(0, keepdim=True).clamp_min(1.0 / len(w))
            weights = w / reach
            return -(model.prefix_log_prob(theta, x, w) * weights).sum() / weights.sum()
        return -model.log_prob(theta, x, w).mean()

    history = optimise(
        model,
        optimiser,
        loss,
        lambda: _tensors(source.sample(config.batch, rng)),
        validation,
        config,
        progress="set posterior" if progress else None,
        callback=callback,
    )
    model.metadata = {
        "training": dataclasses.asdict(config),
        "source": source.describe(),
        "history": dataclasses.asdict(history),
    }
    return model, history


def _tensors(batch) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    theta, x, mask = batch
    return (
        torch.as_tensor(np.asarray(theta), dtype=torch.float32),
        torch.as_tensor(np.asarray(x), dtype=torch.float32),
        torch.as_tensor(np.asarray(mask), dtype=torch.float32),
    )


def save_posterior(model: nn.Module, directory: str | Path) -> Path:
    """Write ``model`` to ``directory`` (safetensors + JSON, replaced atomically; no pickle).

    Example:
        >>> import tempfile
        >>> model = SetPosterior(1, 2, head="flow", encoder=(8,), embedding=4, decoder=(8,))
        >>> again = load_posterior(save_posterior(model, tempfile.mkdtemp() + "/q"))
        >>> x = torch.randn(3, 5, 1)
        >>> torch.equal(again.posterior(x).sample(4), model.posterior(x).sample(4))
        True
    """

    architecture = "transformer" if isinstance(model, CausalSetTransformer) else "deep_set"
    return save_set_model(directory, model, "set_posterior", _METADATA,
                          architecture=architecture, **getattr(model, "metadata", {}))  # fmt: skip


def load_posterior(directory: str | Path) -> nn.Module:
    """Read a posterior written by :func:`save_posterior` (weights only, no pickle)."""

    def build(metadata: dict) -> nn.Module:
        transformer = metadata.get("architecture") == "transformer"
        return (CausalSetTransformer if transformer else SetPosterior)(**metadata["network"])

    model, metadata = load_set_model(directory, "set_posterior", _METADATA, "set posterior", build)
    model.metadata = {k: v for k, v in metadata.items() if k in ("training", "source", "history")}
    return model
