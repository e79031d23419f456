"""Validation of a workspace: JSON syntax, the schema, then the rules a schema cannot say.

Validation happens once, at the boundary (:func:`load`); the code behind it trusts the spec.
Every problem names its JSON path, the offending value and what was expected. Checks after the
schema: unique names, one observation per channel, bin counts that agree, counts and
uncertainties that are not negative, normsys factors that are positive, a POI that exists,
parameter bounds ``[lo, hi]`` with ``lo < hi`` and inits inside them, modifiers sharing a name
only when they can share a parameter, coefficient expressions that parse, reference samples
that exist, and ntuple files that exist (relative to the workspace file).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

from nsbi.exceptions import InvalidExpression, InvalidWorkspace, Problem
from nsbi.workspace.expressions import parse
from nsbi.workspace.parameters import PARAMETER_FAMILY, parameter_kinds
from nsbi.workspace.schema import format_path, schema_problems

__all__ = ["read_json", "validate", "load", "is_unbinned"]

#: modifier types with one parameter per bin
_PER_BIN = {"shapefactor", "shapesys", "staterror"}


def is_unbinned(channel: dict) -> bool:
    """Whether a channel is nsbi's unbinned extension (it carries ``"type": "unbinned"``)."""
    return channel.get("type") == "unbinned"


def read_json(path: str | Path) -> Any:
    """Read a JSON file; syntax errors become :class:`InvalidWorkspace` with line and column."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise InvalidWorkspace(
            [Problem("", f"not UTF-8 text (byte {error.start}): a workspace is a JSON file")],
            str(path),
        ) from None
    except FileNotFoundError:
        raise InvalidWorkspace([Problem("", f"file not found: {path}")], str(path)) from None
    except OSError as error:
        raise InvalidWorkspace(
            [Problem("", f"cannot read {path}: {error.strerror}")], str(path)
        ) from None
    try:
        return json.loads(text)
    except RecursionError:
        raise InvalidWorkspace(
            [Problem("", "the JSON nests too deeply to read; a workspace is a few levels deep")],
            str(path),
        ) from None
    except json.JSONDecodeError as error:
        raise InvalidWorkspace(
            [
                Problem(
                    "",
                    f"JSON syntax error at line {error.lineno}, column {error.colno}: {error.msg}",
                )
            ],
            str(path),
        ) from None


def _coefficient_names_against_modifiers(channels: list[dict], add) -> None:
    """A coefficient's parameters are free; a constrained modifier of the same name would make
    one parameter both (its constraint silently dropped or applied to the POI): refused."""
    in_coefficients = set()
    for channel in channels:
        for sample in channel["samples"]:
            if "coefficient" in sample:
                try:
                    in_coefficients |= parse(sample["coefficient"]).names
                except InvalidExpression:
                    pass
    for c, channel in enumerate(channels):
        for s, sample in enumerate(channel["samples"]):
            for m, modifier in enumerate(sample.get("modifiers", [])):
                family = PARAMETER_FAMILY[modifier["type"]]
                if modifier["name"] in in_coefficients and family != "free":
                    add(
                        ["channels", c, "samples", s, "modifiers", m, "name"],
                        f"{modifier['name']!r} names a {modifier['type']} modifier (a constrained "
                        "parameter) and a parameter of a sample coefficient (free); one "
                        "parameter cannot be both: rename the modifier",
                    )


def _duplicates(items: list[dict], key: str = "name") -> list[int]:
    counts = Counter(item.get(key) for item in items)
    seen: set = set()
    indices = []
    for index, item in enumerate(items):
        if counts[item.get(key)] > 1:
            if item.get(key) in seen:
                indices.append(index)
            seen.add(item.get(key))
    return indices


def _semantic_problems(spec: dict, base_dir: Path | None) -> tuple[list[Problem], list[Problem]]:
    problems: list[Problem] = []
    warnings: list[Problem] = []

    def add(parts, message):
        problems.append(Problem(format_path(parts), message))

    channels = spec["channels"]
    for index in _duplicates(channels):
        add(["channels", index, "name"], f"duplicate channel name {channels[index]['name']!r}")
    observations = spec["observations"]
    for index in _duplicates(observations):
        add(
            ["observations", index, "name"],
            f"duplicate observation name {observations[index]['name']!r}",
        )
    measurements = spec["measurements"]
    for index in _duplicates(measurements):
        add(
            ["measurements", index, "name"],
            f"duplicate measurement name {measurements[index]['name']!r}",
        )

    _coefficient_names_against_modifiers(channels, add)

    observed = {obs["name"]: (i, obs) for i, obs in enumerate(observations)}
    channel_names = {channel["name"] for channel in channels}
    for i, obs in enumerate(observations):
        if obs["name"] not in channel_names:
            add(
                ["observations", i, "name"],
                f"{obs['name']!r} names no channel; channels are: {', '.join(sorted(channel_names))}",
            )

    # modifiers sharing a name must be able to share a parameter; per-bin ones need equal bins
    families: dict[str, tuple[str, str]] = {}
    per_bin_size: dict[str, tuple[int, str]] = {}

    for c, channel in enumerate(channels):
        cpath = ["channels", c]
        unbinned = is_unbinned(channel)
        for s in _duplicates(channel["samples"]):
            add(
                [*cpath, "samples", s, "name"],
                f"duplicate sample name {channel['samples'][s]['name']!r} in channel "
                f"{channel['name']!r}",
            )
        obs = observed.get(channel["name"])
        if obs is None:
            add([*cpath, "name"], f"channel {channel['name']!r} has no entry in 'observations'")
        n_bins = None
        if not unbinned and obs is not None:
            o_index, o_spec = obs
            if "data" not in o_spec:
                add(
                    ["observations", o_index],
                    f"binned channel {channel['name']!r} needs observed counts in 'data', "
                    "not an ntuple 'source'",
                )
            else:
                n_bins = len(o_spec["data"])
                for b, count in enumerate(o_spec["data"]):
                    if count < 0:
                        add(
                            ["observations", o_index, "data", b],
                            f"negative observed count {count}; counts must be >= 0",
                        )
        if unbinned and obs is not None and "source" not in obs[1]:
            add(
                ["observations", obs[0]],
                f"unbinned channel {channel['name']!r} needs an ntuple 'source', not binned 'data'",
            )

        if unbinned:
            _check_unbinned(channel, cpath, base_dir, add)
            if obs is not None and "source" in obs[1]:
                _check_file(obs[1]["source"], ["observations", obs[0], "source"], base_dir, add)
        else:
            if n_bins is None and channel["samples"]:
                n_bins = len(channel["samples"][0]["data"])
            totals = [0.0] * (n_bins or 0)
            for s, sample in enumerate(channel["samples"]):
                spath = [*cpath, "samples", s]
                if len(sample["data"]) != n_bins:
                    add(
                        [*spath, "data"],
                        f"{len(sample['data'])} bins, but channel "
                        f"{channel['name']!r} has {n_bins} observed bins",
                    )
                    continue
                totals = [t + v for t, v in zip(totals, sample["data"], strict=True)]
                for m, modifier in enumerate(sample["modifiers"]):
                    mpath = [*spath, "modifiers", m]
                    _check_binned_modifier(modifier, mpath, n_bins, add)
                    if modifier["type"] in _PER_BIN:
                        size = per_bin_size.setdefault(
                            modifier["name"], (n_bins, format_path(mpath))
                        )
                        if size[0] != n_bins:
                            add(
                                [*mpath, "name"],
                                f"per-bin modifier {modifier['name']!r} spans "
                                f"{n_bins} bins here but {size[0]} at {size[1]}",
                            )
            for b, total in enumerate(totals):
                if total < 0:
                    add(
                        [*cpath, "samples"],
                        f"negative total expected yield {total:g} in bin {b}; "
                        "the sum over samples must be >= 0",
                    )

        for s, sample in enumerate(channel["samples"]):
            for m, modifier in enumerate(sample.get("modifiers", [])):
                mpath = ["channels", c, "samples", s, "modifiers", m]
                family = PARAMETER_FAMILY[modifier["type"]]
                first = families.setdefault(modifier["name"], (family, format_path(mpath)))
                if first[0] != family:
                    add(
                        [*mpath, "type"],
                        f"{modifier['type']!r} modifier {modifier['name']!r} "
                        f"cannot share its parameter with the {first[0]} parameter declared at "
                        f"{first[1]}; rename one of them",
                    )
            for m in _duplicates(
                [{"name": (mod["name"], mod["type"])} for mod in sample.get("modifiers", [])]
            ):
                add(
                    ["channels", c, "samples", s, "modifiers", m],
                    f"modifier {sample['modifiers'][m]['name']!r} of type "
                    f"{sample['modifiers'][m]['type']!r} appears twice in this sample",
                )

    kinds = parameter_kinds(spec)
    for i, measurement in enumerate(measurements):
        config = measurement["config"]
        mpath = ["measurements", i, "config"]
        poi = config["poi"]
        if poi not in kinds:
            add(
                [*mpath, "poi"],
                f"POI {poi!r} is not a parameter of the model; free parameters "
                "are: " + ", ".join(sorted(k for k, v in kinds.items() if v == "free")),
            )
        elif kinds[poi] not in ("free", "gaussian", "lumi"):
            add([*mpath, "poi"], f"POI {poi!r} is a {kinds[poi]} parameter; the POI must be scalar")
        for p, parameter in enumerate(config["parameters"]):
            ppath = [*mpath, "parameters", p]
            if parameter["name"] not in kinds:
                warnings.append(
                    Problem(
                        format_path([*ppath, "name"]),
                        f"{parameter['name']!r} is not a parameter of the model "
                        "(ignored, as pyhf does)",
                    )
                )
            for b, bound in enumerate(parameter.get("bounds", [])):
                if len(bound) != 2 or not bound[0] < bound[1]:
                    add([*ppath, "bounds", b], f"{bound}; expected [low, high] with low < high")
            inits, bounds = parameter.get("inits"), parameter.get("bounds")
            if inits and bounds and len(inits) == len(bounds):
                for b, (init, bound) in enumerate(zip(inits, bounds, strict=True)):
                    if len(bound) == 2 and not bound[0] <= init <= bound[1]:
                        add([*ppath, "inits", b], f"init {init} lies outside bounds {bound}")
            if kinds.get(parameter["name"]) == "lumi" and parameter.get("sigmas"):
                if any(sigma <= 0 for sigma in parameter["sigmas"]):
                    add([*ppath, "sigmas"], "sigmas must be > 0")
    if "lumi" in kinds.values():
        for i, measurement in enumerate(measurements):
            configured = {q["name"]: q for q in measurement["config"]["parameters"]}
            if "lumi" not in configured or not {"auxdata", "sigmas"} <= set(configured["lumi"]):
                add(
                    ["measurements", i, "config", "parameters"],
                    "a lumi modifier is used, so the measurement must configure parameter "
                    "'lumi' with 'auxdata' and 'sigmas' (e.g. {\"name\": \"lumi\", "
                    '"auxdata": [1.0], "sigmas": [0.017]})',
                )
    if not problems:  # the coefficients parse and the bounds are well-formed
        from nsbi.workspace.coefficients import coefficient_problems_of_spec

        problems += coefficient_problems_of_spec(spec)
    return problems, warnings


def _check_binned_modifier(modifier: dict, mpath: list, n_bins: int, add) -> None:
    kind, data = modifier["type"], modifier["data"]
    if kind == "histosys":
        for key in ("hi_data", "lo_data"):
            if len(data[key]) != n_bins:
                add([*mpath, "data", key], f"{len(data[key])} bins; expected {n_bins}")
    elif kind in ("shapesys", "staterror"):
        if len(data) != n_bins:
            add([*mpath, "data"], f"{len(data)} bins; expected {n_bins}")
        for b, value in enumerate(data):
            if value < 0:
                add([*mpath, "data", b], f"negative uncertainty {value}; must be >= 0")
    elif kind == "normsys":
        for key in ("hi", "lo"):
            if data[key] <= 0:
                add(
                    [*mpath, "data", key],
                    f"normsys factor {data[key]} must be > 0 (it multiplies the yield)",
                )


def _check_file(source: dict, spath: list, base_dir: Path | None, add) -> None:
    path = Path(source["file"])
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    if base_dir is not None or path.is_absolute():
        if not path.is_file():
            add(
                [*spath, "file"],
                f"file not found: {path} (paths are relative to the workspace file)",
            )
    start, stop = source.get("entry_start"), source.get("entry_stop")
    if start is not None and stop is not None and stop <= start:
        add([*spath, "entry_stop"], f"entry_stop {stop} must be greater than entry_start {start}")


def _check_unbinned(channel: dict, cpath: list, base_dir: Path | None, add) -> None:
    names = [o if isinstance(o, str) else o["name"] for o in channel["observables"]]
    for index in _duplicates([{"name": n} for n in names]):
        add([*cpath, "observables", index], f"duplicate observable {names[index]!r}")
    samples = {sample["name"] for sample in channel["samples"]}
    for r, ref in enumerate(channel["reference"]["samples"]):
        if ref not in samples:
            add(
                [*cpath, "reference", "samples", r],
                f"{ref!r} is not a sample of this channel; "
                "samples are: " + ", ".join(sorted(samples)),
            )
    for s, sample in enumerate(channel["samples"]):
        spath = [*cpath, "samples", s]
        _check_file(sample["source"], [*spath, "source"], base_dir, add)
        if "coefficient" in sample:
            try:
                parse(sample["coefficient"])
            except InvalidExpression as error:
                add([*spath, "coefficient"], str(error))
        for m, modifier in enumerate(sample["modifiers"]):
            if modifier["type"] == "shape":
                for side in ("hi", "lo"):
                    merged = {**sample["source"], **modifier["data"][side]}
                    _check_file(merged, [*spath, "modifiers", m, "data", side], base_dir, add)


def validate(spec: Any, base_dir: str | Path | None = None) -> tuple[list[Problem], list[Problem]]:
    """Check a workspace dict; returns ``(problems, warnings)``.

    Schema problems are reported first; the semantic rules run once the structure is valid.
    Files named by ntuple sources are looked up relative to ``base_dir`` (the workspace's
    folder); with ``base_dir=None`` relative paths are not checked.

    Example:
        >>> from nsbi.workspace.simplemodels import uncorrelated_background_spec
        >>> spec = uncorrelated_background_spec([5.0], [50.0], [7.0], observed=[52])
        >>> validate(spec)
        ([], [])
        >>> spec["measurements"][0]["config"]["poi"] = "mu_sig"
        >>> print(validate(spec)[0][0])
        measurements[0].config.poi: POI 'mu_sig' is not a parameter of the model; free parameters are: mu
    """
    problems = nonfinite_problems(spec) + schema_problems(spec)
    if problems:
        return problems, []
    return _semantic_problems(spec, Path(base_dir) if base_dir is not None else None)


def nonfinite_problems(spec: Any, path: str = "") -> list[Problem]:
    """One problem per number in ``spec`` that is not finite: JSON has no NaN or infinity,
    but Python's parser accepts the literals ``NaN`` and ``Infinity``, and ``1e400``
    overflows to infinity; any of them in a count, yield or factor would reach the numerics.

    Example:
        >>> [problem] = nonfinite_problems({"observations": [{"data": [3, float("nan")]}]})
        >>> problem.path, problem.message.split(";")[0]
        ('observations[0].data[1]', 'nan is not a finite number')
    """
    problems = []
    stack = [(path, spec)]
    while stack:  # iterative: a deeply nested document cannot exhaust the recursion limit
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            problems.append(
                Problem(
                    where,
                    f"{value} is not a finite number; write the value itself (JSON has no NaN "
                    "or Infinity, and 1e400 overflows)",
                )
            )
        elif isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((f"{where}[{i}]", v) for i, v in enumerate(value))
    return sorted(problems, key=lambda p: p.path)


def load(path: str | Path) -> tuple[dict, list[Problem]]:
    """Read and validate a workspace file; returns ``(spec, warnings)`` or raises
    :class:`InvalidWorkspace` listing every problem."""
    path = Path(path)
    spec = read_json(path)
    problems, warnings = validate(spec, base_dir=path.resolve().parent)
    if problems:
        raise InvalidWorkspace(problems, str(path))
    return spec, warnings
