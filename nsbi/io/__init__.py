"""Input and output: atomic writers for results, ROOT ntuple readers and safe branch expressions."""

from nsbi.io.atomic import atomic_path, write_json
from nsbi.io.branch_expressions import BranchExpressionError, branches_of, evaluate
from nsbi.io.ntuple import EventSample, NtupleError, read_events, read_source, write_ntuple

__all__ = [
    "write_json",
    "atomic_path",
    "EventSample",
    "read_events",
    "read_source",
    "write_ntuple",
    "NtupleError",
    "BranchExpressionError",
    "branches_of",
    "evaluate",
]
