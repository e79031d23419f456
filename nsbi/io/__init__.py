"""Input and output: atomic writers for results (ROOT ntuple readers join in the unbinned work)."""

from nsbi.io.atomic import atomic_path, write_json

__all__ = ["write_json", "atomic_path"]
