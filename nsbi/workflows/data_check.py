"""``nsbi validate``'s look at the data: every source an unbinned channel declares is read as
``nsbi fit`` reads it, so that a problem in the ntuples (a missing file, tree or branch, a
branch of the wrong type, a NaN or infinite value, a selection that keeps nothing, a
non-positive yield or varied yield, a weight variation that cannot be evaluated) is found
before anything is trained or fitted, and each with its place.

The reads are those of :func:`nsbi.model.tables.build_unbinned_channel` (nominal samples, the
reference pool, the held-out split, the observed events, every ``shape`` variation and the
per-event weight ratios of weight-based variations), without the ratio models; their state
(missing, stale) is :mod:`nsbi.workflows.status`'s and is reported beside.
"""

from __future__ import annotations

from collections.abc import Callable

from nsbi.exceptions import NSBIError
from nsbi.workflows.status import RatioModelStatus, ratio_model_statuses
from nsbi.workspace import Workspace
from nsbi.workspace.events import (
    observed_events,
    reference_events,
    sample_events,
    sample_yield,
    variation_events,
    weight_variation_log_ratios,
)
from nsbi.workspace.holdout import HELD_OUT, TRAINING, holdout_fraction, part_of

__all__ = ["data_problems", "DataCheck", "check_data"]


def _attempt(problems: list[str], what: Callable[[], object]):
    try:
        return what()
    except NSBIError as error:
        problems.append(str(error))
        return None


def data_problems(workspace: Workspace, channel: dict) -> list[str]:
    """Every problem reading ``channel``'s data as the model does (module docstring); each
    message names the file, tree, branch or sample and the fix.

    Example:
        >>> import tempfile
        >>> from nsbi.simulators import InterferenceToy, write_toy_workspace
        >>> ws = Workspace.load(write_toy_workspace(InterferenceToy(), tempfile.mkdtemp(),
        ...                                         events_per_sample=200))
        >>> data_problems(ws, ws.channel("SR"))
        []
        >>> (ws.base_dir / "ntuples" / "SBI.root").unlink()
        >>> [p.split(":")[0].endswith("SBI.root") for p in data_problems(ws, ws.channel("SR"))]
        [True]
    """
    return _read_channel(workspace, channel)[0]


def _read_channel(workspace: Workspace, channel: dict) -> tuple[list[str], dict]:
    """:func:`data_problems`, and the nominal events of the samples that could be read."""
    problems: list[str] = []
    name = channel["name"]
    events = {}
    for sample in channel["samples"]:
        read = _attempt(problems, lambda s=sample: sample_events(workspace, channel, s))
        if read is None:
            continue
        events[sample["name"]] = read
        if sample_yield(sample, read) <= 0:
            problems.append(
                f"channel {name!r}, sample {sample['name']!r}: its yield is "
                f"{sample_yield(sample, read):g}; a sample's expected events must be positive "
                "(check the weights, the selection or the 'yield' key)"
            )
        for part in (TRAINING, HELD_OUT) if holdout_fraction(channel) > 0 else ():
            piece = part_of(read, channel, sample["name"], part)
            if piece.n_events == 0:
                problems.append(
                    f"channel {name!r}, sample {sample['name']!r}: the {part.replace('_', '-')} "
                    f"part of its {read.n_events} events is empty; choose a holdout.fraction "
                    "that leaves events on both sides"
                )
    if all(n in events for n in channel["reference"]["samples"]):
        _attempt(problems, lambda: reference_events(workspace, channel, events, HELD_OUT))
    _attempt(problems, lambda: observed_events(workspace, channel))
    observation = workspace.observation(name)["source"]
    for sample in channel["samples"]:
        for modifier in sample["modifiers"]:
            if modifier["type"] != "shape":
                continue
            if Workspace.is_weight_variation(modifier):
                by_name = {s["name"]: s for s in channel["samples"]}
                sources = [by_name[n]["source"] for n in channel["reference"]["samples"]]
                for source in [*sources, observation]:
                    _attempt(problems, lambda src=source, s=sample, m=modifier:
                             weight_variation_log_ratios(workspace, channel, src, s, m))  # fmt: skip
                continue
            for side in ("hi", "lo"):
                varied = _attempt(
                    problems,
                    lambda s=sample, m=modifier, d=side: variation_events(
                        workspace, channel, s, m, d
                    ),
                )
                nominal = events.get(sample["name"])
                if varied is not None and nominal is not None and not varied.sum_weights > 0:
                    problems.append(
                        f"channel {name!r}, sample {sample['name']!r}, shape modifier "
                        f"{modifier['name']!r}: the {side} variation's sum of weights is "
                        f"{varied.sum_weights:g}; it must be positive"
                    )
    return problems, events


class DataCheck:
    """The data problems (errors) and the ratio models' states of a workspace's unbinned
    channels."""

    def __init__(self, problems: list[str], models: list[RatioModelStatus]):
        self.problems = problems
        self.models = models

    def warnings(self) -> list[str]:
        """A line per ratio model that ``nsbi fit`` would not use as it is: missing (train it)
        or stale (retrain it, or ``--allow-stale``)."""
        return [
            f"ratio model {m.channel}/{m.name} is {m.status}: " + "; ".join(m.reasons)
            for m in self.models
            if m.status in ("missing", "stale")
        ]


def check_data(workspace: Workspace) -> DataCheck:
    """:func:`data_problems` of every unbinned channel, and the state of its ratio models."""
    problems: list[str] = []
    models: list[RatioModelStatus] = []
    for channel in workspace.unbinned_channels():
        found, events = _read_channel(workspace, channel)
        problems += found
        if not found:  # the events read once serve the ratio models' checks
            models += ratio_model_statuses(workspace, channel, events, problems)
    return DataCheck(problems, models)
