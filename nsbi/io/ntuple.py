r"""Events from ROOT ntuples: the per-event features :math:`x_i` and weights :math:`w_i`.

An unbinned sample of a workspace names its events by a *source*: a file, a tree in it, and
optionally a weight expression, a selection and an entry range. :func:`read_events` reads them
with :mod:`uproot` in chunks, reading only the branches that the expressions need (see
:mod:`nsbi.io.branch_expressions`), and per chunk

1. keeps the events whose selection is true (an event whose selection is missing, e.g. a
   comparison with ``max`` of an empty list, is dropped),
2. evaluates each observable and the weight on the kept events; each must give *one* number per
   event (index or reduce jagged branches: ``lep_pt[:, 0]``, ``sum(jet_pt)``).

The result is an :class:`EventSample`: an :math:`n \times d` matrix of features (one column per
observable, in the order given) and the :math:`n` weights, with
:math:`\sum_i w_i` the sample's expected yield when the weights are normalised that way.
Non-finite features or weights are errors: they would poison every density ratio downstream.

:func:`write_ntuple` writes small ntuples (TTrees, flat or jagged branches) atomically, for tests,
examples and toy data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import uproot

from nsbi.exceptions import NSBIError
from nsbi.io.atomic import atomic_path
from nsbi.io.branch_expressions import BranchExpressionError, branches_of, evaluate

__all__ = ["NtupleError", "EventSample", "read_events", "read_source", "write_ntuple"]

_SOURCE_KEYS = ("file", "tree", "weight", "selection", "entry_start", "entry_stop")


class NtupleError(NSBIError):
    """An ntuple that cannot be read as asked: missing file, tree or branch, bad values, ....

    The message starts with the file and tree (``path:tree``) and ends with the fix.
    """


@dataclass
class EventSample:
    """Weighted events: ``features[i, k]`` is observable ``observables[k]`` of event ``i``.

    Attributes:
        features: ``(n_events, n_observables)`` float64 matrix.
        weights: ``(n_events,)`` float64 per-event weights (negative ones allowed).
        observables: the observable names, one per column.
        description: where the events came from, e.g. ``"ntuples/S.root:nominal"``.

    Example:
        >>> import numpy as np
        >>> events = EventSample(np.zeros((3, 2)), np.full(3, 0.5), ["x", "y"], "toy")
        >>> events.n_events, events.sum_weights
        (3, 1.5)
    """

    features: np.ndarray
    weights: np.ndarray
    observables: list[str]
    description: str

    def __post_init__(self) -> None:
        self.features = np.asarray(self.features, dtype=np.float64)
        self.weights = np.asarray(self.weights, dtype=np.float64)
        self.observables = list(self.observables)
        n = self.weights.shape[0] if self.weights.ndim == 1 else -1
        if self.features.shape != (n, len(self.observables)):
            raise ValueError(
                f"EventSample {self.description!r}: features of shape {self.features.shape} and "
                f"weights of shape {self.weights.shape} do not match {len(self.observables)} "
                "observable(s); expected features (n_events, n_observables), weights (n_events,)"
            )

    @property
    def n_events(self) -> int:
        """The number of events :math:`n`."""
        return int(self.weights.shape[0])

    @property
    def sum_weights(self) -> float:
        r""":math:`\sum_i w_i`."""
        return float(self.weights.sum())

    def __repr__(self) -> str:
        return (
            f"EventSample({self.n_events} events, observables={self.observables}, "
            f"sum_weights={self.sum_weights:.6g}, description={self.description!r})"
        )


def _observable_expressions(
    observables: Sequence[str | Mapping[str, Any]],
) -> list[tuple[str, str]]:
    """``(name, expression)`` of each observable: a branch name, or a workspace observable dict."""
    if isinstance(observables, (str, Mapping)) or len(observables) == 0:
        raise NtupleError(
            f"observables must be a non-empty list of branch names or {{'name', 'expression'}} "
            f"objects, got {observables!r}"
        )
    pairs = []
    for index, observable in enumerate(observables):
        if isinstance(observable, str):
            pairs.append((observable, observable))
        elif isinstance(observable, Mapping) and isinstance(observable.get("name"), str):
            pairs.append((observable["name"], observable.get("expression", observable["name"])))
        else:
            raise NtupleError(
                f"observables[{index}] = {observable!r}: expected a branch name or an object with "
                "a 'name' (and optionally an 'expression' and 'bounds')"
            )
    names = [name for name, _ in pairs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise NtupleError(f"observables {duplicates} appear more than once; give each one name")
    return pairs


def _label(name: str, expression: str) -> str:
    if name == expression:
        return f"observable {name!r}"
    return f"observable {name!r} (expression {expression!r})"


def _listing(names: Sequence[str], limit: int = 60) -> str:
    names = sorted(names)
    shown = ", ".join(names[:limit]) or "(none)"
    return shown + (f", ... ({len(names) - limit} more)" if len(names) > limit else "")


def _resolve(file: str | os.PathLike, base_dir: str | os.PathLike | None) -> Path:
    path = Path(file)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def _open_tree(root_file: Any, tree: str, where: str) -> Any:
    """The TTree (or RNTuple) ``tree`` of an open file, or an error listing the trees there."""
    classnames = root_file.classnames(cycle=False)
    trees = [k for k, c in classnames.items() if c in ("TTree", "TNtuple", "ROOT::RNTuple")]
    try:
        obj = root_file[tree]
    except (KeyError, uproot.KeyInFileError):
        others = [k for k in classnames if k not in trees]
        raise NtupleError(
            f"{where}: no tree {tree!r} in the file; trees in it: {_listing(trees)}"
            + (f" (other keys: {_listing(others)})" if others else "")
            + "; fix the source's 'tree'"
        ) from None
    if not (hasattr(obj, "iterate") and hasattr(obj, "num_entries")):
        raise NtupleError(
            f"{where}: {tree!r} is a {classnames.get(tree, type(obj).__name__)}, not a tree; "
            f"trees in the file: {_listing(trees)}"
        )
    return obj


def _per_event(value: Any, n: int, label: str, expression: str, where: str) -> np.ndarray:
    """One float per event from an evaluated observable or weight, or an error saying the fix."""
    if isinstance(value, ak.Array):
        if value.ndim != 1 or isinstance(ak.type(value).content, ak.types.RecordType):
            name = expression if expression.isidentifier() else "lep_pt"
            raise NtupleError(
                f"{where}: {label} gives a list of values per event (type "
                f"{ak.type(value).content}), not one number; index it, e.g. '{name}[:, 0]', or "
                f"reduce it, e.g. 'sum({name})' or 'num({name})'"
            )
        missing = int(ak.sum(ak.is_none(value, axis=0)))
        if missing:
            raise NtupleError(
                f"{where}: {label} has no value in {missing} of {n} events (e.g. max or min of an "
                "empty list); add a selection such as 'num(lep_pt) > 0'"
            )
        value = ak.to_numpy(value)
    value = np.asarray(value)
    if value.ndim == 0:
        if branches_of(expression):
            raise NtupleError(
                f"{where}: {label} reduces over events (one number for a whole chunk); the "
                "reducers num/sum/max/min act on the lists within an event, e.g. 'sum(jet_pt)' "
                "with jet_pt a jagged branch"
            )
        return np.full(n, value, dtype=np.float64)
    if value.ndim != 1:
        raise NtupleError(
            f"{where}: {label} gives {value.shape[1:]} values per event, not one number; index "
            "it, e.g. 'x[:, 0]'"
        )
    if value.dtype.kind not in "biuf":
        raise NtupleError(f"{where}: {label} gives {value.dtype} values; expected numbers")
    return value.astype(np.float64, copy=False)


def _selection_mask(value: Any, n: int, selection: str, where: str) -> np.ndarray:
    """The boolean mask of a selection (missing values are false)."""
    label = f"selection {selection!r}"
    if isinstance(value, ak.Array):
        if value.ndim != 1:
            raise NtupleError(
                f"{where}: {label} gives a list of true/false per event, not one; reduce it, "
                "e.g. 'num(lep_pt[lep_pt > 25]) > 0' or index it, e.g. 'lep_pt[:, 0] > 25'"
            )
        value = ak.to_numpy(ak.fill_none(value, False))
    value = np.asarray(value)
    if value.dtype != np.bool_:
        raise NtupleError(
            f"{where}: {label} gives {value.dtype} values, not true/false; write a comparison, "
            "e.g. 'njet > 0' rather than 'njet'"
        )
    if value.ndim == 0:
        return np.full(n, bool(value))
    if value.ndim != 1:
        raise NtupleError(f"{where}: {label} gives {value.shape[1:]} values per event, not one")
    return value


def _evaluate(expression: str, arrays: Mapping[str, Any], label: str, where: str) -> Any:
    """Evaluate ``expression`` on a chunk; non-finite values are reported after the read."""
    try:
        with np.errstate(all="ignore"):
            return evaluate(expression, arrays)
    except BranchExpressionError as error:
        raise NtupleError(f"{where}: {label}: {error}") from error


def _check_entries(entry_start: int | None, entry_stop: int | None, where: str) -> None:
    for key, value in (("entry_start", entry_start), ("entry_stop", entry_stop)):
        if value is not None and (
            not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0
        ):
            raise NtupleError(f"{where}: {key} = {value!r}; expected a non-negative integer")
    if entry_start is not None and entry_stop is not None and entry_stop <= entry_start:
        raise NtupleError(
            f"{where}: entry_stop = {entry_stop} <= entry_start = {entry_start}; the range "
            "[entry_start, entry_stop) would hold no entry: make entry_stop larger than entry_start"
        )


def _non_finite(values: np.ndarray, entries: np.ndarray, label: str) -> str | None:
    bad = ~np.isfinite(values)
    if not bad.any():
        return None
    return (
        f"{label} is NaN or infinite in {int(bad.sum())} of {len(values)} selected events "
        f"(first at entry {int(entries[bad][0])})"
    )


def read_events(
    file: str | os.PathLike,
    tree: str,
    observables: Sequence[str | Mapping[str, Any]],
    *,
    weight: str | None = None,
    selection: str | None = None,
    entry_start: int | None = None,
    entry_stop: int | None = None,
    base_dir: str | os.PathLike | None = None,
    step_size: int | str = "100 MB",
    allow_empty: bool = False,
) -> EventSample:
    """Read the selected events of ``tree`` in ``file``: their observables and weights.
    ``allow_empty``: no event (an empty tree, range or selection) gives an empty sample instead
    of an error (observed data may hold no event; a simulated sample may not).

    Arguments:
        file: the ROOT file; a relative path is relative to ``base_dir`` (the workspace's folder).
        tree: the TTree (or RNTuple) name, possibly with folders (``"dir/nominal"``).
        observables: each a branch name or a workspace observable
            ``{"name": ..., "expression": ..., "bounds": [...]}`` (``expression`` defaults to the
            name; ``bounds`` are not used here). Each must give one number per event.
        weight: expression of the per-event weight; all ones if not given.
        selection: boolean expression; only events where it is true are kept.
        entry_start, entry_stop: read entries ``[entry_start, entry_stop)`` of the tree only
            (before the selection).
        base_dir: the folder relative paths are resolved against.
        step_size: chunk size for :meth:`uproot.TTree.iterate`: a number of entries or a memory
            size such as ``"100 MB"``. The result does not depend on it.

    Raises:
        NtupleError: missing file, tree or branch; a refused or failing expression (the
            :class:`~nsbi.io.branch_expressions.BranchExpressionError` is its ``__cause__``);
            a jagged observable; an index out of range; NaN or inf in features or weights; a
            selection that is not boolean or keeps no event; an empty entry range.

    Example:
        >>> import tempfile, pathlib, numpy as np, awkward as ak
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_ntuple(folder / "S.root", {"nominal": {
        ...     "lep_pt": ak.Array([[40.0, 25.0], [], [30.0]]), "w": np.array([1.0, 2.0, 0.5])}})
        >>> events = read_events("S.root", "nominal",
        ...     [{"name": "pt1", "expression": "lep_pt[:, 0]"}],
        ...     weight="2 * w", selection="num(lep_pt) > 0", base_dir=folder)
        >>> events.features[:, 0].tolist(), events.weights.tolist(), events.description
        ([40.0, 30.0], [2.0, 1.0], 'S.root:nominal')
    """
    path = _resolve(file, base_dir)
    where = f"{path}:{tree}"
    pairs = _observable_expressions(observables)
    _check_entries(entry_start, entry_stop, where)

    askers: list[tuple[str, str]] = [(_label(name, expr), expr) for name, expr in pairs]
    if weight is not None:
        askers.append((f"weight {weight!r}", weight))
    if selection is not None:
        askers.append((f"selection {selection!r}", selection))
    reads: dict[str, set[str]] = {}
    for label, expression in askers:
        try:
            reads[label] = branches_of(expression)
        except BranchExpressionError as error:
            raise NtupleError(f"{where}: {label}: {error}") from error

    if not path.is_file():
        raise NtupleError(
            f"{where}: the ntuple file {str(path)!r} does not exist (file {str(file)!r}"
            + (f" resolved against {str(base_dir)!r}" if base_dir is not None else "")
            + "); paths in a workspace are relative to the workspace file: fix the source's 'file'"
        )
    try:
        root_file = uproot.open(path)
    except (OSError, ValueError) as error:
        raise NtupleError(f"{where}: cannot open as a ROOT file: {error}") from error
    with root_file:
        ttree = _open_tree(root_file, tree, where)
        available = set(ttree.keys())
        for label, branches in reads.items():
            missing = sorted(branches - available)
            if missing:
                raise NtupleError(
                    f"{where}: no branch {missing[0]!r} (read by {label}) in tree {tree!r}; its "
                    f"branches: {_listing(list(available))}; fix the expression or the tree"
                )
        needed = sorted(set().union(*reads.values())) or sorted(available)[:1]
        features, weights, entries = [], [], []
        n_read = 0
        chunks = ttree.iterate(
            needed,
            library="ak",
            step_size=step_size,
            entry_start=entry_start,
            entry_stop=entry_stop,
            report=True,
        )
        for chunk, report in chunks:
            arrays = {name: chunk[name] for name in needed}
            kept = np.arange(report.tree_entry_start, report.tree_entry_stop)
            n_read += len(kept)
            if selection is not None:
                value = _evaluate(selection, arrays, f"selection {selection!r}", where)
                mask = _selection_mask(value, len(kept), selection, where)
                arrays = {name: array[mask] for name, array in arrays.items()}
                kept = kept[mask]
            columns = []
            for name, expr in pairs:
                label = _label(name, expr)
                value = _evaluate(expr, arrays, label, where)
                columns.append(_per_event(value, len(kept), label, expr, where))
            if weight is None:
                chunk_weights = np.ones(len(kept))
            else:
                label = f"weight {weight!r}"
                value = _evaluate(weight, arrays, label, where)
                chunk_weights = _per_event(value, len(kept), label, weight, where)
            features.append(np.column_stack(columns) if columns else np.empty((len(kept), 0)))
            weights.append(chunk_weights)
            entries.append(kept)
        num_entries = int(ttree.num_entries)

    if allow_empty and not features:
        features, weights, entries = [np.empty((0, len(pairs)))], [np.empty(0)], [np.empty(0, int)]
    if n_read == 0 and not allow_empty:
        raise NtupleError(
            f"{where}: no entry read: the tree has {num_entries} entries and the range "
            f"[{entry_start or 0}, {entry_stop if entry_stop is not None else num_entries}) holds "
            "none of them; fix entry_start / entry_stop"
        )
    feature_matrix = np.concatenate(features)
    weight_vector = np.concatenate(weights)
    entry_numbers = np.concatenate(entries)
    if len(weight_vector) == 0 and not allow_empty:
        raise NtupleError(
            f"{where}: the selection {selection!r} keeps no event of the {n_read} read; loosen it "
            "or check the branches it reads"
        )
    problems = [
        _non_finite(feature_matrix[:, k], entry_numbers, _label(name, expr))
        for k, (name, expr) in enumerate(pairs)
    ]
    problems.append(_non_finite(weight_vector, entry_numbers, f"weight {weight!r}"))
    problems = [p for p in problems if p is not None]
    if problems:
        raise NtupleError(
            f"{where}: "
            + "; ".join(problems)
            + "; fix the expression or drop those events with a selection (e.g. 'x > 0' before "
            "log(x))"
        )
    return EventSample(
        features=feature_matrix,
        weights=weight_vector,
        observables=[name for name, _ in pairs],
        description=f"{file}:{tree}",
    )


def read_source(
    source: Mapping[str, Any],
    observables: Sequence[str | Mapping[str, Any]],
    base_dir: str | os.PathLike | None = None,
    allow_empty: bool = False,
) -> EventSample:
    """Read the events of a workspace ``source`` (keys file, tree, weight?, selection?,
    entry_start?, entry_stop?); see :func:`read_events`.

    Example:
        >>> import tempfile, pathlib, numpy as np
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> write_ntuple(folder / "B.root", {"nominal": {"x": np.array([0.5, 1.5, 2.5])}})
        >>> source = {"file": "B.root", "tree": "nominal", "selection": "x > 1"}
        >>> read_source(source, ["x"], base_dir=folder).features.ravel().tolist()
        [1.5, 2.5]
    """
    unknown = sorted(set(source) - set(_SOURCE_KEYS))
    absent = [key for key in ("file", "tree") if key not in source]
    if unknown or absent:
        raise NtupleError(
            f"source {dict(source)!r}: "
            + (f"unknown key(s) {unknown}; " if unknown else "")
            + (f"missing key(s) {absent}; " if absent else "")
            + f"a source has the keys {list(_SOURCE_KEYS)} (file and tree required)"
        )
    return read_events(
        source["file"],
        source["tree"],
        observables,
        weight=source.get("weight"),
        selection=source.get("selection"),
        entry_start=source.get("entry_start"),
        entry_stop=source.get("entry_stop"),
        base_dir=base_dir,
        allow_empty=allow_empty,
    )


def _branch_array(value: Any) -> np.ndarray | ak.Array:
    """A numpy array for flat or rectangular data, an awkward array for jagged data."""
    if isinstance(value, (np.ndarray, ak.Array)):
        return value
    try:
        return np.asarray(value)
    except ValueError:
        return ak.Array(value)


def write_ntuple(
    path: str | os.PathLike, trees: Mapping[str, Mapping[str, np.ndarray | ak.Array | Sequence]]
) -> None:
    """Write ``trees`` (tree name to branch name to array) to a new ROOT file, atomically.

    Each tree is a TTree; a flat branch is a 1-D numpy array, a jagged one an awkward array of
    lists (uproot adds its counter branch ``n<name>``). The file is written beside ``path`` and
    moved onto it, so ``path`` is never half-written.

    Raises:
        NtupleError: a tree without branches, branches of different lengths, or data uproot
            cannot write.

    Example:
        >>> import tempfile, pathlib, numpy as np, awkward as ak, uproot
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.root"
        >>> write_ntuple(path, {"events": {"x": np.arange(3.0), "j": ak.Array([[1], [], [2, 3]])}})
        >>> with uproot.open(path) as f:
        ...     sorted(f["events"].keys())
        ['j', 'nj', 'x']
    """
    prepared = {}
    for name, branches in trees.items():
        data = {branch: _branch_array(value) for branch, value in branches.items()}
        if not data:
            raise NtupleError(f"{path}: tree {name!r} has no branches; give it at least one")
        lengths = {branch: len(value) for branch, value in data.items()}
        if len(set(lengths.values())) > 1:
            raise NtupleError(
                f"{path}: tree {name!r}: branches have different numbers of entries {lengths}; "
                "every branch needs one value (or one list) per event"
            )
        prepared[name] = data
    with atomic_path(path) as tmp:
        with uproot.recreate(tmp) as root_file:
            for name, data in prepared.items():
                try:
                    root_file.mktree(name, data)
                except (TypeError, ValueError) as error:
                    raise NtupleError(f"{path}: cannot write tree {name!r}: {error}") from error
