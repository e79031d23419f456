r"""A summary of a workspace, as ``pyhf inspect`` gives one, extended to unbinned channels.

:func:`summarise` reads a workspace and reports its channels (binned: bins and observed counts;
unbinned: observables, observed events, the ntuples they come from), their samples and
modifiers, the parameters of one measurement (init, bounds, constraint, fixed), the
measurements and their POIs, and the state of every per-event ratio model that ``nsbi train``
writes for the unbinned channels.

Parameters of the binned channels are pyhf's own: their order, inits, bounds, fixed flags and
constraints are read from ``pyhf.Workspace(spec).model()``. Parameters that only unbinned
channels declare follow :class:`nsbi.model.Model`: pyhf's defaults for their kind (free:
init 1, bounds [0, 10]; Gaussian :math:`\alpha`: init 0, bounds [-5, 5], constraint
:math:`\mathcal{N}(0 | \alpha, 1)`; ``lumi``: init and centre from the measurement's
``auxdata``, width ``sigmas``), overridden by the measurement's ``parameters``.

The state of every ratio model is that of :mod:`nsbi.workflows.status`; the text report is
:mod:`nsbi.workflows.summary_text`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pyhf

from nsbi.exceptions import InvalidWorkspace, Problem
from nsbi.workflows.status import RatioModelStatus, ratio_model_statuses, read_or_record
from nsbi.workflows.summary_text import render
from nsbi.workspace.events import observed_events, sample_events, sample_yield
from nsbi.workspace.expressions import parse
from nsbi.workspace.parameters import unbinned_parameters
from nsbi.workspace.validation import is_unbinned
from nsbi.workspace.workspace import Workspace

__all__ = [
    "ChannelSummary",
    "MeasurementSummary",
    "ModifierSummary",
    "NtupleSummary",
    "ParameterSummary",
    "SampleSummary",
    "WorkspaceSummary",
    "summarise",
]

#: pyhf's constraint pdf types, as the summary names them
_CONSTRAINTS = {"normal": "Gaussian", "poisson": "Poisson"}


@dataclass(frozen=True)
class ModifierSummary:
    """One modifier: its parameter's name and its type (``normsys``, ``shape``, ...)."""

    name: str
    type: str

    def __str__(self) -> str:
        return f"{self.name} ({self.type})"


@dataclass
class SampleSummary:
    r"""One sample of a channel.

    Attributes:
        name: the sample's name.
        modifiers: its modifiers, in the workspace's order.
        nominal_yield: binned: the sum of its nominal counts; unbinned: :math:`\nu_j`, the
            ``yield`` key or the sum of weights after selection (``None`` if unreadable).
        n_events: unbinned: simulated events after selection.
        source: unbinned: the ntuple source (file, tree, weight, selection, ...).
        coefficient: unbinned: the mixture coefficient :math:`f_j` (``"1"`` if not given).
        ratio: unbinned: the folder of its ratio model; ``None`` for the sole reference sample.
    """

    name: str
    modifiers: list[ModifierSummary]
    nominal_yield: float | None = None
    n_events: int | None = None
    source: dict | None = None
    coefficient: str | None = None
    ratio: str | None = None

    def to_dict(self) -> dict:
        out: dict = {
            "name": self.name,
            "yield": self.nominal_yield,
            "modifiers": [{"name": m.name, "type": m.type} for m in self.modifiers],
        }
        if self.source is not None:
            out.update(
                {
                    "events": self.n_events,
                    "source": dict(self.source),
                    "coefficient": self.coefficient,
                    "ratio": self.ratio,
                }
            )
        return out


@dataclass
class NtupleSummary:
    """A tree of a ROOT file an unbinned channel reads, and what reads it."""

    file: str
    tree: str
    used_by: list[str]

    def to_dict(self) -> dict:
        return {"file": self.file, "tree": self.tree, "used_by": list(self.used_by)}


@dataclass
class ChannelSummary:
    r"""One channel.

    Attributes:
        name: the channel's name.
        kind: ``binned`` (a pyhf channel) or ``unbinned``.
        samples: its samples.
        n_observed: binned: the sum of the observed counts; unbinned: the number of observed
            events after selection (``None`` if the ntuple cannot be read).
        n_bins, observed: binned: the number of bins and the observed counts.
        observables: unbinned: the observable names, ``name = expression`` where they differ.
        reference: unbinned: the samples pooled into :math:`p_{\text{ref}}`.
        observed_sum_weights: unbinned: the sum of the observed events' weights.
        ntuples: unbinned: every file and tree the channel reads.
    """

    name: str
    kind: str
    samples: list[SampleSummary]
    n_observed: float | None
    n_bins: int | None = None
    observed: list[float] | None = None
    observables: list[str] | None = None
    reference: list[str] | None = None
    observed_sum_weights: float | None = None
    ntuples: list[NtupleSummary] = field(default_factory=list)

    def to_dict(self) -> dict:
        out: dict = {"name": self.name, "type": self.kind}
        if self.kind == "binned":
            out.update({"bins": self.n_bins, "observed": self.observed})
        else:
            out.update(
                {
                    "observables": self.observables,
                    "reference": self.reference,
                    "observed_sum_weights": self.observed_sum_weights,
                    "ntuples": [n.to_dict() for n in self.ntuples],
                }
            )
        out["observed_events"] = self.n_observed
        out["samples"] = [s.to_dict() for s in self.samples]
        return out


@dataclass
class ParameterSummary:
    """One parameter (a set of components for per-bin modifiers, as in pyhf).

    Attributes:
        name: the parameter's name.
        init, bounds, fixed: per component, in the measurement (pyhf's ``suggested_init``,
            ``suggested_bounds``, ``suggested_fixed`` for binned parameters).
        constraint: ``Gaussian``, ``Poisson`` or ``none``.
        auxdata, width: per component, the constraint's auxiliary data and standard deviation
            (``None`` for a free parameter).
        modifiers: the modifier types that use it (``coefficient`` for a name in a mixture
            coefficient).
        channels: the channels that use it.
        poi: whether it is the measurement's parameter of interest.
        scalar: a single parameter (``name``), not a per-bin set (``name[0]``, ...).
    """

    name: str
    init: list[float]
    bounds: list[tuple[float, float]]
    fixed: list[bool]
    constraint: str
    auxdata: list[float] | None
    width: list[float] | None
    modifiers: list[str]
    channels: list[str]
    poi: bool = False
    scalar: bool = True

    @property
    def component_names(self) -> list[str]:
        """``[name]`` or ``[name[0], name[1], ...]``, as pyhf's ``config.par_names``."""
        if self.scalar:
            return [self.name]
        return [f"{self.name}[{k}]" for k in range(len(self.init))]

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "components": self.component_names,
            "init": list(self.init),
            "bounds": [list(b) for b in self.bounds],
            "fixed": list(self.fixed),
            "constraint": self.constraint,
            "auxdata": self.auxdata,
            "width": self.width,
            "modifiers": list(self.modifiers),
            "channels": list(self.channels),
            "poi": self.poi,
        }


@dataclass
class MeasurementSummary:
    """One measurement: its POI, the parameters it configures, its interpolation codes."""

    name: str
    poi: str
    parameters: list[str]
    interpolation: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "poi": self.poi,
            "parameters": list(self.parameters),
            "interpolation": dict(self.interpolation),
        }


@dataclass
class WorkspaceSummary:
    """What a workspace holds, for one of its measurements (see :func:`summarise`).

    ``str(summary)`` is a text report; :meth:`to_dict` the same as plain JSON-ready data.
    """

    path: Path | None
    version: str
    measurement: str
    poi: str
    channels: list[ChannelSummary]
    parameters: list[ParameterSummary]
    measurements: list[MeasurementSummary]
    ratio_models: list[RatioModelStatus]
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def samples(self) -> list[str]:
        """The distinct sample names of all channels, sorted (as ``pyhf inspect`` counts)."""
        return sorted({s.name for c in self.channels for s in c.samples})

    @property
    def modifiers(self) -> list[ModifierSummary]:
        """The distinct (name, type) modifiers of all channels, sorted (as pyhf's
        ``config.modifiers``)."""
        pairs = {(m.name, m.type) for c in self.channels for s in c.samples for m in s.modifiers}
        return [ModifierSummary(name, kind) for name, kind in sorted(pairs)]

    def channel(self, name: str) -> ChannelSummary:
        return next(c for c in self.channels if c.name == name)

    def parameter(self, name: str) -> ParameterSummary:
        return next(p for p in self.parameters if p.name == name)

    def to_dict(self) -> dict:
        return {
            "path": str(self.path) if self.path is not None else None,
            "version": self.version,
            "measurement": self.measurement,
            "poi": self.poi,
            "summary": {
                "channels": len(self.channels),
                "samples": len(self.samples),
                "parameters": len(self.parameters),
                "modifiers": len(self.modifiers),
            },
            "channels": [c.to_dict() for c in self.channels],
            "parameters": [p.to_dict() for p in self.parameters],
            "modifiers": [{"name": m.name, "type": m.type} for m in self.modifiers],
            "measurements": [m.to_dict() for m in self.measurements],
            "ratio_models": [r.to_dict() for r in self.ratio_models],
            "warnings": list(self.warnings),
            "problems": list(self.problems),
        }

    def __str__(self) -> str:
        return "\n".join(render(self))


def summarise(
    workspace: str | os.PathLike | Workspace, measurement: str | None = None
) -> WorkspaceSummary:
    """Summarise ``workspace`` (a path or a :class:`~nsbi.workspace.Workspace`) for
    ``measurement`` (default: the first).

    Unbinned channels' ntuples are read (to count events and to check the ratio models'
    checksums); a read that fails is recorded in :attr:`WorkspaceSummary.problems`, and what
    depends on it is ``None`` or ``unknown``.

    Arguments:
        workspace: the workspace, or the path of its JSON file.
        measurement: the measurement whose POI and parameter settings are summarised.

    Raises:
        InvalidWorkspace: a file that is missing, not JSON or not a valid workspace, an
            unknown measurement, or one whose binned model pyhf cannot build; each problem
            names the file and the JSON path.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([5.0, 4.0], [50.0, 40.0], [7.0, 6.0], observed=[52, 41])
        >>> summary = summarise(ws)
        >>> [(p.name, p.constraint, p.fixed) for p in summary.parameters]
        [('mu', 'none', [False]), ('uncorr_bkguncrt', 'Poisson', [False, False])]
        >>> print(summary.channel("singlechannel").n_bins, summary.samples)
        2 ['background', 'signal']
        >>> print(summary)
        workspace   (in memory) (version 1.0.0)
        channels    1 (1 binned, 0 unbinned)
        samples     2
        parameters  2 (3 components)
        modifiers   2 (distinct name and type)
        <BLANKLINE>
        channel singlechannel: binned, 2 bins, observed 93 events [52, 41]
          sample      yield  modifiers
          signal          9  mu (normfactor)
          background     90  uncorr_bkguncrt (shapesys)
        <BLANKLINE>
        parameters of measurement m
          parameter           init  bounds       fixed  constraint  auxdata  width  modifiers
          mu (POI)               1  [0, 10]      no     none        -        -      normfactor
          uncorr_bkguncrt[0]     1  [1e-10, 10]  no     Poisson     51.0204  0.14   shapesys
          uncorr_bkguncrt[1]     1  [1e-10, 10]  no     Poisson     44.4444  0.15   shapesys
        <BLANKLINE>
        measurements
          * m  POI mu  parameters: -
    """
    if not isinstance(workspace, Workspace):
        workspace = Workspace.load(workspace)
    config = workspace.measurement(measurement)
    parameters = _parameters(workspace, config)  # first: a measurement pyhf refuses fails fast
    problems: list[str] = []
    channels, ratio_models = [], []
    for channel in workspace.spec["channels"]:
        if is_unbinned(channel):
            summary, models = _unbinned_channel(workspace, channel, problems)
            channels.append(summary)
            ratio_models += models
        else:
            channels.append(_binned_channel(workspace, channel))
    return WorkspaceSummary(
        path=workspace.path,
        version=workspace.spec["version"],
        measurement=config["name"],
        poi=config["config"]["poi"],
        channels=channels,
        parameters=parameters,
        measurements=[
            MeasurementSummary(
                m["name"],
                m["config"]["poi"],
                [p["name"] for p in m["config"]["parameters"]],
                dict(m["config"].get("interpolation", {})),
            )
            for m in workspace.spec["measurements"]
        ],
        ratio_models=ratio_models,
        warnings=[str(w) for w in workspace.warnings],
        problems=problems,
    )


# -- parameters -------------------------------------------------------------------------------


def _usage(spec: dict) -> dict[str, tuple[list[str], list[str]]]:
    """Parameter name -> (modifier types, channels), each in first-seen order."""
    usage: dict[str, tuple[list[str], list[str]]] = {}

    def add(name: str, kind: str, channel: str) -> None:
        kinds, channels = usage.setdefault(name, ([], []))
        if kind not in kinds:
            kinds.append(kind)
        if channel not in channels:
            channels.append(channel)

    for channel in spec["channels"]:
        for sample in channel["samples"]:
            for modifier in sample["modifiers"]:
                add(modifier["name"], modifier["type"], channel["name"])
            if "coefficient" in sample:
                for name in sorted(parse(sample["coefficient"]).names):
                    add(name, "coefficient", channel["name"])
    return usage


def _parameters(workspace: Workspace, measurement: dict) -> list[ParameterSummary]:
    """pyhf's parameters first (in its ``par_order``), then those only unbinned channels use,
    in the order :class:`nsbi.model.Model` gives them."""
    config = measurement["config"]
    poi = config["poi"]
    usage = _usage(workspace.spec)
    parameters: list[ParameterSummary] = []
    binned_spec = workspace.binned_spec()
    if binned_spec is not None:
        binned_poi = poi if poi in workspace.binned_parameter_names() else None
        try:
            model = pyhf.Workspace(binned_spec).model(
                measurement_name=measurement["name"], poi_name=binned_poi
            )
            pyhf_config = model.config
            init = pyhf_config.suggested_init()
            bounds = pyhf_config.suggested_bounds()
            fixed = pyhf_config.suggested_fixed()
        except (pyhf.exceptions.InvalidSpecification, TypeError, ValueError, KeyError) as error:
            index = workspace.measurement_names.index(measurement["name"])
            raise InvalidWorkspace(
                [
                    Problem(
                        f"measurements[{index}].config",
                        f"pyhf cannot build the binned model of measurement "
                        f"{measurement['name']!r}: {error}",
                    )
                ],
                str(workspace.path) if workspace.path else None,
            ) from error
        for name in pyhf_config.par_order:
            part = pyhf_config.par_slice(name)
            param_set = pyhf_config.param_set(name)
            constrained = param_set.constrained
            kinds, channels = usage[name]
            parameters.append(
                ParameterSummary(
                    name=name,
                    init=[float(v) for v in init[part]],
                    bounds=[(float(lo), float(hi)) for lo, hi in bounds[part]],
                    fixed=[bool(v) for v in fixed[part]],
                    constraint=_CONSTRAINTS[param_set.pdf_type] if constrained else "none",
                    auxdata=[float(v) for v in param_set.auxdata] if constrained else None,
                    width=[float(v) for v in param_set.width()] if constrained else None,
                    modifiers=list(kinds),
                    channels=list(channels),
                    poi=name == poi,
                    scalar=bool(param_set.is_scalar),
                )
            )
    seen = {p.name for p in parameters}
    for parameter in unbinned_parameters(workspace.spec, config, skip=seen):
        kinds, channels = usage[parameter.name]
        parameters.append(
            ParameterSummary(
                name=parameter.name,
                init=[parameter.init],
                bounds=[parameter.bounds],
                fixed=[parameter.fixed],
                constraint="Gaussian" if parameter.constrained else "none",
                auxdata=None if parameter.auxdata is None else [parameter.auxdata],
                width=None if parameter.sigma is None else [parameter.sigma],
                modifiers=list(kinds),
                channels=list(channels),
                poi=parameter.name == poi,
            )
        )
    return parameters


# -- channels ---------------------------------------------------------------------------------


def _binned_channel(workspace: Workspace, channel: dict) -> ChannelSummary:
    observed = [float(v) for v in workspace.observation(channel["name"])["data"]]
    samples = [
        SampleSummary(
            name=sample["name"],
            modifiers=[ModifierSummary(m["name"], m["type"]) for m in sample["modifiers"]],
            nominal_yield=float(sum(sample["data"])),
        )
        for sample in channel["samples"]
    ]
    return ChannelSummary(
        name=channel["name"],
        kind="binned",
        samples=samples,
        n_observed=float(sum(observed)),
        n_bins=len(observed),
        observed=observed,
    )


def _observable_label(observable: str | dict) -> str:
    if isinstance(observable, str):
        return observable
    expression = observable.get("expression", observable["name"])
    if expression == observable["name"]:
        return observable["name"]
    return f"{observable['name']} = {expression}"


def _ntuples(workspace: Workspace, channel: dict) -> list[NtupleSummary]:
    found: dict[tuple[str, str], list[str]] = {}

    def add(source: dict, role: str) -> None:
        found.setdefault((source["file"], source["tree"]), []).append(role)

    for sample in channel["samples"]:
        add(sample["source"], f"sample {sample['name']}")
        for modifier in sample["modifiers"]:
            if modifier["type"] == "shape":
                for side in ("hi", "lo"):
                    varied = Workspace.variation_source(sample["source"], modifier, side)
                    add(varied, f"{sample['name']} {modifier['name']} {side}")
    add(workspace.observation(channel["name"])["source"], "observed")
    return [NtupleSummary(file, tree, roles) for (file, tree), roles in found.items()]


def _unbinned_channel(
    workspace: Workspace, channel: dict, problems: list[str]
) -> tuple[ChannelSummary, list[RatioModelStatus]]:
    events = {
        s["name"]: read_or_record(lambda s=s: sample_events(workspace, channel, s), problems)
        for s in channel["samples"]
    }
    observed = read_or_record(lambda: observed_events(workspace, channel), problems)
    samples = []
    for sample in channel["samples"]:
        ev = events[sample["name"]]
        needs_ratio = workspace.needs_ratio_model(channel, sample)
        samples.append(
            SampleSummary(
                name=sample["name"],
                modifiers=[ModifierSummary(m["name"], m["type"]) for m in sample["modifiers"]],
                nominal_yield=(
                    float(sample["yield"])
                    if "yield" in sample
                    else (sample_yield(sample, ev) if ev is not None else None)
                ),
                n_events=ev.n_events if ev is not None else None,
                source=dict(sample["source"]),
                coefficient=sample.get("coefficient", "1"),
                ratio=str(workspace.ratio_path(channel, sample)) if needs_ratio else None,
            )
        )
    summary = ChannelSummary(
        name=channel["name"],
        kind="unbinned",
        samples=samples,
        n_observed=observed.n_events if observed is not None else None,
        observables=[_observable_label(o) for o in channel["observables"]],
        reference=list(channel["reference"]["samples"]),
        observed_sum_weights=observed.sum_weights if observed is not None else None,
        ntuples=_ntuples(workspace, channel),
    )
    return summary, ratio_model_statuses(workspace, channel, events, problems)
