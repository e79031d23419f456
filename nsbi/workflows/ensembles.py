"""What the whole-workspace operations share about a channel's ratio ensembles: the training
settings a channel declares, and the ``--only`` selection of ensembles."""

from __future__ import annotations

from collections.abc import Sequence

from nsbi.exceptions import InvalidOption
from nsbi.ratios.training import TrainingConfig
from nsbi.workspace import Workspace

__all__ = ["DEFAULT_MEMBERS", "channel_settings", "selected_names"]

#: ensemble members when a channel's ``training`` does not say
DEFAULT_MEMBERS = 5


def channel_settings(
    channel: dict,
    members: int | None = None,
    device: str | None = None,
    overrides: dict | None = None,
) -> tuple[TrainingConfig, int]:
    """The channel's :class:`~nsbi.ratios.training.TrainingConfig` (``overrides`` and
    ``device`` replacing its ``training`` keys) and ensemble size (``members``, else the
    channel's, else :data:`DEFAULT_MEMBERS`)."""
    spec = channel.get("training", {})
    config = TrainingConfig.from_spec(spec, device=device, **(overrides or {}))
    return config, members or spec.get("members", DEFAULT_MEMBERS)


def selected_names(workspace: Workspace, only: Sequence[str] | None) -> set[str]:
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
