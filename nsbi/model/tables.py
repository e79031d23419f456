r"""Building unbinned channels: events from ntuples, ratio ensembles from disk, tables once.

For each unbinned channel: the reference events (:mod:`nsbi.workspace.events`), the observed
events, and the tables :math:`\log r_j(x_i)` on both. Each ratio is renormalised so that its
weighted mean over the reference events is 1. For each ``shape`` modifier, the tables
:math:`\ln g^\pm_{jk}(x_i)` on both event sets (learned ensembles, or weight ratios of a
weight-based variation) and its relative yields :math:`\nu_j^\pm/\nu_j` (the varied sums of
weights), which enter the yield factor with the ``normsys`` code.
"""

from __future__ import annotations

import numpy as np

from nsbi.exceptions import NSBIError, StaleModel
from nsbi.model.shapes import ShapeSystematics
from nsbi.model.unbinned import UnbinnedChannel, UnbinnedSample, YieldModifier
from nsbi.ratios import RatioModelError, load_ensemble
from nsbi.workspace import Workspace, parse
from nsbi.workspace.events import (
    observed_events,
    ratio_training_pair,
    reference_events,
    sample_events,
    sample_yield,
    variation_events,
    weight_variation_log_ratios,
)
from nsbi.workspace.holdout import HELD_OUT, held_out_mask, holdout_fraction
from nsbi.workspace.replicas import (
    bootstrap_events,
    replica_count,
    replica_path,
    variation_key,
)
from nsbi.workspace.workspace import RatioEnsemble

__all__ = ["build_unbinned_channel"]


#: ``allow_stale`` of :func:`build_unbinned_channel`'s callers: the ensembles checked against
#: their training events, or not
CHECK, ALLOW = "check", "allow"


def _check_current(
    workspace, ensemble, path, channel, declared: RatioEnsemble, events, replica, stale: str
) -> None:
    """Refuse an ensemble trained on other events than ``declared``'s training pair
    (:meth:`nsbi.ratios.ensemble.RatioEnsemble.trained_on`)."""
    if stale == ALLOW:
        return
    numerator, denominator = ratio_training_pair(workspace, channel, declared, events, replica)
    label = declared.label
    arrays = (numerator.features, numerator.weights, denominator.features, denominator.weights)
    if not ensemble.trained_on(*arrays):
        raise StaleModel(
            f"{path}: the ratio model of {channel['name']}/{label} was trained on other events "
            "than the workspace's (an ntuple, selection or weight changed since: `nsbi "
            "inspect` says which); retrain it with `nsbi train`, or pass --allow-stale to "
            "use it all the same"
        )


def _load_checked(workspace: Workspace, channel: dict, sample: dict, path=None, what=""):
    path = path or workspace.ratio_path(channel, sample)
    try:
        ensemble = load_ensemble(path)
    except RatioModelError as error:
        raise RatioModelError(
            f"channel {channel['name']!r}, sample {sample['name']!r}{what}: {error}"
        ) from None
    expected = Workspace.observable_names(channel)
    if list(ensemble.observables) != expected:
        raise RatioModelError(
            f"{path}: trained on observables {ensemble.observables}, but channel "
            f"{channel['name']!r} declares {expected}; retrain with `nsbi train`"
        )
    return ensemble


def _shape_tables(
    workspace: Workspace,
    channel: dict,
    sample: dict,
    modifier: dict,
    reference,
    observed,
    replica: int | None = None,
    events=None,
    stale: str = CHECK,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``({dataset: ln g+}, {dataset: ln g-})`` on the reference pool and the observed events
    (learned variations checked against their training events, from ``events``)."""
    hi, lo = {}, {}
    if Workspace.is_weight_variation(modifier):
        by_name = {s["name"]: s for s in channel["samples"]}
        parts = []
        for name in channel["reference"]["samples"]:
            tables = weight_variation_log_ratios(
                workspace, channel, by_name[name]["source"], sample, modifier
            )
            if holdout_fraction(channel) > 0:  # the pool holds the held-out events only
                keep = held_out_mask(len(tables["hi"]), channel, name)
                tables = {side: table[keep] for side, table in tables.items()}
            parts.append(tables)
        source = workspace.observation(channel["name"])["source"]
        try:
            on_data = weight_variation_log_ratios(workspace, channel, source, sample, modifier)
        except NSBIError as error:
            raise NSBIError(
                f"channel {channel['name']!r}, sample {sample['name']!r}: the weight-based "
                f"shape modifier {modifier['name']!r} is evaluated on the observed events "
                f"too, and failed there: {error}. Add the branches to the observed ntuple, "
                "or learn the variation as a function of the observables by giving the "
                'modifier a "ratio": {"hi": DIR, "lo": DIR} and running `nsbi train`'
            ) from None
        for side, out in (("hi", hi), ("lo", lo)):
            out["reference"] = np.concatenate([part[side] for part in parts])
            out["observed"] = on_data[side]
        return hi, lo
    declared = {e.label: e for e in workspace.ratio_ensembles(channel)}
    for side, out in (("hi", hi), ("lo", lo)):
        variation = declared[f"{sample['name']}_{modifier['name']}_{side}"]
        path = variation.path if replica is None else replica_path(variation.path, replica)
        ensemble = _load_checked(
            workspace, channel, sample, path, f", shape modifier {modifier['name']!r} ({side})"
        )
        _check_current(workspace, ensemble, path, channel, variation, events, replica, stale)
        out["reference"] = ensemble.log_ratio(reference.features)
        out["observed"] = ensemble.log_ratio(observed.features)
    return hi, lo


def _varied(workspace, channel, sample, modifier, side, replica):
    """A variation's events, bootstrapped as ``nsbi train`` did for ``replica``."""
    events = variation_events(workspace, channel, sample, modifier, side)
    if replica is None:
        return events
    return bootstrap_events(events, channel, replica, variation_key(sample, modifier, side))


def build_unbinned_channel(
    workspace: Workspace,
    channel: dict,
    parameter_index: dict[str, int],
    normsys_code: str = "code4",
    shape_code: str = "code4",
    replica: int | None = None,
    stale: str = CHECK,
) -> UnbinnedChannel:
    r"""Read events, load ensembles, and tabulate :math:`\log r_j` for one unbinned channel;
    for bootstrap ``replica`` :math:`b` (:mod:`nsbi.workspace.replicas`), with the replica's
    reweighted simulation (reference pool and yields) and its ensembles. An ensemble trained
    on other events than these is refused (:class:`~nsbi.exceptions.StaleModel`) unless
    ``stale="allow"``."""
    events = {s["name"]: sample_events(workspace, channel, s) for s in channel["samples"]}
    if replica is not None:
        if not 0 <= replica < replica_count(channel):
            raise NSBIError(
                f"channel {channel['name']!r} declares {replica_count(channel)} bootstrap "
                f"replicas (mc_stat.replicas); there is no replica {replica}"
            )
        events = {n: bootstrap_events(e, channel, replica, n) for n, e in events.items()}
    reference = reference_events(workspace, channel, events, HELD_OUT)
    observed = observed_events(workspace, channel)
    declared = {e.label: e for e in workspace.ratio_ensembles(channel)}
    omega = reference.weights / reference.weights.sum()

    samples, observed_logs, reference_logs = [], [], []
    pairs, shape_hi, shape_lo = (
        [],
        {"reference": [], "observed": []},
        {"reference": [], "observed": []},
    )
    for j, sample in enumerate(channel["samples"]):
        if workspace.needs_ratio_model(channel, sample):
            own = declared[sample["name"]]
            path = own.path if replica is None else replica_path(own.path, replica)
            ensemble = _load_checked(workspace, channel, sample, path)
            _check_current(workspace, ensemble, path, channel, own, events, replica, stale)
            log_ref = ensemble.log_ratio(reference.features)
            log_obs = ensemble.log_ratio(observed.features)
            top = log_ref.max()
            log_norm = top + np.log(np.sum(omega * np.exp(log_ref - top)))
            log_ref, log_obs = log_ref - log_norm, log_obs - log_norm
        else:
            log_ref = np.zeros(len(reference.features))
            log_obs = np.zeros(len(observed.features))
        reference_logs.append(log_ref)
        observed_logs.append(log_obs)
        modifiers = []
        for modifier in sample["modifiers"]:
            if modifier["type"] == "normsys":
                modifiers.append(
                    YieldModifier(
                        modifier["name"], "normsys", modifier["data"]["hi"], modifier["data"]["lo"]
                    )
                )
            elif modifier["type"] in ("normfactor", "lumi"):
                modifiers.append(YieldModifier(modifier["name"], modifier["type"]))
            elif modifier["type"] == "shape":
                nominal = events[sample["name"]].weights.sum()
                relative = {
                    side: _varied(workspace, channel, sample, modifier, side, replica).sum_weights
                    / nominal
                    for side in ("hi", "lo")
                }
                for side, value in relative.items():
                    if not value > 0:
                        raise NSBIError(
                            f"channel {channel['name']!r}, sample {sample['name']!r}, shape "
                            f"modifier {modifier['name']!r}: the {side} variation's sum of "
                            f"weights is {value:g} times the nominal; it must be positive"
                        )
                modifiers.append(
                    YieldModifier(modifier["name"], "shape", relative["hi"], relative["lo"])
                )
                hi, lo = _shape_tables(
                    workspace, channel, sample, modifier, reference, observed, replica, events,
                    stale,
                )  # fmt: skip
                pairs.append((j, parameter_index[modifier["name"]]))
                for dataset in ("reference", "observed"):
                    shape_hi[dataset].append(hi[dataset])
                    shape_lo[dataset].append(lo[dataset])
        samples.append(
            UnbinnedSample(
                sample["name"],
                parse(sample.get("coefficient", "1")),
                sample_yield(sample, events[sample["name"]]),
                modifiers,
            )
        )
    return UnbinnedChannel(
        channel["name"],
        samples,
        log_ratios={
            "observed": np.stack(observed_logs, 1),
            "reference": np.stack(reference_logs, 1),
        },
        weights={"observed": observed.weights, "reference": omega},
        parameter_index=parameter_index,
        normsys_code=normsys_code,
        shapes=ShapeSystematics(
            pairs,
            {k: np.stack(v, 1) for k, v in shape_hi.items()},
            {k: np.stack(v, 1) for k, v in shape_lo.items()},
            n_samples=len(samples),
            code=shape_code,
        )
        if pairs
        else None,
    )
