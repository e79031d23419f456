"""The nsbi workspace schema and the JSON-schema validator that reports problems by JSON path.

The schema ships as package data (``nsbi/schemas/<version>/workspace.json``). It refers to pyhf's
own ``defs.json`` for binned channels, binned observations and measurement parameters, so a
binned channel is valid for nsbi exactly when it is valid for pyhf.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

import jsonschema
import pyhf.schema
from referencing import Registry, Resource

from nsbi.exceptions import Problem

__all__ = ["SCHEMA_VERSION", "load_schema", "schema_problems", "format_path"]

SCHEMA_VERSION = "1.0.0"
_PYHF_DEFS = "https://scikit-hep.org/pyhf/schemas/1.0.0/defs.json"


@cache
def load_schema(version: str = SCHEMA_VERSION) -> dict:
    """The nsbi workspace JSON schema of ``version``, as a dict."""
    text = resources.files("nsbi").joinpath(f"schemas/{version}/workspace.json").read_text()
    return json.loads(text)


@cache
def _validator(version: str = SCHEMA_VERSION) -> jsonschema.Draft7Validator:
    defs = pyhf.schema.load_schema(f"{version}/defs.json")
    registry = Registry().with_resource(_PYHF_DEFS, Resource.from_contents(defs))
    return jsonschema.Draft7Validator(load_schema(version), registry=registry)


def format_path(parts) -> str:
    """``["channels", 1, "samples", 0, "name"]`` -> ``channels[1].samples[0].name``."""
    text = ""
    for part in parts:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _describe(error: jsonschema.ValidationError) -> list[Problem]:
    """Turn one jsonschema error into readable problems (may recurse into anyOf/oneOf)."""
    path = list(error.absolute_path)
    kind = error.validator
    value = error.instance
    if kind == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(set(value) - set(allowed))
        return [
            Problem(
                format_path([*path, key]), f"unknown key; allowed keys here: {', '.join(allowed)}"
            )
            for key in extra
        ]
    if kind == "required":
        return [
            Problem(
                format_path(path),
                error.message.replace("is a required property", "is missing (required key)"),
            )
        ]
    if kind == "type":
        return [
            Problem(
                format_path(path),
                f"{_short(value)} has the wrong type; expected {error.validator_value}",
            )
        ]
    if kind == "const":
        return [
            Problem(format_path(path), f"{_short(value)}; expected {_short(error.validator_value)}")
        ]
    if kind == "enum":
        expected = ", ".join(map(str, error.validator_value))
        return [Problem(format_path(path), f"{_short(value)}; expected one of: {expected}")]
    if kind == "not" and "required" in error.validator_value:
        keys = " and ".join(repr(k) for k in error.validator_value["required"])
        return [Problem(format_path(path), f"{keys} exclude each other; give only one")]
    if kind in ("anyOf", "oneOf") and error.context:
        return _best_alternative(error)
    if kind in (
        "minItems",
        "maxItems",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "minLength",
        "pattern",
        "minProperties",
        "uniqueItems",
    ):
        return [Problem(format_path(path), error.message)]
    return [Problem(format_path(path), error.message)]


def _best_alternative(error: jsonschema.ValidationError) -> list[Problem]:
    """For ``anyOf`` over modifier kinds: report against the alternative whose ``type`` matches.

    pyhf lists modifiers as ``anyOf`` of one schema per type; a plain validator then says only
    "not valid under any of the given schemas". Alternatives whose ``type`` const fails are
    discarded; if none is left the ``type`` itself is unknown.
    """
    by_branch: dict[int, list[jsonschema.ValidationError]] = {}
    for sub in error.context:
        by_branch.setdefault(sub.schema_path[0], []).append(sub)
    type_consts = []
    candidates = []
    for _, subs in sorted(by_branch.items()):
        wrong_type = [
            s for s in subs if s.validator == "const" and list(s.relative_path) == ["type"]
        ]
        if wrong_type:
            type_consts.append(wrong_type[0].validator_value)
        else:
            candidates.append(subs)
    path = list(error.absolute_path)
    if (
        isinstance(error.instance, dict)
        and "type" in error.instance
        and not candidates
        and type_consts
    ):
        return [
            Problem(
                format_path([*path, "type"]),
                f"unknown modifier type {_short(error.instance['type'])}; expected one of: "
                + ", ".join(type_consts),
            )
        ]
    if candidates:
        best = min(candidates, key=len)
        problems = []
        for sub in best:
            problems.extend(_describe(sub))
        return problems
    best = jsonschema.exceptions.best_match(error.context)
    return _describe(best) if best is not None else [Problem(format_path(path), error.message)]


def schema_problems(spec: Any, version: str = SCHEMA_VERSION) -> list[Problem]:
    """Every schema violation of ``spec``, one :class:`Problem` per place, in document order.

    Example:
        >>> schema_problems({"channels": [], "observations": [], "measurements": [],
        ...                  "version": "1.0.0", "chanels": []})[0].path
        'chanels'
    """
    problems: list[Problem] = []
    for error in sorted(
        _validator(version).iter_errors(spec), key=lambda e: list(map(str, e.absolute_path))
    ):
        problems.extend(_describe(error))
    unique = list(dict.fromkeys(problems))
    return unique
