r"""Building unbinned channels: events from ntuples, ratio ensembles from disk, tables once.

For each unbinned channel: the reference events (:mod:`nsbi.workspace.events`), the observed
events, and the tables :math:`\log r_j(x_i)` on both. Each ratio is renormalised so that its
weighted mean over the reference events is 1.
"""

from __future__ import annotations

import numpy as np

from nsbi.exceptions import NSBIError
from nsbi.model.unbinned import UnbinnedChannel, UnbinnedSample, YieldModifier
from nsbi.ratios import RatioModelError, load_ensemble
from nsbi.workspace import Workspace, parse
from nsbi.workspace.events import observed_events, reference_events, sample_events, sample_yield

__all__ = ["build_unbinned_channel"]


def _load_checked(workspace: Workspace, channel: dict, sample: dict):
    path = workspace.ratio_path(channel, sample)
    try:
        ensemble = load_ensemble(path)
    except RatioModelError as error:
        raise RatioModelError(
            f"channel {channel['name']!r}, sample {sample['name']!r}: {error}"
        ) from None
    expected = Workspace.observable_names(channel)
    if list(ensemble.observables) != expected:
        raise RatioModelError(
            f"{path}: trained on observables {ensemble.observables}, but channel "
            f"{channel['name']!r} declares {expected}; retrain with `nsbi train`"
        )
    return ensemble


def build_unbinned_channel(
    workspace: Workspace,
    channel: dict,
    parameter_index: dict[str, int],
    normsys_code: str = "code4",
) -> UnbinnedChannel:
    """Read events, load ensembles, and tabulate :math:`\\log r_j` for one unbinned channel."""
    events = {s["name"]: sample_events(workspace, channel, s) for s in channel["samples"]}
    reference = reference_events(workspace, channel, events)
    observed = observed_events(workspace, channel)
    omega = reference.weights / reference.weights.sum()

    samples, observed_logs, reference_logs = [], [], []
    for sample in channel["samples"]:
        if workspace.needs_ratio_model(channel, sample):
            ensemble = _load_checked(workspace, channel, sample)
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
            else:
                raise NSBIError(
                    f"channel {channel['name']!r}, sample {sample['name']!r}: the "
                    f"{modifier['type']!r} modifier {modifier['name']!r} is specified but this "
                    "version of nsbi does not evaluate per-event shape systematics yet"
                )
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
    )
