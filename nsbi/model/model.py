r"""The statistical model: parameters and one negative log-likelihood over every channel kind.

.. math::

    -\ln L(\theta) = \underbrace{-\ln L_{\text{pyhf}}(\theta)}_{\text{binned channels and their
    constraints}} + \sum_{c\,\in\,\text{unbinned}} \Big[\nu_c(\theta) - \sum_i w_{ci}
    \ln \sum_j c_{cj}(\theta)\, r_{cj}(x_{ci})\Big] + \sum_{k\,\notin\,\text{pyhf}}
    \frac{1}{2}\Big(\frac{a_k - \theta_k}{\sigma_k}\Big)^2 + \ln(\sqrt{2\pi}\sigma_k)

The binned part and its constraint terms are exactly pyhf's. Unbinned channels (per-event ratio
tables, :mod:`nsbi.model.unbinned`) add their extended likelihoods and share parameters with the
binned channels by name; Gaussian constraints of parameters that only unbinned channels use
(normsys :math:`\alpha`, lumi) are added once. :meth:`Model.nll` is a pure torch function of the
parameters and of the unbinned event weights, so iminuit gets exact gradients and Hessians.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import pyhf
import torch

from nsbi.exceptions import FitError, InvalidArgument, InvalidWorkspace, NSBIError, Problem
from nsbi.model.binned import BinnedChannels
from nsbi.model.interpolation import DEFAULT_INTERPOLATION, interpolation_problem
from nsbi.model.unbinned import SparseWeights, UnbinnedChannel
from nsbi.workspace import Workspace
from nsbi.workspace.coefficients import coefficient_problems
from nsbi.workspace.parameters import unbinned_parameters
from nsbi.workspace.replicas import replica_count

__all__ = ["Model", "ParameterSpace"]


@dataclass
class ParameterSpace:
    """Names, starting values, bounds and fixed flags of a model's parameters.

    Per-bin parameters (``shapesys``, ``staterror``, ``shapefactor``) appear once per component
    as ``name[0]``, ``name[1]``, ... in :attr:`names`, as in pyhf's ``config.par_names``.
    """

    names: list[str]
    init: list[float]
    bounds: list[tuple[float, float]]
    fixed: list[bool]
    poi: str | None
    constrained: list[bool] = field(default_factory=list)

    @property
    def poi_index(self) -> int | None:
        return None if self.poi is None else self.names.index(self.poi)

    def index(self, name: str) -> int:
        """Position of parameter ``name``; an unknown name is a :class:`FitError` listing all."""
        try:
            return self.names.index(name)
        except ValueError:
            raise InvalidArgument(
                f"unknown parameter {name!r}; the model's parameters are: {', '.join(self.names)}"
            ) from None

    def __len__(self) -> int:
        return len(self.names)


@dataclass
class _Constraint:
    r"""Gaussian constraint :math:`\mathcal{N}(a | \theta_k, \sigma)` of a non-pyhf parameter."""

    index: int
    sigma: float
    auxdata: float


class Model:
    """A likelihood model built from a :class:`~nsbi.workspace.Workspace` and one measurement.

    Example:
        >>> import pyhf, torch
        >>> from nsbi.workspace import Workspace
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([5.0], [50.0], [7.0], observed=[55])
        >>> model = Model.from_workspace(ws)
        >>> model.parameters.names
        ['mu', 'uncorr_bkguncrt[0]']
        >>> pars = torch.tensor(model.parameters.init, dtype=torch.float64)
        >>> simple = pyhf.simplemodels.uncorrelated_background([5.0], [50.0], [7.0])
        >>> round(float(model.nll(pars)), 4) == round(-float(simple.logpdf(
        ...     simple.config.suggested_init(), [55.0] + simple.config.auxdata)[0]), 4)
        True
    """

    def __init__(
        self,
        workspace: Workspace,
        measurement: str | None = None,
        interpolation: dict[str, str] | None = None,
        allow_stale: bool = False,
    ):
        self.workspace = workspace
        self.measurement = workspace.measurement(measurement)
        config = self.measurement["config"]
        chosen = {**config.get("interpolation", {}), **(interpolation or {})}
        for kind, code in chosen.items():
            problem = interpolation_problem(kind, code)
            if problem:
                raise NSBIError(f"interpolation {problem}")
        interpolation = {**DEFAULT_INTERPOLATION, **chosen}
        self.binned: BinnedChannels | None = None
        binned_spec = workspace.binned_spec()
        if binned_spec is not None:
            poi = config["poi"] if config["poi"] in workspace.binned_parameter_names() else None
            settings = {
                "normsys": {"interpcode": interpolation["normsys"]},
                "histosys": {"interpcode": interpolation["histosys"]},
            }
            try:
                self.binned = BinnedChannels(binned_spec, self.measurement["name"], poi, settings)
            except (pyhf.exceptions.InvalidSpecification, TypeError, ValueError, KeyError) as error:
                index = workspace.measurement_names.index(self.measurement["name"])
                problem = Problem(
                    f"measurements[{index}].config",
                    f"pyhf cannot build the binned model of measurement "
                    f"{self.measurement['name']!r}: {error} (see pyhf's measurement schema: "
                    "a lumi parameter needs inits as well as auxdata and sigmas)",
                )
                raise InvalidWorkspace([problem], workspace.path and str(workspace.path)) from error
        self.parameters, self._constraints = self._parameter_space(workspace, config, self.binned)
        problems = coefficient_problems(
            workspace.spec, self.parameters.names, self.parameters.bounds, self.parameters.init
        )
        if problems:
            raise InvalidWorkspace(problems, workspace.path and str(workspace.path))
        index = {name: i for i, name in enumerate(self.parameters.names)}
        self._binned_data = self.binned.data if self.binned else None

        from nsbi.model.tables import build_unbinned_channel  # ratios: only for unbinned models

        self._codes = {
            "normsys_code": interpolation["normsys"],
            "shape_code": interpolation["shape"],
            "stale": "allow" if allow_stale else "check",
        }
        self.unbinned: list[UnbinnedChannel] = [
            build_unbinned_channel(workspace, channel, index, **self._codes)
            for channel in workspace.unbinned_channels()
        ]
        self._unbinned_data = {c.name: ("observed", None) for c in self.unbinned}
        self._aux = torch.tensor([c.auxdata for c in self._constraints], dtype=torch.float64)

    @staticmethod
    def _parameter_space(workspace: Workspace, config: dict, binned: BinnedChannels | None):
        """pyhf's parameters first (its order), then those only unbinned channels declare."""
        names, init, bounds, fixed, constrained = [], [], [], [], []
        if binned is not None:
            names = list(binned.par_names)
            init, bounds, fixed = list(binned.init), list(binned.bounds), list(binned.fixed)
            constrained = [binned.constrained[n.split("[")[0]] for n in binned.par_names]
        constraints: list[_Constraint] = []
        for parameter in unbinned_parameters(workspace.spec, config, skip=set(names)):
            names.append(parameter.name)
            init.append(parameter.init)
            bounds.append(parameter.bounds)
            fixed.append(parameter.fixed)
            constrained.append(parameter.constrained)
            if parameter.constrained:
                constraints.append(_Constraint(len(names) - 1, parameter.sigma, parameter.auxdata))
        poi = config["poi"]
        if poi not in names:
            raise FitError(f"POI {poi!r} is not a parameter of the model")
        space = ParameterSpace(names, init, bounds, fixed, poi, constrained)
        return space, constraints

    @property
    def twice_differentiable(self) -> bool:
        """Whether torch's double backward gives exact second derivatives of :meth:`nll`
        (False with fused per-event shape systematics, see :mod:`nsbi.model.shapes`; the
        minimiser then differentiates the exact gradient numerically)."""
        return all(channel.twice_differentiable for channel in self.unbinned)

    @property
    def prefit_uncertainties(self) -> np.ndarray:
        r"""Pre-fit standard deviation of each parameter: the width of its constraint term
        (pyhf's ``param_set.width()`` for binned parameters, 1 for a unit-Gaussian
        :math:`\alpha`, ``sigmas`` for ``lumi``), 0 for free parameters."""
        widths = np.zeros(len(self.parameters))
        if self.binned is not None:
            widths[: len(self.binned.widths)] = self.binned.widths
        for constraint in self._constraints:
            widths[constraint.index] = constraint.sigma
        return widths

    @classmethod
    def from_workspace(
        cls,
        workspace: Workspace,
        measurement: str | None = None,
        interpolation: dict[str, str] | None = None,
        allow_stale: bool = False,
    ) -> Model:
        """Build the model of ``measurement`` (the first one by default) with observed data;
        ``interpolation`` (e.g. ``{"normsys": "code1", "histosys": "code0"}``, the ROOT-era
        codes) overrides the measurement's ``config.interpolation``. A ratio model trained on
        other events than the workspace's is refused (:class:`~nsbi.exceptions.StaleModel`)
        unless ``allow_stale``."""
        return cls(workspace, measurement, interpolation, allow_stale)

    # -- data -------------------------------------------------------------------------------
    @property
    def binned_data(self) -> torch.Tensor | None:
        """Main counts then auxiliary data of the binned channels (pyhf's layout)."""
        return self._binned_data

    def with_binned_data(self, data: torch.Tensor | np.ndarray) -> Model:
        """A copy of the model bound to other binned data (main counts then auxiliary data)."""
        if self.binned is None:
            raise FitError("the model has no binned channel")
        data = torch.as_tensor(data, dtype=torch.float64)
        if data.shape[-1] != self._binned_data.shape[-1]:
            raise FitError(
                f"binned data has {data.shape[-1]} entries; the model expects "
                f"{self._binned_data.shape[-1]} (main counts then auxiliary data)"
            )
        other = copy.copy(self)
        other._binned_data = data
        return other

    def with_unbinned_data(
        self, channel: str, dataset: str, weights: torch.Tensor | None = None
    ) -> Model:
        """A copy bound to ``dataset`` (``observed`` or ``reference`` events) of ``channel``
        with ``weights`` (default: the dataset's own)."""
        other = copy.copy(self)
        other._unbinned_data = {**self._unbinned_data, channel: (dataset, weights)}
        return other

    def with_auxdata(self, aux: torch.Tensor) -> Model:
        """A copy with other auxiliary data for the constraints of non-pyhf parameters:
        ``(n_constraints,)`` or ``(batch, n_constraints)``."""
        other = copy.copy(self)
        other._aux = torch.as_tensor(aux, dtype=torch.float64)
        return other

    @property
    def replicas(self) -> int:
        """The bootstrap replicas every unbinned channel declares (``mc_stat.replicas``; the
        smallest over channels, 0 when a channel or the model has none)."""
        counts = [replica_count(c) for c in self.workspace.unbinned_channels()]
        return min(counts) if counts else 0

    def replica(self, replica: int) -> Model:
        r"""The model of bootstrap replica ``replica`` (:mod:`nsbi.workspace.replicas`): every
        unbinned channel's tables from the replica's ensembles, reference pool and yields,
        bound to the same data as this model (the replica's reference pool holds the same
        events, reweighted, so Asimov and toy weights carry over)."""
        from nsbi.model.tables import build_unbinned_channel

        index = {name: i for i, name in enumerate(self.parameters.names)}
        other = copy.copy(self)
        other.unbinned = [
            build_unbinned_channel(self.workspace, channel, index, replica=replica, **self._codes)
            for channel in self.workspace.unbinned_channels()
        ]
        return other

    def asimov(self, pars: torch.Tensor | np.ndarray) -> Model:
        """The model bound to the Asimov dataset at ``pars``: expected binned counts and
        auxiliary data, reference events weighted to the expected intensity."""
        pars = torch.as_tensor(pars, dtype=torch.float64)
        other = (
            self.with_binned_data(self.binned.expected_data(pars))
            if self.binned
            else copy.copy(self)
        )
        with torch.no_grad():
            for channel in self.unbinned:
                other = other.with_unbinned_data(
                    channel.name, "reference", channel.asimov_weights(pars)
                )
        aux = (
            torch.stack([pars[c.index] for c in self._constraints])
            if self._constraints
            else self._aux
        )
        return other.with_auxdata(aux)

    def expected_data(self, pars: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Expected binned data (main counts then auxiliary data) at ``pars``."""
        if self.binned is None:
            raise FitError("the model has no binned channel")
        return self.binned.expected_data(torch.as_tensor(pars, dtype=torch.float64))

    def parameter_vector(self, values: dict[str, float] | None = None) -> torch.Tensor:
        """The init vector with ``values`` (by parameter name) substituted."""
        pars = torch.tensor(self.parameters.init, dtype=torch.float64)
        for name, value in (values or {}).items():
            pars[self.parameters.index(name)] = float(value)
        return pars

    # -- likelihood --------------------------------------------------------------------------
    def nll(
        self, params: torch.Tensor, weights: torch.Tensor | dict[str, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """Negative log-likelihood at ``params`` (shape ``(npar,)`` -> scalar, or
        ``(batch, npar)`` -> ``(batch,)``).

        ``weights`` are per-event weights of the unbinned channels: a tensor (or
        :class:`~nsbi.model.unbinned.SparseWeights`) when there is one unbinned channel, else
        ``{channel: tensor}``; each ``(events,)`` or ``(batch, events)`` over the events the
        channel is bound to. ``None`` uses the bound weights (1 for
        observed events, the Asimov weights after :meth:`asimov`).
        """
        params = torch.as_tensor(params, dtype=torch.float64)
        if weights is not None and not self.unbinned:
            raise FitError("per-event weights were given, but the model has no unbinned channel")
        if isinstance(weights, (torch.Tensor, SparseWeights)):
            if len(self.unbinned) != 1:
                raise FitError("several unbinned channels: pass weights as {channel: tensor}")
            weights = {self.unbinned[0].name: weights}
        weights = weights or {}
        total = torch.zeros(params.shape[:-1], dtype=torch.float64)
        if self.binned is not None:
            total = total + self.binned.nll(
                params[..., : len(self.binned.par_names)], self._binned_data
            )
        for channel in self.unbinned:
            dataset, bound = self._unbinned_data[channel.name]
            w = weights.get(channel.name, bound)
            total = total + channel.nll(params, dataset, w)
        for i, constraint in enumerate(self._constraints):
            pull = (self._aux[..., i] - params[..., constraint.index]) / constraint.sigma
            total = total + 0.5 * pull**2 + math.log(math.sqrt(2 * math.pi) * constraint.sigma)
        return total
