r"""The events of a workspace's unbinned samples, read once through :mod:`nsbi.io`.

The reference of a channel is the pool of the nominal events of its reference samples, each
sample's weights scaled to sum to its yield, so the pool is distributed as
:math:`p_{\text{ref}} = \sum_k \nu_k p_k / \sum_k \nu_k`. With a held-out split
(:mod:`nsbi.workspace.holdout`) the ratio ensembles train on one part of every sample and the
model's pool is the other.
"""

from __future__ import annotations

import numpy as np

from nsbi.exceptions import NSBIError
from nsbi.io import EventSample, read_source
from nsbi.workspace.holdout import ALL, TRAINING, part_of
from nsbi.workspace.replicas import bootstrap_events, variation_key
from nsbi.workspace.workspace import RatioEnsemble, Workspace

__all__ = [
    "sample_events",
    "sample_yield",
    "reference_events",
    "ratio_training_pair",
    "observed_events",
    "variation_events",
    "weight_variation_log_ratios",
]


def sample_events(workspace: Workspace, channel: dict, sample: dict) -> EventSample:
    """The nominal events of ``sample`` (weights times ``scale`` if given)."""
    events = read_source(sample["source"], channel["observables"], base_dir=workspace.base_dir)
    if "scale" in sample:
        events.weights = events.weights * sample["scale"]
    return events


def sample_yield(sample: dict, events: EventSample) -> float:
    r""":math:`\nu_j`: the ``yield`` key, else the sum of (scaled) weights after selection."""
    if "yield" in sample:
        return float(sample["yield"])
    return float(events.weights.sum())


def reference_events(
    workspace: Workspace,
    channel: dict,
    events: dict[str, EventSample] | None = None,
    part: str = ALL,
) -> EventSample:
    r"""The pooled nominal events of the channel's reference samples (their ``part``:
    ``"all"``, the ``"training"`` part the ratio ensembles learn from, or the ``"held_out"``
    part that builds the model; :mod:`nsbi.workspace.holdout`).

    Each reference sample's weights are scaled so that they sum to its yield :math:`\nu_k` (of
    all its events), so the pool follows :math:`\sum_k \nu_k p_k / \sum_k \nu_k`."""
    by_name = {s["name"]: s for s in channel["samples"]}
    parts = []
    for name in channel["reference"]["samples"]:
        sample = by_name[name]
        ev = (
            events[name] if events and name in events else sample_events(workspace, channel, sample)
        )
        piece = part_of(ev, channel, name, part)
        scale = sample_yield(sample, ev) / piece.weights.sum()
        parts.append((piece.features, piece.weights * scale))
    return EventSample(
        features=np.concatenate([f for f, _ in parts]),
        weights=np.concatenate([w for _, w in parts]),
        observables=Workspace.observable_names(channel),
        description=f"reference of {channel['name']}: " + "+".join(channel["reference"]["samples"]),
    )


def ratio_training_pair(
    workspace: Workspace,
    channel: dict,
    ensemble: RatioEnsemble,
    events: dict[str, EventSample],
    replica: int | None = None,
    part: str = TRAINING,
) -> tuple[EventSample, EventSample]:
    """(numerator, denominator) events of one ratio ensemble: the sample's over the reference,
    or a ``shape`` variation's over the nominal sample's; their ``part`` (what the ensemble
    trains on by default, ``"held_out"`` for checks on events it never saw). ``events`` are the
    channel's nominal events by sample (bootstrapped for ``replica``, and the variation with
    them). The one definition ``nsbi train``, ``nsbi diagnose``, ``nsbi inspect`` and the
    model's staleness check share.
    """
    name = ensemble.sample["name"]
    if not ensemble.is_variation:
        numerator = part_of(events[name], channel, name, part)
        return numerator, reference_events(workspace, channel, events, part)
    varied = variation_events(workspace, channel, ensemble.sample, ensemble.modifier, ensemble.side)
    key = variation_key(ensemble.sample, ensemble.modifier, ensemble.side)
    if replica is not None:
        varied = bootstrap_events(varied, channel, replica, key)
    return (
        part_of(varied, channel, key, part),
        part_of(events[name], channel, name, part),
    )


def observed_events(workspace: Workspace, channel: dict) -> EventSample:
    """The observed events of an unbinned channel (its observation's ntuple; none is legal)."""
    observation = workspace.observation(channel["name"])
    return read_source(
        observation["source"], channel["observables"], base_dir=workspace.base_dir,
        allow_empty=True,
    )  # fmt: skip


def variation_events(
    workspace: Workspace, channel: dict, sample: dict, modifier: dict, side: str
) -> EventSample:
    r"""The events of ``sample`` at :math:`\alpha = \pm 1` of a ``shape`` modifier
    (``side`` is ``hi`` or ``lo``), weights times the sample's ``scale``."""
    source = Workspace.variation_source(sample["source"], modifier, side)
    events = read_source(source, channel["observables"], base_dir=workspace.base_dir)
    if "scale" in sample:
        events.weights = events.weights * sample["scale"]
    return events


def weight_variation_log_ratios(
    workspace: Workspace, channel: dict, source: dict, sample: dict, modifier: dict
) -> dict[str, np.ndarray]:
    """``{"hi": ln(w+/w), "lo": ln(w-/w)}`` per event of ``source`` for a weight-based ``shape``
    modifier of ``sample``: the modifier's weight expressions over the sample's nominal weight
    expression (1 if it has none), all evaluated on the branches of ``source`` (a reference
    sample's ntuple, or the observed one). The nominal weights are read once."""
    nominal_source = {k: v for k, v in source.items() if k != "weight"}
    if "weight" in sample["source"]:
        nominal_source["weight"] = sample["source"]["weight"]
    nominal = read_source(nominal_source, channel["observables"], base_dir=workspace.base_dir)
    safe = np.where(nominal.weights == 0, 1.0, nominal.weights)
    out = {}
    for side in ("hi", "lo"):
        varied_source = {**nominal_source, "weight": modifier["data"][side]["weight"]}
        varied = read_source(varied_source, channel["observables"], base_dir=workspace.base_dir)
        bad = (nominal.weights == 0) | (varied.weights / safe <= 0)
        if bad.any():
            raise NSBIError(
                f"{source['file']}:{source['tree']}, shape modifier {modifier['name']!r} of "
                f"sample {sample['name']!r} ({side}): {int(bad.sum())} events have a zero "
                "nominal weight or a varied/nominal weight ratio <= 0; a per-event shape factor "
                "must be positive"
            )
        out[side] = np.log(varied.weights / nominal.weights)
    return out
