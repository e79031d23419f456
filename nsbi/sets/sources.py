r"""Sources of training datasets for set networks: the roles a source plays, and the source
built from any nsbi workspace.

A source of datasets for the learned profile statistic (:class:`StatisticSource`) has
``n_features``, ``observables``, ``poi`` and ``sample(theta, generator) -> (x, weights)``:
``x`` is ``(B, N, d)`` (one padded set per dataset, ``weights`` a 0/1 mask) or ``(N, d)``
(events shared by every dataset, ``weights`` their Poisson counts), see
:mod:`nsbi.sets.deep_set`. Posterior estimators (:mod:`nsbi.sets.posterior`) draw from the
prior predictive instead (:class:`PosteriorSource`): ``sample(n, rng) -> (theta, x, mask)``
with ``theta`` from the prior; hierarchical ones (:class:`HierarchicalSource`) also return the
local parameters, ``(theta, z, x, mask)``. The toy sources live beside their simulators
(:mod:`nsbi.simulators.sources`).

:class:`WorkspaceSource` serves any nsbi model with one unbinned channel, by Poisson
reweighting of its simulated reference events at :math:`(\mu, \alpha)` (the ATLAS NSBI
method, as in :mod:`nsbi.infer.toys`): :math:`w_i \sim \text{Pois}(\omega_i\lambda(x_i|\mu,
\alpha)/p_\text{ref}(x_i))`. Constrained nuisance parameters are drawn from their constraint
(:math:`\alpha \sim \mathcal{N}(\alpha_0, \sigma)`, clipped to the bounds), free ones
uniformly between ``free_range`` times their initial value (default 0.5 to 2, as
:math:`\theta_\nu` in arXiv:2306.12584). This is amortised profiling of a real analysis model:
the network never sees :math:`\alpha`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import torch

from nsbi.exceptions import NSBIError
from nsbi.model import Model
from nsbi.workspace import Workspace
from nsbi.workspace.events import observed_events, reference_events
from nsbi.workspace.holdout import HELD_OUT

__all__ = ["StatisticSource", "PosteriorSource", "HierarchicalSource", "WorkspaceSource"]


@runtime_checkable
class StatisticSource(Protocol):
    """Datasets at given values of the POI, nuisances drawn inside (``train_statistic``)."""

    n_features: int
    observables: tuple[str, ...]
    poi: str

    def sample(
        self, theta: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(x, weights)`` of ``len(theta)`` datasets."""
        ...

    def describe(self) -> dict:
        """What the source is, for the model's metadata."""
        ...


@runtime_checkable
class PosteriorSource(Protocol):
    """Prior-predictive datasets (``train_posterior``)."""

    @property
    def n_features(self) -> int: ...

    @property
    def n_parameters(self) -> int: ...

    def prior_moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and standard deviation of the prior, to standardise the parameters."""
        ...

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(theta, x, mask)`` of ``n`` datasets."""
        ...

    def describe(self) -> dict: ...


@runtime_checkable
class HierarchicalSource(Protocol):
    """Prior-predictive datasets with global and per-element parameters
    (``train_hierarchical``)."""

    n_min: int
    n_max: int
    element: str
    n_global: int
    n_local: int

    def prior_moments(self) -> tuple:
        """``((global mean, std), (local mean, std))``."""
        ...

    def sample(self, n: int, rng: np.random.Generator) -> tuple:
        """``(theta, z, x, mask)`` of ``n`` datasets."""
        ...

    def describe(self) -> dict: ...


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
        allow_stale: bool = False,
    ) -> WorkspaceSource:
        """The source of a workspace (a :class:`~nsbi.workspace.Workspace` or a path) whose only
        channel is unbinned: its model, reference events and observed events (ratio models
        trained on other events refused unless ``allow_stale``)."""
        if not isinstance(workspace, Workspace):
            workspace = Workspace.load(workspace)
        model = Model.from_workspace(workspace, measurement, interpolation, allow_stale)
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
