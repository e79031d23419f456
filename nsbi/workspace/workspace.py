"""The :class:`Workspace`: a validated workspace spec and the views the model layer needs."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from nsbi.exceptions import InvalidWorkspace, Problem
from nsbi.workspace.validation import is_unbinned, load, validate

__all__ = ["Workspace", "RatioEnsemble"]


@dataclass(frozen=True)
class RatioEnsemble:
    r"""One ratio ensemble an unbinned channel declares: a sample's
    :math:`p_j / p_\text{ref}`, or a learned ``shape`` variation's
    :math:`p_j(x|\alpha = \pm 1) / p_j(x|0)` (``modifier`` and ``side`` set).

    Attributes:
        channel: the channel's name.
        label: ``SAMPLE`` or ``SAMPLE_MODIFIER_SIDE`` (what ``--only`` and reports name).
        sample: the sample's spec.
        modifier: the ``shape`` modifier's spec, for a variation.
        side: ``"hi"`` or ``"lo"``, for a variation.
        path: where the ensemble lives.
    """

    channel: str
    label: str
    sample: dict
    modifier: dict | None
    side: str | None
    path: Path

    @property
    def is_variation(self) -> bool:
        return self.modifier is not None

    def selected_by(self, names: set[str]) -> bool:
        """Whether ``--only names`` selects it: its label or sample name, bare or as
        ``CHANNEL/NAME`` (a sample name selects its variations too)."""
        keys = {self.label, self.sample["name"]}
        return bool(names & (keys | {f"{self.channel}/{k}" for k in keys}))


class Workspace:
    """A validated nsbi workspace: pyhf binned channels and nsbi unbinned channels.

    Arguments:
        spec: the workspace dict (pyhf's layout; unbinned channels carry ``"type": "unbinned"``).
        path: the file it came from; relative ntuple and model paths resolve against its folder.

    Raises :class:`~nsbi.exceptions.InvalidWorkspace` listing every problem.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([5.0], [50.0], [7.0], observed=[52])
        >>> ws.channel_names, ws.measurement_names
        (['singlechannel'], ['m'])
    """

    def __init__(self, spec: dict, path: str | Path | None = None, warnings: list | None = None):
        self.path = Path(path).resolve() if path is not None else None
        if warnings is None:
            problems, warnings = validate(spec, base_dir=self.base_dir)
            if problems:
                raise InvalidWorkspace(problems, str(path) if path else None)
        self.spec = spec
        self.warnings: list[Problem] = list(warnings)

    @classmethod
    def load(cls, path: str | Path) -> Workspace:
        """Read and validate a workspace JSON file."""
        spec, warnings = load(path)
        return cls(spec, path=path, warnings=warnings)

    @property
    def base_dir(self) -> Path | None:
        """The folder relative paths in the workspace refer to."""
        return self.path.parent if self.path is not None else None

    @property
    def channel_names(self) -> list[str]:
        return [channel["name"] for channel in self.spec["channels"]]

    @property
    def measurement_names(self) -> list[str]:
        return [m["name"] for m in self.spec["measurements"]]

    def measurement(self, name: str | None = None) -> dict:
        """The measurement called ``name`` (the first one if ``None``)."""
        measurements = self.spec["measurements"]
        if name is None:
            return measurements[0]
        for measurement in measurements:
            if measurement["name"] == name:
                return measurement
        raise InvalidWorkspace(
            [
                Problem(
                    "measurements",
                    f"no measurement named {name!r}; available: "
                    + ", ".join(self.measurement_names),
                )
            ],
            str(self.path) if self.path else None,
        )

    def binned_channels(self) -> list[dict]:
        return [c for c in self.spec["channels"] if not is_unbinned(c)]

    def unbinned_channels(self) -> list[dict]:
        return [c for c in self.spec["channels"] if is_unbinned(c)]

    def channel(self, name: str) -> dict:
        """The channel called ``name``."""
        for channel in self.spec["channels"]:
            if channel["name"] == name:
                return channel
        raise InvalidWorkspace(
            [
                Problem(
                    "channels",
                    f"no channel named {name!r}; channels are: " + ", ".join(self.channel_names),
                )
            ],
            str(self.path) if self.path else None,
        )

    def observation(self, channel: str) -> dict:
        """The observation of ``channel``."""
        return next(o for o in self.spec["observations"] if o["name"] == channel)

    @staticmethod
    def observable_names(channel: dict) -> list[str]:
        """The observable names of an unbinned channel, in order."""
        return [o if isinstance(o, str) else o["name"] for o in channel["observables"]]

    def resolve(self, relative: str) -> Path:
        """A path of the workspace (ntuple, ratio model) resolved against its folder."""
        path = Path(relative)
        if path.is_absolute() or self.base_dir is None:
            return path
        return self.base_dir / path

    def ratio_path(self, channel: dict, sample: dict) -> Path:
        r"""Where the ratio ensemble :math:`p_j/p_{\text{ref}}` of ``sample`` lives (default
        ``models/<channel>/<sample>`` beside the workspace)."""
        return self.resolve(sample.get("ratio", f"models/{channel['name']}/{sample['name']}"))

    def variation_ratio_path(self, channel: dict, sample: dict, modifier: dict, side: str) -> Path:
        r"""Where the ensemble :math:`p_j(x|\alpha=\pm1)/p_j(x|0)` of a learned ``shape``
        modifier lives: ``data.ratio.<side>``, default ``<sample ratio>_<name>_<side>``."""
        explicit = modifier["data"].get("ratio")
        if explicit:
            return self.resolve(explicit[side])
        base = self.ratio_path(channel, sample)
        return base.with_name(f"{base.name}_{modifier['name']}_{side}")

    def ratio_ensembles(self, channel: dict) -> list[RatioEnsemble]:
        """Every ratio ensemble ``channel`` declares, in the order ``nsbi train`` trains them:
        each sample's (but the sole reference's, whose ratio is 1), then its learned ``shape``
        variations, hi before lo (weight-based variations train nothing)."""
        ensembles = []
        for sample in channel["samples"]:
            if self.needs_ratio_model(channel, sample):
                path = self.ratio_path(channel, sample)
                ensembles.append(
                    RatioEnsemble(channel["name"], sample["name"], sample, None, None, path)
                )
            for modifier in sample["modifiers"]:
                if modifier["type"] != "shape" or self.is_weight_variation(modifier):
                    continue
                for side in ("hi", "lo"):
                    ensembles.append(
                        RatioEnsemble(
                            channel["name"],
                            f"{sample['name']}_{modifier['name']}_{side}",
                            sample,
                            modifier,
                            side,
                            self.variation_ratio_path(channel, sample, modifier, side),
                        )
                    )
        return ensembles

    def ensemble_labels(self) -> list[str]:
        """``CHANNEL/LABEL`` of every ratio ensemble of every unbinned channel."""
        return [
            f"{e.channel}/{e.label}"
            for channel in self.unbinned_channels()
            for e in self.ratio_ensembles(channel)
        ]

    @staticmethod
    def is_weight_variation(modifier: dict) -> bool:
        """True for a ``shape`` modifier whose variations override only the event weight and
        that names no ``ratio``: its per-event factor is the weight ratio, nothing is trained."""
        data = modifier["data"]
        return "ratio" not in data and all(set(data[side]) == {"weight"} for side in ("hi", "lo"))

    @staticmethod
    def variation_source(source: dict, modifier: dict, side: str) -> dict:
        """The nominal ``source`` with the ``shape`` modifier's ``side`` overrides applied."""
        return {**source, **modifier["data"][side]}

    @staticmethod
    def needs_ratio_model(channel: dict, sample: dict) -> bool:
        """False only for the sole reference sample, whose ratio to itself is 1."""
        reference = channel["reference"]["samples"]
        return not (len(reference) == 1 and reference[0] == sample["name"])

    def binned_parameter_names(self) -> set[str]:
        """Names of the parameters that the binned channels' modifiers declare."""
        return {
            modifier["name"]
            for channel in self.binned_channels()
            for sample in channel["samples"]
            for modifier in sample["modifiers"]
        }

    def binned_spec(self) -> dict | None:
        """A pure pyhf workspace spec of the binned channels (``None`` if there are none).

        nsbi-only keys (the measurement's ``interpolation``) are removed and measurement
        parameters that only unbinned channels use are left out, so pyhf sees a valid
        pyhf 1.0.0 workspace.
        """
        channels = self.binned_channels()
        if not channels:
            return None
        names = {c["name"] for c in channels}
        used = self.binned_parameter_names()
        measurements = []
        for measurement in self.spec["measurements"]:
            config = {
                "poi": measurement["config"]["poi"],
                "parameters": [
                    copy.deepcopy(p)
                    for p in measurement["config"]["parameters"]
                    if p["name"] in used
                ],
            }
            measurements.append({"name": measurement["name"], "config": config})
        return {
            "channels": copy.deepcopy(channels),
            "observations": [
                copy.deepcopy(o) for o in self.spec["observations"] if o["name"] in names
            ],
            "measurements": measurements,
            "version": self.spec["version"],
        }
