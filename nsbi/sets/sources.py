r"""Sources of training datasets for set networks: whole datasets drawn at a value of the
parameter of interest, with the nuisance parameters drawn at random.

A source has ``n_features``, ``observables`` and ``sample(theta, generator) -> (x, weights)``:
``x`` is ``(B, N, d)`` (one padded set per dataset, ``weights`` a 0/1 mask) or ``(N, d)``
(events shared by every dataset, ``weights`` their Poisson counts), see
:mod:`nsbi.sets.deep_set`.

- :class:`SimulatorSource`: the signal-plus-background mixture of section 3.2 of
  arXiv:2306.12584, :math:`\theta_\nu \sim U(0.5, 2)` per dataset (appendix A.2).
- :class:`WorkspaceSource`: any nsbi model with one unbinned channel, by Poisson reweighting of
  its simulated reference events at :math:`(\mu, \alpha)` (the ATLAS NSBI method, as in
  :mod:`nsbi.infer.toys`): :math:`w_i \sim \text{Pois}(\omega_i\lambda(x_i|\mu,\alpha)/
  p_\text{ref}(x_i))`. Constrained nuisance parameters are drawn from their constraint
  (:math:`\alpha \sim \mathcal{N}(\alpha_0, \sigma)`, clipped to the bounds), free ones
  uniformly between ``free_range`` times their initial value (default 0.5 to 2, as
  :math:`\theta_\nu` in the paper). This is amortised profiling of a real analysis model: the
  network never sees :math:`\alpha`.

Posterior estimators (:mod:`nsbi.sets.posterior`) draw from the prior predictive instead:
``sample(n, rng) -> (theta, x, mask)`` with ``theta`` from the prior.

- :class:`MultivariateNormalSource`: section 3.1, :math:`N \sim U(1, N_\text{max})` elements.
- :class:`BumpHuntSource`: section 3.3, 100 events; the target is the signal fraction
  :math:`\theta` alone (``parameters=(0,)``, the resonance position marginalised) or both.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from nsbi.exceptions import NSBIError
from nsbi.simulators.bump_hunt import BumpHuntToy
from nsbi.simulators.hierarchical_normal import HierarchicalNormalToy
from nsbi.simulators.lensing import LensingSimulator
from nsbi.simulators.mvn import MultivariateNormalToy
from nsbi.simulators.signal_background import SignalBackgroundMixture

__all__ = [
    "SimulatorSource",
    "WorkspaceSource",
    "MultivariateNormalSource",
    "BumpHuntSource",
    "HierarchicalNormalSource",
    "LensingSource",
]


@dataclass
class SimulatorSource:
    r"""Datasets of :class:`~nsbi.simulators.SignalBackgroundMixture` with a random
    :math:`\theta_\nu \sim U(\text{nuisance\_range})`.

    Example:
        >>> source = SimulatorSource()
        >>> x, w = source.sample(torch.tensor([5.0, 5.0]), torch.Generator().manual_seed(0))
        >>> x.shape[0], x.shape[2], w.shape == x.shape[:2]
        (2, 1, True)
    """

    simulator: SignalBackgroundMixture = field(default_factory=SignalBackgroundMixture)
    nuisance_range: tuple[float, float] = (0.5, 2.0)
    n_features: int = 1
    observables: tuple[str, ...] = ("x",)
    poi: str = "theta"

    def sample(
        self, theta: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.nuisance_range
        nu = lo + (hi - lo) * torch.rand(len(theta), generator=generator, dtype=torch.float64)
        return self.simulator.simulate(theta.clamp_min(0.0), nu, generator)

    def describe(self) -> dict:
        return {
            "kind": "simulator",
            "simulator": type(self.simulator).__name__,
            "settings": dataclasses.asdict(self.simulator),
            "nuisance_range": list(self.nuisance_range),
        }


class WorkspaceSource:
    """Poisson-reweighted datasets of the one unbinned channel of ``model`` (module docstring).

    Arguments:
        model: an :class:`~nsbi.model.Model` whose only channel is unbinned.
        features: ``(N, d)`` observables of the channel's reference events, in the order the
            model holds them (:func:`nsbi.workspace.events.reference_events`).
        observables: their names.
        free_range: range of the factor applied to free nuisance parameters' initial values.
        observed: ``(n, d)`` observables of the observed events, if known.
    """

    def __init__(
        self,
        model,
        features: np.ndarray,
        observables: tuple[str, ...],
        free_range: tuple[float, float] = (0.5, 2.0),
        observed: np.ndarray | None = None,
    ):
        if model.binned is not None or len(model.unbinned) != 1:
            raise NSBIError(
                "a learned statistic is trained on a model with exactly one unbinned channel and "
                f"no binned ones (this one has {len(model.unbinned)} unbinned and "
                f"{0 if model.binned is None else 'some'} binned channels); build a workspace "
                "with that channel alone"
            )
        if model.parameters.poi is None:
            raise NSBIError("the measurement has no POI; a learned statistic tests the POI")
        self.model = model
        self.channel = model.unbinned[0]
        features = np.asarray(features, dtype=np.float32)
        if features.ndim == 1:
            features = features[:, None]
        n_reference = self.channel.n_events("reference")
        if len(features) != n_reference:
            raise NSBIError(
                f"channel {self.channel.name!r}: {len(features)} feature rows for "
                f"{n_reference} reference events; pass the channel's reference events"
            )
        self.features = torch.as_tensor(features)
        self.observed = None
        if observed is not None:
            self.observed = torch.as_tensor(np.asarray(observed, dtype=np.float32)).reshape(
                -1, features.shape[1]
            )
        self.n_features = features.shape[1]
        self.observables = tuple(observables)
        self.poi = model.parameters.poi
        self.free_range = tuple(float(v) for v in free_range)
        space = model.parameters
        self._poi_index = space.poi_index
        self._init = torch.tensor(space.init, dtype=torch.float64)
        self._bounds = torch.tensor(space.bounds, dtype=torch.float64)
        widths = torch.as_tensor(model.prefit_uncertainties, dtype=torch.float64)
        fixed = torch.tensor(space.fixed, dtype=torch.bool)
        movable = ~fixed
        movable[self._poi_index] = False
        self._constrained = movable & (widths > 0)
        self._free = movable & (widths == 0)
        self._widths = widths

    @classmethod
    def from_workspace(
        cls,
        workspace,
        measurement: str | None = None,
        interpolation: dict[str, str] | None = None,
        free_range: tuple[float, float] = (0.5, 2.0),
    ) -> WorkspaceSource:
        """The source of a workspace (a :class:`~nsbi.workspace.Workspace` or a path) whose only
        channel is unbinned: its model, reference events and observed events."""
        from nsbi.model import Model
        from nsbi.workspace import Workspace
        from nsbi.workspace.events import observed_events, reference_events
        from nsbi.workspace.holdout import HELD_OUT

        if not isinstance(workspace, Workspace):
            workspace = Workspace.load(workspace)
        model = Model.from_workspace(workspace, measurement, interpolation)
        channel = workspace.channel(model.unbinned[0].name) if model.unbinned else None
        if channel is None or model.binned is not None or len(model.unbinned) != 1:
            return cls(model, np.zeros((0, 1)), ())  # raises the error naming the fix
        reference = reference_events(workspace, channel, part=HELD_OUT)  # the model's pool
        observed = observed_events(workspace, channel)
        return cls(
            model,
            reference.features,
            tuple(reference.observables),
            free_range,
            observed=observed.features,
        )

    def parameters(self, theta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """Parameter vectors ``(B, npar)``: the POI at ``theta``, nuisances drawn at random."""
        B = len(theta)
        pars = self._init.repeat(B, 1)
        pars[:, self._poi_index] = theta.to(torch.float64)
        normal = torch.randn(B, len(self._init), generator=generator, dtype=torch.float64)
        pars = torch.where(self._constrained, self._init + self._widths * normal, pars)
        lo, hi = self.free_range
        factor = lo + (hi - lo) * torch.rand(B, len(self._init), generator=generator,
                                             dtype=torch.float64)  # fmt: skip
        pars = torch.where(self._free, self._init * factor, pars)
        return torch.maximum(torch.minimum(pars, self._bounds[:, 1]), self._bounds[:, 0])

    def sample(
        self, theta: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with torch.no_grad():
            expected = self.channel.asimov_weights(self.parameters(theta, generator))
            weights = torch.poisson(expected.clamp_min(0.0), generator=generator)
        return self.features, weights.float()

    def describe(self) -> dict:
        return {"kind": "workspace", "channel": self.channel.name,
                "free_range": list(self.free_range)}  # fmt: skip


@dataclass
class MultivariateNormalSource:
    r"""Prior-predictive datasets of :class:`~nsbi.simulators.MultivariateNormalToy` with
    :math:`N \sim U(n_\text{min}, n_\text{max})` elements each, padded to ``n_max``.

    Example:
        >>> theta, x, mask = MultivariateNormalSource(n_max=10).sample(4, np.random.default_rng(0))
        >>> theta.shape, x.shape, mask.shape
        ((4, 3), (4, 10, 15), (4, 10))
    """

    toy: MultivariateNormalToy = field(default_factory=MultivariateNormalToy)
    n_min: int = 1
    n_max: int = 200

    @property
    def n_features(self) -> int:
        return self.toy.n_features

    @property
    def n_parameters(self) -> int:
        return self.toy.dim

    def prior_moments(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.toy.dim), np.full(self.toy.dim, self.toy.prior_std)

    def sample(self, n: int, rng: np.random.Generator):
        theta = self.toy.sample_prior(n, rng)
        sizes = rng.integers(self.n_min, self.n_max + 1, size=n)
        x, mask = self.toy.simulate(theta, sizes, rng, pad_to=self.n_max)
        return theta, x, mask

    def describe(self) -> dict:
        return {"kind": "MultivariateNormalToy", "settings": dataclasses.asdict(self.toy),
                "n_min": self.n_min, "n_max": self.n_max}  # fmt: skip


@dataclass
class BumpHuntSource:
    r"""Prior-predictive datasets of :class:`~nsbi.simulators.BumpHuntToy` (``n_events`` each,
    one feature); ``parameters`` picks the columns of :math:`(\theta, \theta_\nu)` the
    posterior is over.

    Example:
        >>> theta, x, mask = BumpHuntSource().sample(3, np.random.default_rng(0))
        >>> theta.shape, x.shape, mask.shape
        ((3, 1), (3, 100, 1), (3, 100))
    """

    toy: BumpHuntToy = field(default_factory=BumpHuntToy)
    parameters: tuple[int, ...] = (0,)
    n_features: int = 1

    @property
    def n_parameters(self) -> int:
        return len(self.parameters)

    def prior_moments(self) -> tuple[np.ndarray, np.ndarray]:
        loc = np.array([0.5, self.toy.nu_prior_mean])[list(self.parameters)]
        scale = np.array([math.sqrt(1 / 12), self.toy.nu_prior_std])[list(self.parameters)]
        return loc, scale

    def sample(self, n: int, rng: np.random.Generator):
        params = self.toy.sample_prior(n, rng)
        x = self.toy.simulate(params, rng)
        return params[:, list(self.parameters)], x[..., None], np.ones(x.shape)

    def describe(self) -> dict:
        return {"kind": "BumpHuntToy", "settings": dataclasses.asdict(self.toy),
                "parameters": list(self.parameters)}  # fmt: skip


@dataclass
class HierarchicalNormalSource:
    r"""Prior-predictive datasets of :class:`~nsbi.simulators.hierarchical_normal.
    HierarchicalNormalToy` with :math:`N \sim U(n_\text{min}, n_\text{max})` elements, for
    :func:`~nsbi.sets.hierarchical.train_hierarchical`: ``(theta, z, x, mask)``.

    Example:
        >>> theta, z, x, mask = HierarchicalNormalSource(n_max=5).sample(2, np.random.default_rng(0))
        >>> theta.shape, z.shape, x.shape, mask.shape
        ((2, 1), (2, 5, 1), (2, 5, 4), (2, 5))
    """

    toy: HierarchicalNormalToy = field(default_factory=HierarchicalNormalToy)
    n_min: int = 1
    n_max: int = 20
    element: str = "mlp"
    n_global: int = 1
    n_local: int = 1

    @property
    def n_features(self) -> int:
        return self.toy.measurements

    def prior_moments(self):
        toy = self.toy
        local_std = np.hypot(toy.prior_std, toy.tau)
        return ([0.0], [toy.prior_std]), ([0.0], [local_std])

    def sample(self, n: int, rng: np.random.Generator):
        theta = self.toy.sample_prior(n, rng)
        sizes = rng.integers(self.n_min, self.n_max + 1, size=n)
        return self.toy.simulate(theta, sizes, rng, pad_to=self.n_max)

    def describe(self) -> dict:
        return {"kind": "HierarchicalNormalToy", "settings": dataclasses.asdict(self.toy),
                "n_min": self.n_min, "n_max": self.n_max}  # fmt: skip


@dataclass
class LensingSource:
    r"""Datasets of strong-lensing images (:class:`~nsbi.simulators.lensing.LensingSimulator`):
    global :math:`(\alpha, \beta)` from the prior, :math:`N \sim U(n_\text{min},
    n_\text{max})` images each with local :math:`(\theta_E, \Delta x, \Delta y, q)`;
    images in units of the sky noise above the sky (``simulator.normalise``).

    Example:
        >>> theta, z, x, mask = LensingSource(n_max=3).sample(2, np.random.default_rng(0))
        >>> theta.shape, z.shape, x.shape, mask.shape
        ((2, 2), (2, 3, 4), (2, 3, 64, 64), (2, 3))
    """

    simulator: LensingSimulator = field(default_factory=LensingSimulator)
    n_min: int = 1
    n_max: int = 25
    element: str = "image"
    n_features: int = 0
    n_global: int = 2
    n_local: int = 4

    def prior_moments(self):
        prior = self.simulator.prior

        def uniform(bounds):
            return (bounds[0] + bounds[1]) / 2, (bounds[1] - bounds[0]) / math.sqrt(12)

        (a, sa), (b, sb) = uniform(prior.alpha_range), uniform(prior.beta_range)
        (t, st), (q, sq) = uniform(prior.theta_E_range), uniform(prior.q_range)
        o = prior.offset_std
        return ([a, b], [sa, sb]), ([t, 0.0, 0.0, q], [st, o, o, sq])

    def sample(self, n: int, rng: np.random.Generator):
        theta = self.simulator.prior.sample_global(n, rng)
        sizes = rng.integers(self.n_min, self.n_max + 1, size=n)
        images, local, mask = self.simulator.simulate_datasets(theta, sizes, rng, pad_to=self.n_max)
        return theta, local, self.simulator.normalise(images), mask.astype(np.float32)

    def describe(self) -> dict:
        return {"kind": "LensingSimulator", "n_min": self.n_min, "n_max": self.n_max}
