r"""The statistical model: parameters and one negative log-likelihood over every channel kind.

.. math::

    -\ln L(\theta) = \sum_{c \in \text{binned}} \sum_b \left[\nu_{cb}(\theta) - n_{cb} \ln
    \nu_{cb}(\theta) + \ln \Gamma(n_{cb} + 1)\right] - \sum_k \ln \pi_k(a_k | \theta_k)
    + (\text{unbinned channels})

with the binned part and its constraint terms :math:`\pi_k` exactly as pyhf computes them.
Unbinned channels (per-event ratio tables) add their extended likelihoods to the same sum and
share parameters by name. :meth:`Model.nll` is a pure torch function of the parameters, so
iminuit gets exact gradients and Hessians from autograd.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import torch

from nsbi.exceptions import FitError
from nsbi.model.binned import BinnedChannels
from nsbi.workspace import Workspace

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
            raise FitError(
                f"unknown parameter {name!r}; the model's parameters are: {', '.join(self.names)}"
            ) from None

    def __len__(self) -> int:
        return len(self.names)


class Model:
    """A likelihood model built from a :class:`~nsbi.workspace.Workspace` and one measurement.

    Example:
        >>> import pyhf, torch
        >>> from nsbi.workspace import Workspace
        >>> simple = pyhf.simplemodels.uncorrelated_background([5.0], [50.0], [7.0])
        >>> ws = Workspace({"channels": simple.spec["channels"],
        ...                 "observations": [{"name": "singlechannel", "data": [55]}],
        ...                 "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        ...                 "version": "1.0.0"})
        >>> model = Model.from_workspace(ws)
        >>> model.parameters.names
        ['mu', 'uncorr_bkguncrt[0]']
        >>> pars = torch.tensor(model.parameters.init, dtype=torch.float64)
        >>> round(float(model.nll(pars)), 4) == round(-float(simple.logpdf(
        ...     simple.config.suggested_init(), [55.0] + simple.config.auxdata)[0]), 4)
        True
    """

    def __init__(self, workspace: Workspace, measurement: str | None = None):
        self.workspace = workspace
        self.measurement = workspace.measurement(measurement)
        config = self.measurement["config"]
        binned_spec = workspace.binned_spec()
        interpolation = config.get("interpolation", {})
        settings = {
            "normsys": {"interpcode": interpolation.get("normsys", "code4")},
            "histosys": {"interpcode": interpolation.get("histosys", "code4p")},
        }
        self.binned: BinnedChannels | None = None
        if binned_spec is not None:
            binned_pars = workspace.binned_parameter_names()
            poi = config["poi"] if config["poi"] in binned_pars else None
            self.binned = BinnedChannels(binned_spec, self.measurement["name"], poi, settings)
        if workspace.unbinned_channels():
            raise NotImplementedError(
                "unbinned channels are specified by the schema but not yet evaluated by this "
                "version of nsbi; fit the binned channels alone for now"
            )
        b = self.binned
        self.parameters = ParameterSpace(
            names=list(b.par_names),
            init=list(b.init),
            bounds=list(b.bounds),
            fixed=list(b.fixed),
            poi=config["poi"],
            constrained=[b.constrained[name.split("[")[0]] for name in b.par_names],
        )
        self._binned_data = b.data

    @classmethod
    def from_workspace(cls, workspace: Workspace, measurement: str | None = None) -> Model:
        """Build the model of ``measurement`` (the first one by default) with observed data."""
        return cls(workspace, measurement)

    # -- data -------------------------------------------------------------------------------
    @property
    def binned_data(self) -> torch.Tensor:
        """Main counts then auxiliary data of the binned channels (pyhf's layout)."""
        return self._binned_data

    def with_binned_data(self, data: torch.Tensor | np.ndarray) -> Model:
        """A copy of the model bound to other binned data (main counts then auxiliary data)."""
        data = torch.as_tensor(data, dtype=torch.float64)
        if data.shape[-1] != self._binned_data.shape[-1]:
            raise FitError(
                f"binned data has {data.shape[-1]} entries; the model expects "
                f"{self._binned_data.shape[-1]} (main counts then auxiliary data)"
            )
        other = copy.copy(self)
        other._binned_data = data
        return other

    def expected_data(self, pars: torch.Tensor | np.ndarray) -> torch.Tensor:
        """Expected binned data (main counts then auxiliary data) at ``pars``."""
        return self.binned.expected_data(torch.as_tensor(pars, dtype=torch.float64))

    def parameter_vector(self, values: dict[str, float] | None = None) -> torch.Tensor:
        """The init vector with ``values`` (by parameter name) substituted."""
        pars = torch.tensor(self.parameters.init, dtype=torch.float64)
        for name, value in (values or {}).items():
            pars[self.parameters.index(name)] = float(value)
        return pars

    # -- likelihood --------------------------------------------------------------------------
    def nll(self, params: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
        """Negative log-likelihood at ``params`` (shape ``(npar,)`` -> scalar, or
        ``(batch, npar)`` -> ``(batch,)``).

        ``weights`` are per-event weights of the unbinned channels (events, or datasets x
        events); ``None`` uses the weights the model is bound to (1 for observed events).
        """
        params = torch.as_tensor(params, dtype=torch.float64)
        if weights is not None and not self.workspace.unbinned_channels():
            raise FitError("per-event weights were given, but the model has no unbinned channel")
        return self.binned.nll(params, self._binned_data)
