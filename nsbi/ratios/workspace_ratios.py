r"""Training and diagnosing every ratio ensemble a workspace declares (``nsbi train``,
``nsbi diagnose``).

For each unbinned channel and each sample that needs one (every sample except a sole reference
sample), an ensemble of :math:`p_j/p_{\text{ref}}` is trained on the sample's nominal events
against the channel's reference events and saved where the workspace says. An ensemble whose
stored checksum matches the current inputs and settings is up to date and is not retrained.
After training, the reweighting closure of each ensemble is computed and reported.

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
from nsbi.ratios.diagnostics import (
    CalibrationCurve,
    ClosureHistogram,
    TwoSampleTest,
    calibration_curve,
    classifier_two_sample_test,
    reweighting_closure,
)
from nsbi.ratios.ensemble import ensemble_checksum, train_ensemble
from nsbi.ratios.serialization import (
    RatioModelError,
    load_ensemble,
    read_metadata,
    save_ensemble,
)
from nsbi.ratios.training import TrainingConfig
from nsbi.workspace import Workspace
from nsbi.workspace.events import ratio_training_pair, sample_events
from nsbi.workspace.holdout import HELD_OUT, TRAINING, holdout_fraction
from nsbi.workspace.replicas import (
    REPLICA_SEED_OFFSET,
    bootstrap_events,
    replica_count,
    replica_path,
)

__all__ = [
    "TrainingReport",
    "train_workspace",
    "Diagnosis",
    "diagnose_workspace",
    "DEFAULT_MEMBERS",
]

DEFAULT_MEMBERS = 5


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


def _channel_settings(
    channel: dict, members: int | None, device: str | None, overrides: dict | None
) -> tuple[TrainingConfig, int]:
    spec = channel.get("training", {})
    config = TrainingConfig.from_spec(spec, device=device, **(overrides or {}))
    return config, members or spec.get("members", DEFAULT_MEMBERS)


def _selection(workspace: Workspace, only: Sequence[str] | None) -> set[str]:
    """The ``--only`` names, checked: each must name a sample or an ensemble."""
    selected = set(only or [])
    known = set()
    for channel in workspace.unbinned_channels():
        for sample in channel["samples"]:
            known |= {sample["name"], f"{channel['name']}/{sample['name']}"}
        for ensemble in workspace.ratio_ensembles(channel):
            known |= {ensemble.label, f"{channel['name']}/{ensemble.label}"}
    unknown = selected - known
    if unknown:
        raise InvalidOption(
            "--only",
            f"{', '.join(sorted(unknown))} names no sample or ratio ensemble; the workspace has "
            + ", ".join(workspace.ensemble_labels() or ["no ratio ensembles"]),
        )
    return selected


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
    reports = []

    def emit(result: TrainingReport) -> None:
        reports.append(result)
        if report:
            report(result)

    selected = _selection(workspace, only)
    for channel in workspace.unbinned_channels():
        config, n_members = _channel_settings(channel, members, device, overrides)
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
                "mean_log_ratio",
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


@dataclass
class Diagnosis:
    """The diagnostics of one ratio ensemble (``sample``: its label, the sample's name or
    ``SAMPLE_MODIFIER_SIDE`` for a learned variation)."""

    channel: str
    sample: str
    closure: list[ClosureHistogram]
    two_sample: TwoSampleTest | None
    calibration: CalibrationCurve
    spread_quantiles: tuple[float, float, float]
    held_out: bool = False  # computed on the channel's held-out events

    def lines(self) -> list[str]:
        head = f"{self.channel}/{self.sample}:" + (" (held-out events)" if self.held_out else "")
        out = [head]
        for h in self.closure:
            out.append(
                f"  closure {h.observable}: chi2/ndf = {h.chi2:.1f}/{h.ndf} = {h.chi2_per_ndf:.2f}"
            )
        if self.two_sample is not None:
            out.append(
                f"  two-sample test AUC = {self.two_sample.auc:.4f} (0.5 is ideal; "
                f"without reweighting {self.two_sample.auc_unweighted_reference:.4f})"
            )
        out.append(
            f"  calibration: max |predicted - observed| = {self.calibration.max_deviation:.4f}"
        )
        q = self.spread_quantiles
        out.append(f"  member spread of log r (16/50/84%): {q[0]:.4f} / {q[1]:.4f} / {q[2]:.4f}")
        return out


def diagnose_workspace(
    workspace: Workspace,
    *,
    only: Sequence[str] | None = None,
    two_sample: bool = True,
    seed: int = 0,
) -> list[Diagnosis]:
    """Closure, two-sample test, calibration and member spread of every trained ensemble."""
    results = []
    selected = _selection(workspace, only)
    for channel in workspace.unbinned_channels():
        events = None
        # with a held-out split, the checks run on events the ensembles never saw
        part = HELD_OUT if holdout_fraction(channel) > 0 else TRAINING
        for declared in workspace.ratio_ensembles(channel):
            if selected and not declared.selected_by(selected):
                continue
            if events is None:
                events = {
                    s["name"]: sample_events(workspace, channel, s) for s in channel["samples"]
                }
            target, reference = ratio_training_pair(workspace, channel, declared, events, part=part)
            ensemble = load_ensemble(declared.path)
            log_ref, spread = ensemble.log_ratio_and_spread(reference.features)
            closure = reweighting_closure(
                log_ref,
                reference.features,
                reference.weights,
                target.features,
                target.weights,
                ensemble.observables,
            )
            test = (
                classifier_two_sample_test(
                    log_ref,
                    reference.features,
                    reference.weights,
                    target.features,
                    target.weights,
                    seed=seed,
                )
                if two_sample
                else None
            )
            curve = calibration_curve(
                None,
                target.features,
                target.weights,
                reference.features,
                reference.weights,
                log_ratios=(ensemble.log_ratio(target.features), log_ref),
            )
            quantiles = tuple(float(q) for q in np.quantile(spread, [0.16, 0.5, 0.84]))
            results.append(
                Diagnosis(
                    channel["name"],
                    declared.label,
                    closure,
                    test,
                    curve,
                    quantiles,
                    held_out=part == HELD_OUT,
                )  # fmt: skip
            )
    return results
