r"""Training every ratio ensemble a workspace declares (``nsbi train``).

For each unbinned channel and each sample that needs one (every sample except a sole reference
sample), an ensemble of :math:`p_j/p_{\text{ref}}` is trained on the sample's nominal events
against the channel's reference events and saved where the workspace says. An ensemble whose
stored checksum matches the current inputs and settings is up to date and is not retrained.
After training, the reweighting closure of each ensemble is computed and reported. With
bootstrap replicas (:mod:`nsbi.workspace.replicas`) each ensemble is trained again on every
replica; with a held-out split (:mod:`nsbi.workspace.holdout`) on the training part only.

Each learned ``shape`` modifier adds two ensembles, :math:`p_j(x|\alpha_k=\pm1)/p_j(x|0)`,
trained on the varied events against the sample's nominal events (``SAMPLE_NAME_hi`` and
``SAMPLE_NAME_lo`` in the reports); weight-based variations need none.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from nsbi.exceptions import InvalidOption
from nsbi.ratios.diagnostics import reweighting_closure
from nsbi.ratios.ensemble import DEFAULT_AGGREGATION, ensemble_checksum, train_ensemble
from nsbi.ratios.serialization import RatioModelError, read_metadata, save_ensemble
from nsbi.workflows.ensembles import channel_settings, selected_names
from nsbi.workspace import Workspace
from nsbi.workspace.events import ratio_training_pair, sample_events
from nsbi.workspace.replicas import (
    REPLICA_SEED_OFFSET,
    bootstrap_events,
    replica_count,
    replica_path,
)

__all__ = ["TrainingReport", "train_workspace"]


@dataclass
class TrainingReport:
    """What happened to one ratio model."""

    channel: str
    sample: str
    path: Path | None
    status: str  # trained | up to date | reference
    members: int = 0
    seconds: float = 0.0
    closure_chi2_ndf: dict[str, float] = field(default_factory=dict)
    median_spread: float = float("nan")

    def line(self) -> str:
        where = f" -> {self.path}" if self.path else ""
        text = f"{self.channel}/{self.sample}: {self.status}{where}"
        if self.status == "trained":
            closure = ", ".join(f"{k} {v:.2f}" for k, v in self.closure_chi2_ndf.items())
            text += (
                f" ({self.members} members, {self.seconds:.1f} s; closure chi2/ndf: "
                f"{closure}; median member spread of log r: {self.median_spread:.3f})"
            )
        return text


def _sample_selected(channel: dict, sample: dict, selected: set[str]) -> bool:
    return bool({sample["name"], f"{channel['name']}/{sample['name']}"} & selected)


def train_workspace(
    workspace: Workspace,
    *,
    only: Sequence[str] | None = None,
    members: int | None = None,
    device: str | None = None,
    client=None,
    force: bool = False,
    progress: bool = False,
    overrides: dict | None = None,
    report=None,
) -> list[TrainingReport]:
    """Train (or skip, when up to date) every ratio ensemble of ``workspace``.

    Arguments:
        only: what to train: sample names (a sample with its learned variations), ensemble
            labels (``SAMPLE_MODIFIER_SIDE``, one variation), either as ``CHANNEL/NAME``;
            default all. An unknown name raises :class:`~nsbi.exceptions.InvalidOption`.
        members: ensemble size (default: the channel's ``training.members``, else 5).
        device: ``cpu`` or ``cuda``.
        client: a Dask client to train members in parallel.
        force: retrain even when up to date.
        overrides: :class:`TrainingConfig` fields that replace the workspace's.
        report: called with each :class:`TrainingReport` as it is made.
    """
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InvalidOption("--device", "cuda, but torch sees no CUDA device")
    reports = []

    def emit(result: TrainingReport) -> None:
        reports.append(result)
        if report:
            report(result)

    selected = selected_names(workspace, only)
    for channel in workspace.unbinned_channels():
        config, n_members = channel_settings(channel, members, device, overrides)
        wanted = [
            e for e in workspace.ratio_ensembles(channel) if not selected or e.selected_by(selected)
        ]
        if selected:
            wanted_samples = [
                s for s in channel["samples"] if _sample_selected(channel, s, selected)
            ]
        else:
            wanted_samples = channel["samples"]
        for sample in wanted_samples:
            if not workspace.needs_ratio_model(channel, sample):
                emit(
                    TrainingReport(
                        channel["name"],
                        sample["name"],
                        None,
                        "reference (ratio 1, nothing to train)",
                    )
                )
        if not wanted:
            continue
        events = {s["name"]: sample_events(workspace, channel, s) for s in channel["samples"]}
        jobs = [  # (label, numerator, denominator, path, settings)
            (e.label, *ratio_training_pair(workspace, channel, e, events), e.path, config)
            for e in wanted
        ]
        for b in range(replica_count(channel)):
            # the whole simulation bootstrapped (nsbi.workspace.replicas), with its own seeds
            replica = {n: bootstrap_events(v, channel, b, n) for n, v in events.items()}
            replica_config = replace(config, seed=config.seed + REPLICA_SEED_OFFSET * (b + 1))
            for e in wanted:
                numerator, denominator = ratio_training_pair(
                    workspace, channel, e, replica, replica=b
                )
                jobs.append(
                    (
                        f"{e.label} (replica {b})",
                        numerator,
                        denominator,
                        replica_path(e.path, b),
                        replica_config,
                    )
                )
        for label, numerator, denominator, path, config in jobs:
            checksum = ensemble_checksum(
                numerator.features,
                numerator.weights,
                denominator.features,
                denominator.weights,
                config,
                n_members,
                DEFAULT_AGGREGATION,
            )
            if not force and path.exists():
                try:
                    if read_metadata(path).get("checksum") == checksum:
                        result = TrainingReport(channel["name"], label, path, "up to date")
                        emit(result)
                        continue
                except RatioModelError:
                    pass
            start = time.perf_counter()
            ensemble = train_ensemble(
                numerator.features,
                numerator.weights,
                denominator.features,
                denominator.weights,
                Workspace.observable_names(channel),
                config,
                n_members,
                progress=progress,
                client=client,
                name=f"{channel['name']}/{label}",
            )
            save_ensemble(ensemble, path)
            seconds = time.perf_counter() - start
            log_ratio, spread = ensemble.log_ratio_and_spread(denominator.features)
            closure = reweighting_closure(
                log_ratio,
                denominator.features,
                denominator.weights,
                numerator.features,
                numerator.weights,
                ensemble.observables,
            )
            result = TrainingReport(
                channel["name"],
                label,
                path,
                "trained",
                n_members,
                seconds,
                {h.observable: h.chi2_per_ndf for h in closure},
                float(np.median(spread)),
            )
            emit(result)
    return reports
