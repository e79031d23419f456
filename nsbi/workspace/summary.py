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

A ratio model (one per sample that needs one, two per learned ``shape`` modifier) is

- ``missing`` when its folder does not exist;
- ``up to date`` when the checksum stored with it equals the checksum of what ``nsbi train``
  would train it on now (the features and weights of its events and of its denominator events,
  so the ntuples' contents, selections, weights, scales and yields; the training settings
  without the device; the number of members; the aggregation): the test by which
  ``nsbi train`` skips a model. It must also load and have the channel's observables;
- ``stale`` otherwise, with the reasons: the settings it was trained with next to the current
  ones, changed training events (the stored checksum, recomputed with the stored settings, no
  longer matches; the input files modified after the model was written are named), other
  observables, or a model that does not load;
- ``unknown`` when its training events cannot be read (the reading error is in
  :attr:`WorkspaceSummary.problems`).

Touching an ntuple without changing its contents leaves its models up to date, as it does for
``nsbi train``. The ratio checks reuse :mod:`nsbi.ratios` (imported when needed).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import pyhf

from nsbi.exceptions import InvalidWorkspace, NSBIError, Problem
from nsbi.io import EventSample
from nsbi.workspace.events import (
    observed_events,
    ratio_training_pair,
    sample_events,
    sample_yield,
)
from nsbi.workspace.expressions import parse
from nsbi.workspace.validation import UNBINNED_PARAMETER_DEFAULTS, is_unbinned, parameter_kinds
from nsbi.workspace.workspace import Workspace

__all__ = [
    "ChannelSummary",
    "MeasurementSummary",
    "ModifierSummary",
    "NtupleSummary",
    "ParameterSummary",
    "RatioModelStatus",
    "SampleSummary",
    "WorkspaceSummary",
    "summarise",
]

#: pyhf's constraint pdf types, as the summary names them
_CONSTRAINTS = {"normal": "Gaussian", "poisson": "Poisson"}

#: init and bounds of a parameter only unbinned channels declare, by kind (as nsbi.model.Model)

#: how ``nsbi train`` aggregates ensemble members (part of the stored checksum)
_AGGREGATION = "mean_log_ratio"


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
class RatioModelStatus:
    """The state of one ratio model an unbinned channel declares.

    Attributes:
        channel: the channel.
        name: the sample, or ``SAMPLE_MODIFIER_hi``/``_lo`` for a learned shape variation (the
            labels of ``nsbi train``).
        path: the model's folder.
        status: ``up to date``, ``missing``, ``stale`` or ``unknown``.
        reasons: why it is not up to date (empty when it is).
        members: the ensemble size it was trained with.
        trained: when it was written (local time, ISO 8601).
    """

    channel: str
    name: str
    path: Path
    status: str
    reasons: list[str] = field(default_factory=list)
    members: int | None = None
    trained: str | None = None

    def to_dict(self) -> dict:
        return {
            "channel": self.channel,
            "name": self.name,
            "path": str(self.path),
            "status": self.status,
            "reasons": list(self.reasons),
            "members": self.members,
            "trained": self.trained,
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
        return "\n".join(_render(self))


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
        >>> import pyhf
        >>> simple = pyhf.simplemodels.uncorrelated_background([5.0, 4.0], [50.0, 40.0], [7.0, 6.0])
        >>> ws = Workspace({"channels": simple.spec["channels"],
        ...                 "observations": [{"name": "singlechannel", "data": [52, 41]}],
        ...                 "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        ...                 "version": "1.0.0"})
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
    family = parameter_kinds(workspace.spec)
    configured = {p["name"]: p for p in config["parameters"]}
    for channel in workspace.unbinned_channels():
        used = []
        for sample in channel["samples"]:
            used += [m["name"] for m in sample["modifiers"]]
            if "coefficient" in sample:
                used += sorted(parse(sample["coefficient"]).names)
        for name in used:
            if name in seen:
                continue
            seen.add(name)
            kind = family[name]
            value, bound = UNBINNED_PARAMETER_DEFAULTS[kind]
            settings = configured.get(name, {})
            auxdata = width = None
            if kind == "lumi":
                auxdata = [float(settings.get("auxdata", [1.0])[0])]
                width = [float(settings.get("sigmas", [float("nan")])[0])]
                value = auxdata[0]
            elif kind == "gaussian":
                auxdata, width = [0.0], [1.0]
            value = settings.get("inits", [value])[0]
            lo, hi = settings.get("bounds", [bound])[0]
            kinds, channels = usage[name]
            parameters.append(
                ParameterSummary(
                    name=name,
                    init=[float(value)],
                    bounds=[(float(lo), float(hi))],
                    fixed=[bool(settings.get("fixed", False))],
                    constraint="none" if kind == "free" else "Gaussian",
                    auxdata=auxdata,
                    width=width,
                    modifiers=list(kinds),
                    channels=list(channels),
                    poi=name == poi,
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


def _read(what: Callable[[], EventSample], problems: list[str]) -> EventSample | None:
    """``what()``, or ``None`` with the error recorded in ``problems``."""
    try:
        return what()
    except NSBIError as error:
        problems.append(str(error))
        return None


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
        s["name"]: _read(lambda s=s: sample_events(workspace, channel, s), problems)
        for s in channel["samples"]
    }
    observed = _read(lambda: observed_events(workspace, channel), problems)
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
    return summary, _ratio_models(workspace, channel, events, problems)


# -- ratio models -----------------------------------------------------------------------------


@dataclass
class _Job:
    """One ratio model as ``nsbi train`` sees it: what it is trained on and where it lives."""

    name: str
    path: Path
    pair: Callable[[], tuple[EventSample, EventSample] | None]
    inputs: list[Path]


def _jobs(workspace: Workspace, channel: dict, events: dict) -> list[_Job]:
    """The ratio models of ``channel``, in the order ``nsbi train`` trains them, each with its
    training pair (:func:`nsbi.workspace.events.ratio_training_pair`, read when asked)."""
    by_name = {s["name"]: s for s in channel["samples"]}
    reference_files = [
        workspace.resolve(by_name[name]["source"]["file"])
        for name in channel["reference"]["samples"]
    ]

    def pair(ensemble) -> tuple[EventSample, EventSample] | None:
        needed = [ensemble.sample["name"], *channel["reference"]["samples"]]
        if any(events[name] is None for name in needed):
            return None
        return ratio_training_pair(workspace, channel, ensemble, events)

    jobs = []
    for ensemble in workspace.ratio_ensembles(channel):
        sample = ensemble.sample
        own = workspace.resolve(sample["source"]["file"])
        if ensemble.is_variation:
            varied = Workspace.variation_source(sample["source"], ensemble.modifier, ensemble.side)
            inputs = [workspace.resolve(varied["file"]), own]
        else:
            inputs = [own, *reference_files]
        jobs.append(_Job(ensemble.label, ensemble.path, lambda e=ensemble: pair(e), inputs))
    return jobs


def _settings_changes(metadata: dict, current: dict, members: int) -> list[str]:
    """``key stored -> current`` for every training setting that differs (not the device)."""
    stored = {k: v for k, v in metadata.get("training", {}).items() if k != "device"}
    current = {k: v for k, v in current.items() if k != "device"}
    changes = [
        f"{key} {stored.get(key)!r} -> {current.get(key)!r}"
        for key in sorted(set(stored) | set(current))
        if stored.get(key) != current.get(key)
    ]
    if metadata.get("members") != members:
        changes.append(f"members {metadata.get('members')!r} -> {members!r}")
    if metadata.get("aggregation") != _AGGREGATION:
        changes.append(f"aggregation {metadata.get('aggregation')!r} -> {_AGGREGATION!r}")
    return changes


def _display(path: Path, workspace: Workspace) -> str:
    base = workspace.base_dir
    if base is not None and path.is_relative_to(base):
        return str(path.relative_to(base))
    return str(path)


def _ratio_models(
    workspace: Workspace, channel: dict, events: dict, problems: list[str]
) -> list[RatioModelStatus]:
    from nsbi.ratios.ensemble import checksum_as_trained, ensemble_checksum
    from nsbi.ratios.serialization import _METADATA, RatioModelError, load_ensemble, read_metadata
    from nsbi.ratios.training import TrainingConfig
    from nsbi.ratios.workspace_ratios import DEFAULT_MEMBERS

    spec = channel.get("training", {})
    config = TrainingConfig.from_spec(spec)
    members = spec.get("members", DEFAULT_MEMBERS)
    observables = Workspace.observable_names(channel)
    statuses = []
    for job in _jobs(workspace, channel, events):
        status = RatioModelStatus(channel["name"], job.name, job.path, "up to date")
        statuses.append(status)
        if not job.path.exists():
            status.status = "missing"
            status.reasons.append("not trained yet (`nsbi train WORKSPACE` trains it)")
            continue
        try:
            metadata = read_metadata(job.path)
        except RatioModelError as error:
            status.status = "stale"
            status.reasons.append(str(error))
            continue
        written = (job.path / _METADATA).stat().st_mtime
        status.trained = datetime.fromtimestamp(written).isoformat(timespec="seconds")
        status.members = metadata.get("members", metadata.get("n_members"))
        pair = _read(job.pair, problems)
        if pair is None:
            status.status = "unknown"
            status.reasons.append("its training events cannot be read (see the problems)")
            continue
        numerator, denominator = pair
        arrays = (numerator.features, numerator.weights, denominator.features, denominator.weights)
        current = ensemble_checksum(*arrays, config, members, _AGGREGATION)
        stored = metadata.get("checksum")
        if current != stored:
            changes = _settings_changes(metadata, config.to_dict(), members)
            if changes:
                status.reasons.append("training settings changed: " + ", ".join(changes))
            if checksum_as_trained(metadata, *arrays) != stored:
                newer = [
                    _display(p, workspace)
                    for p in dict.fromkeys([*job.inputs, workspace.path])
                    if p is not None and p.exists() and p.stat().st_mtime > written
                ]
                status.reasons.append(
                    "its training events changed (their checksum differs from the one stored "
                    "with the model)"
                    + (f"; modified since it was trained: {', '.join(newer)}" if newer else "")
                )
        if metadata.get("observables") != observables:
            status.reasons.append(
                f"trained on observables {metadata.get('observables')}; the channel has "
                f"{observables}"
                + (" (retrain with nsbi train --force)" if current == stored else "")
            )
        if not status.reasons:
            try:
                load_ensemble(job.path)
            except RatioModelError as error:
                status.reasons.append(f"{error} (nsbi train --force)")
        if status.reasons:
            status.status = "stale"
    return statuses


# -- text -------------------------------------------------------------------------------------


def _number(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "?"
    return f"{value:.6g}"


def _table(
    header: list[str], rows: list[list[str]], right: set[int], indent: str = "  "
) -> list[str]:
    widths = [max(len(r[k]) for r in [header, *rows]) for k in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = [
            cell.rjust(widths[k]) if k in right else cell.ljust(widths[k])
            for k, cell in enumerate(row)
        ]
        lines.append((indent + "  ".join(cells)).rstrip())
    return lines


def _selection_label(source: dict) -> str:
    parts = [source["selection"]] if "selection" in source else []
    if "entry_start" in source or "entry_stop" in source:
        parts.append(f"entries [{source.get('entry_start', 0)}, {source.get('entry_stop', 'end')})")
    return "; ".join(parts) or "-"


def _render(summary: WorkspaceSummary) -> list[str]:
    binned = sum(c.kind == "binned" for c in summary.channels)
    components = sum(len(p.init) for p in summary.parameters)
    lines = [
        f"workspace   {summary.path or '(in memory)'} (version {summary.version})",
        f"channels    {len(summary.channels)} ({binned} binned, "
        f"{len(summary.channels) - binned} unbinned)",
        f"samples     {len(summary.samples)}",
        f"parameters  {len(summary.parameters)} ({components} components)",
        f"modifiers   {len(summary.modifiers)} (distinct name and type)",
    ]
    for channel in summary.channels:
        lines.append("")
        if channel.kind == "binned":
            counts = ", ".join(_number(v) for v in channel.observed or [])
            lines.append(
                f"channel {channel.name}: binned, {channel.n_bins} bins, observed "
                f"{_number(channel.n_observed)} events [{counts}]"
            )
            lines += _table(
                ["sample", "yield", "modifiers"],
                [
                    [s.name, _number(s.nominal_yield), ", ".join(map(str, s.modifiers)) or "-"]
                    for s in channel.samples
                ],
                right={1},
            )
            continue
        observed = f"{_number(channel.n_observed)} observed events"
        if (
            channel.n_observed is not None
            and channel.observed_sum_weights is not None
            and not math.isclose(channel.observed_sum_weights, channel.n_observed)
        ):
            observed += f" (sum of weights {_number(channel.observed_sum_weights)})"
        lines.append(
            f"channel {channel.name}: unbinned, observables {', '.join(channel.observables or [])};"
            f" {observed}"
        )
        lines.append(f"  reference: {' + '.join(channel.reference or [])}")
        lines += _table(
            ["sample", "events", "yield", "coefficient", "weight", "selection", "modifiers"],
            [
                [
                    s.name,
                    _number(s.n_events),
                    _number(s.nominal_yield),
                    s.coefficient or "1",
                    (s.source or {}).get("weight", "-"),
                    _selection_label(s.source or {}),
                    ", ".join(map(str, s.modifiers)) or "-",
                ]
                for s in channel.samples
            ],
            right={1, 2},
        )
        lines.append("  ntuples:")
        lines += _table(
            ["file:tree", "read for"],
            [[f"{n.file}:{n.tree}", ", ".join(n.used_by)] for n in channel.ntuples],
            right=set(),
            indent="    ",
        )
        models = [r for r in summary.ratio_models if r.channel == channel.name]
        lines.append("  ratio models:")
        if not models:
            lines.append("    none (a sole reference sample needs none)")
        base = summary.path.parent if summary.path is not None else None
        rows = []
        for model in models:
            shown = model.path
            if base is not None and shown.is_relative_to(base):
                shown = shown.relative_to(base)
            trained = f"{model.trained}, {model.members} member(s)" if model.trained else ""
            rows.append([model.name, model.status, str(shown), trained])
        if rows:
            lines += _table(["model", "status", "folder", "trained"], rows, set(), indent="    ")
        for model in models:
            if model.status != "missing":
                lines += [f"    {model.name}: {reason}" for reason in model.reasons]
        if any(model.status == "missing" for model in models):
            lines.append("    (train the missing ones with `nsbi train WORKSPACE`)")
    lines += ["", f"parameters of measurement {summary.measurement}"]
    rows = []
    for p in summary.parameters:
        for k, name in enumerate(p.component_names):
            lo, hi = p.bounds[k]
            rows.append(
                [
                    name + (" (POI)" if p.poi else ""),
                    _number(p.init[k]),
                    f"[{_number(lo)}, {_number(hi)}]",
                    "yes" if p.fixed[k] else "no",
                    p.constraint,
                    _number(p.auxdata[k]) if p.auxdata else "-",
                    _number(p.width[k]) if p.width else "-",
                    ", ".join(p.modifiers),
                ]
            )
    lines += _table(
        ["parameter", "init", "bounds", "fixed", "constraint", "auxdata", "width", "modifiers"],
        rows,
        right={1},
    )
    lines += ["", "measurements"]
    rows = []
    for m in summary.measurements:
        codes = ", ".join(f"{k}={v}" for k, v in m.interpolation.items())
        rows.append(
            [
                ("* " if m.name == summary.measurement else "  ") + m.name,
                f"POI {m.poi}",
                "parameters: " + (", ".join(m.parameters) or "-"),
                f"interpolation: {codes}" if codes else "",
            ]
        )
    lines += _table(["", "", "", ""], rows, set())[1:]
    if summary.problems:
        lines += ["", "problems"] + [f"  {problem}" for problem in summary.problems]
    return lines
