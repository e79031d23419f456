"""Workspaces: the JSON spec, its schema, validation and safe coefficient expressions."""

from nsbi.workspace.expressions import Expression, parse
from nsbi.workspace.schema import SCHEMA_VERSION, load_schema
from nsbi.workspace.validation import load, read_json, validate
from nsbi.workspace.workspace import Workspace

__all__ = [
    "Workspace",
    "Expression",
    "parse",
    "validate",
    "load",
    "read_json",
    "load_schema",
    "SCHEMA_VERSION",
]
