"""Training and diagnosing every ratio ensemble a workspace declares (``nsbi train``,
``nsbi diagnose``).

For each unbinned channel and each sample that needs one (every sample except a sole reference
sample), an ensemble of :math:`p_j/p_{\\text{ref}}` is trained on the sample's nominal events
against the channel's reference events and saved where the workspace says. An ensemble whose
stored checksum matches the current inputs and settings is up to date and is not retrained.
After training, the reweighting closure of each ensemble is computed and reported.

Each learned ``shape`` modifier adds two ensembles, :math:`p_j(x|\alpha_k=\\pm1)/p_j(x|0)`,
trained on the varied events against the sample's nominal events (``SAMPLE_NAME_hi`` and
``SAMPLE_NAME_lo`` in the reports); weight-based variations need none.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nsbi.exceptions import NSBIError
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
from nsbi.workspace.events import reference_events, sample_events, variation_events

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
        only: sample names (or ``channel/sample``) to train; default all.
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

    selected = set(only or [])
    known = set()
    for channel in workspace.unbinned_channels():
        for sample in channel["samples"]:
            known |= {sample["name"], f"{channel['name']}/{sample['name']}"}
    unknown = selected - known
    if unknown:
        raise NSBIError(
            f"--only names no sample: {', '.join(sorted(unknown))}; samples are: "
            + ", ".join(sorted(k for k in known if "/" in k))
        )
    for channel in workspace.unbinned_channels():
        config, n_members = _channel_settings(channel, members, device, overrides)
        wanted = [
            s
            for s in channel["samples"]
            if not selected or s["name"] in selected or f"{channel['name']}/{s['name']}" in selected
        ]
        if not wanted:
            continue
        events = {s["name"]: sample_events(workspace, channel, s) for s in channel["samples"]}
        reference = reference_events(workspace, channel, events)
        jobs = []  # (label, numerator, denominator, path)
        for sample in wanted:
            if workspace.needs_ratio_model(channel, sample):
                jobs.append(
                    (
                        sample["name"],
                        events[sample["name"]],
                        reference,
                        workspace.ratio_path(channel, sample),
                    )
                )
            else:
                result = TrainingReport(
                    channel["name"], sample["name"], None, "reference (ratio 1, nothing to train)"
                )
                emit(result)
            for modifier in sample["modifiers"]:
                if modifier["type"] != "shape" or Workspace.is_weight_variation(modifier):
                    continue
                for side in ("hi", "lo"):
                    jobs.append(
                        (
                            f"{sample['name']}_{modifier['name']}_{side}",
                            variation_events(workspace, channel, sample, modifier, side),
                            events[sample["name"]],
                            workspace.variation_ratio_path(channel, sample, modifier, side),
                        )
                    )
        for label, numerator, denominator, path in jobs:
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
    """The diagnostics of one ratio ensemble."""

    channel: str
    sample: str
    closure: list[ClosureHistogram]
    two_sample: TwoSampleTest | None
    calibration: CalibrationCurve
    spread_quantiles: tuple[float, float, float]

    def lines(self) -> list[str]:
        head = f"{self.channel}/{self.sample}:"
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
    selected = set(only or [])
    for channel in workspace.unbinned_channels():
        events = None
        for sample in channel["samples"]:
            name = f"{channel['name']}/{sample['name']}"
            if selected and sample["name"] not in selected and name not in selected:
                continue
            if not workspace.needs_ratio_model(channel, sample):
                continue
            if events is None:
                events = {
                    s["name"]: sample_events(workspace, channel, s) for s in channel["samples"]
                }
                reference = reference_events(workspace, channel, events)
            ensemble = load_ensemble(workspace.ratio_path(channel, sample))
            target = events[sample["name"]]
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
                Diagnosis(channel["name"], sample["name"], closure, test, curve, quantiles)
            )
    return results
