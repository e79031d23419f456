"""``nsbi diagnose``: the reweighting closure, classifier two-sample test, calibration and
member spread of every ratio ensemble a workspace declares (on the held-out events when the
channel holds some out, :mod:`nsbi.workspace.holdout`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from nsbi.infer.mc_stat import fit_with_mc_stat
from nsbi.model import Model
from nsbi.ratios.diagnostics import (
    CalibrationCurve,
    ClosureHistogram,
    TwoSampleTest,
    calibration_curve,
    classifier_two_sample_test,
    reweighting_closure,
)
from nsbi.ratios.serialization import load_ensemble
from nsbi.workflows.ensembles import selected_names
from nsbi.workspace import Workspace
from nsbi.workspace.events import ratio_training_pair, sample_events
from nsbi.workspace.holdout import HELD_OUT, TRAINING, holdout_fraction

__all__ = ["Diagnosis", "Diagnoses", "MCStatCheck", "diagnose_workspace", "mc_stat_check"]


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

    def to_dict(self) -> dict:
        return {
            "closure": {h.observable: {"chi2": h.chi2, "ndf": h.ndf} for h in self.closure},
            "two_sample_auc": self.two_sample.auc if self.two_sample else None,
            "calibration_max_deviation": self.calibration.max_deviation,
            "spread_quantiles": list(self.spread_quantiles),
            "held_out": self.held_out,
        }


class Diagnoses(list):
    """The :class:`Diagnosis` of each ensemble (a list), with their text and JSON."""

    def lines(self) -> list[str]:
        return [line for diagnosis in self for line in diagnosis.lines()]

    def to_dict(self) -> dict:
        """``{"CHANNEL/LABEL": diagnosis}`` (``nsbi diagnose --output``)."""
        return {f"{d.channel}/{d.sample}": d.to_dict() for d in self}


@dataclass
class MCStatCheck:
    """The POI's MC-statistical error beside its statistical one on the observed data."""

    poi: str
    replicas: int
    mc_stat: float
    statistical: float
    warning: str | None

    def line(self) -> str:
        return (
            f"MC-statistical uncertainty of {self.poi} ({self.replicas} bootstrap replicas): "
            f"{self.mc_stat:.4g}; statistical {self.statistical:.4g}"
        )


def mc_stat_check(workspace: Workspace) -> MCStatCheck | None:
    """When every unbinned channel declares bootstrap replicas: fit the data and the replicas
    and compare the POI's MC-statistical error with its statistical one, with the warning
    ``nsbi fit`` gives (``nsbi diagnose``); ``None`` otherwise."""
    model = Model.from_workspace(workspace)
    if model.replicas < 2 or model.parameters.poi is None:
        return None
    result, uncertainty, _ = fit_with_mc_stat(model, "report")
    poi = model.parameters.poi
    statistical = result.error(poi)
    warning = uncertainty.warning(poi, statistical) if statistical > 0 else None
    return MCStatCheck(poi, uncertainty.replicas, uncertainty.error(poi), statistical, warning)


def diagnose_workspace(
    workspace: Workspace,
    *,
    only: Sequence[str] | None = None,
    two_sample: bool = True,
    seed: int = 0,
) -> Diagnoses:
    """Closure, two-sample test, calibration and member spread of every trained ensemble."""
    results = Diagnoses()
    selected = selected_names(workspace, only)
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
