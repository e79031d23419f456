r"""The state of every ratio model a workspace declares, as ``nsbi inspect`` reports it.

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
``nsbi train``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from nsbi.exceptions import NSBIError
from nsbi.io import EventSample
from nsbi.ratios.ensemble import DEFAULT_AGGREGATION, checksum_as_trained, ensemble_checksum
from nsbi.ratios.serialization import METADATA_FILE, RatioModelError, load_ensemble, read_metadata
from nsbi.workflows.ensembles import channel_settings
from nsbi.workspace import Workspace
from nsbi.workspace.events import ratio_training_pair

__all__ = ["RatioModelStatus", "ratio_model_statuses", "read_or_record"]


def read_or_record(what: Callable[[], EventSample], problems: list[str]) -> EventSample | None:
    """``what()``, or ``None`` with the error recorded in ``problems``."""
    try:
        return what()
    except NSBIError as error:
        problems.append(str(error))
        return None


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
    if metadata.get("aggregation") != DEFAULT_AGGREGATION:
        changes.append(f"aggregation {metadata.get('aggregation')!r} -> {DEFAULT_AGGREGATION!r}")
    return changes


def _display(path: Path, workspace: Workspace) -> str:
    base = workspace.base_dir
    if base is not None and path.is_relative_to(base):
        return str(path.relative_to(base))
    return str(path)


def ratio_model_statuses(
    workspace: Workspace, channel: dict, events: dict, problems: list[str]
) -> list[RatioModelStatus]:
    """The :class:`RatioModelStatus` of every ratio model of ``channel`` (module docstring);
    ``events``: its samples' nominal events (``None`` where they cannot be read)."""
    config, members = channel_settings(channel)
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
        written = (job.path / METADATA_FILE).stat().st_mtime
        status.trained = datetime.fromtimestamp(written).isoformat(timespec="seconds")
        status.members = metadata.get("members", metadata.get("n_members"))
        pair = read_or_record(job.pair, problems)
        if pair is None:
            status.status = "unknown"
            status.reasons.append("its training events cannot be read (see the problems)")
            continue
        numerator, denominator = pair
        arrays = (numerator.features, numerator.weights, denominator.features, denominator.weights)
        current = ensemble_checksum(*arrays, config, members, DEFAULT_AGGREGATION)
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
