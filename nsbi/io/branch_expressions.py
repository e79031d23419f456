"""Safe expressions of ntuple branches: weights, selections and observables of a workspace.

A workspace writes per-event quantities as text in Python syntax, for instance

* an observable ``lep_pt[:, 0]`` (the leading lepton's transverse momentum),
* a weight ``weight_mc * sf_lep * 1.2``,
* a selection ``(num(lep_pt) > 0) & (abs(lep_eta[:, 0]) < 2.5)``.

The text is parsed with :func:`ast.parse` (``mode="eval"``) and the syntax tree is walked against
an allow-list; nothing is ever passed to ``eval``, ``exec`` or a compiled code object. Allowed are

* branch names (any identifier; its array is looked up in the mapping of arrays),
* numbers and ``True`` / ``False``,
* ``+ - * / // % **``, unary ``- + ~`` and ``not``,
* comparisons ``< <= > >= == !=``, chained ones included (``0 < x < 1`` means
  ``(0 < x) & (x < 1)``),
* ``and`` / ``or`` (elementwise logical and / or: both sides are always evaluated, there is no
  short-circuit) and the elementwise ``&`` ``|``,
* indexing of (jagged) arrays with integers, slices, tuples of those, or an expression such as a
  boolean mask: ``lep_pt[:, 0]``, ``lep_pt[:, :2]``, ``jet_pt[jet_pt > 30]``,
* calls of the numpy functions in :data:`UFUNCS` (applied elementwise, awkward dispatches them),
  ``where(condition, a, b)``, and the awkward reducers in :data:`REDUCERS` along the innermost
  axis (``axis=-1`` unless an integer ``axis=`` keyword says otherwise, the only keyword allowed).

As in Python, ``&`` and ``|`` bind tighter than comparisons: write ``(x > 0) & (y < 1)``.
Branch names must be Python identifiers. Anything else (attribute access, lambdas,
comprehensions, strings, unknown functions, other keywords) raises
:class:`BranchExpressionError` naming the expression, the offending piece and what is allowed.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable, Mapping
from typing import Any

import awkward as ak
import numpy as np

from nsbi.exceptions import InvalidExpression

__all__ = [
    "BranchExpressionError",
    "branches_of",
    "evaluate",
    "UFUNCS",
    "REDUCERS",
    "MAX_LENGTH",
    "MAX_DEPTH",
]

#: the longest expression text accepted
MAX_LENGTH = 10_000

#: the deepest syntax tree accepted (evaluation recurses along it)
MAX_DEPTH = 200

#: Elementwise functions, by the name an expression calls them with.
UFUNCS: dict[str, np.ufunc] = {
    "abs": np.absolute,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "arctan2": np.arctan2,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "arcsinh": np.arcsinh,
    "arccosh": np.arccosh,
    "minimum": np.minimum,
    "maximum": np.maximum,
}

#: Reducers of jagged arrays along an axis (the innermost, ``axis=-1``, by default).
REDUCERS: dict[str, Callable[..., Any]] = {
    "num": ak.num,
    "sum": ak.sum,
    "max": ak.max,
    "min": ak.min,
}

_FUNCTIONS = sorted([*UFUNCS, "where", *REDUCERS])

_BINARY: dict[type[ast.operator], np.ufunc] = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
    ast.BitAnd: np.bitwise_and,
    ast.BitOr: np.bitwise_or,
}

_UNARY: dict[type[ast.unaryop], np.ufunc] = {
    ast.USub: np.negative,
    ast.UAdd: np.positive,
    ast.Not: np.logical_not,
    ast.Invert: np.invert,
}

_COMPARE: dict[type[ast.cmpop], np.ufunc] = {
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
}

_BOOL: dict[type[ast.boolop], np.ufunc] = {ast.And: np.logical_and, ast.Or: np.logical_or}

ALLOWED = (
    "allowed are branch names, numbers, True/False, + - * / // % **, unary - + ~ not, "
    "comparisons < <= > >= == !=, and/or, & |, indexing such as lep_pt[:, 0], and calls of "
    + ", ".join(_FUNCTIONS)
    + " (reducers num/sum/max/min take one array and optionally an integer axis=)"
)


class BranchExpressionError(InvalidExpression):
    """A branch expression that the safe evaluator refuses or cannot evaluate.

    Attributes:
        expression: the full text.
        position: 0-based character offset of the offending piece.
        piece: the offending piece of text.
        reason: what is wrong and what is allowed.

    Example:
        >>> try:
        ...     branches_of("x.__class__")
        ... except BranchExpressionError as error:
        ...     print(error.piece)
        x.__class__
    """

    def __init__(self, expression: str, position: int, piece: str, reason: str):
        self.piece = piece
        super().__init__(expression, position, f"{piece!r}: {reason}")


def _position(text: str, node: ast.AST) -> int:
    """Character offset of ``node`` in ``text`` (ast counts lines from 1 and columns from 0)."""
    lines = text.splitlines(keepends=True)
    line = getattr(node, "lineno", 1)
    column = getattr(node, "col_offset", 0)
    return sum(len(part) for part in lines[: line - 1]) + column


def _refuse(text: str, node: ast.AST, reason: str) -> BranchExpressionError:
    piece = ast.get_source_segment(text, node) or ast.unparse(node)
    return BranchExpressionError(text, _position(text, node), piece, reason)


def _check_integer(text: str, node: ast.AST) -> None:
    """An integer literal, possibly negative (``-1`` is ``UnaryOp(USub, Constant(1))``)."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        node = node.operand
    if not (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int)
        and not isinstance(node.value, bool)
    ):
        raise _refuse(text, node, "expected an integer here")


def _check(text: str, node: ast.AST) -> None:
    """Walk ``node`` against the allow-list; raise :class:`BranchExpressionError` otherwise."""
    if isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise _refuse(text, node, "names starting with '__' are not branch names; " + ALLOWED)
        return
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (bool, int, float)):
            raise _refuse(
                text, node, f"{type(node.value).__name__} constants are refused; " + ALLOWED
            )
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            raise _refuse(text, node, f"operator {type(node.op).__name__} is refused; " + ALLOWED)
        _check(text, node.left)
        _check(text, node.right)
        return
    if isinstance(node, ast.UnaryOp):
        _check(text, node.operand)
        return
    if isinstance(node, ast.BoolOp):
        for value in node.values:
            _check(text, value)
        return
    if isinstance(node, ast.Compare):
        for op in node.ops:
            if type(op) not in _COMPARE:
                raise _refuse(text, node, f"comparison {type(op).__name__} is refused; " + ALLOWED)
        for value in (node.left, *node.comparators):
            _check(text, value)
        return
    if isinstance(node, ast.Subscript):
        _check(text, node.value)
        items = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        for item in items:
            if isinstance(item, ast.Slice):
                for bound in (item.lower, item.upper, item.step):
                    if bound is not None:
                        _check_integer(text, bound)
            else:
                _check(text, item)
        return
    if isinstance(node, ast.Call):
        _check_call(text, node)
        return
    raise _refuse(
        text, node, f"{type(node).__name__} is not allowed in a branch expression; " + ALLOWED
    )


def _check_call(text: str, node: ast.Call) -> None:
    if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
        raise _refuse(
            text, node.func, "not an allowed function; allowed are " + ", ".join(_FUNCTIONS)
        )
    name = node.func.id
    for arg in node.args:
        if isinstance(arg, ast.Starred):
            raise _refuse(text, arg, "*arguments are not allowed; " + ALLOWED)
        _check(text, arg)
    if name in REDUCERS:
        expected = 1
        for keyword in node.keywords:
            if keyword.arg != "axis":
                raise _refuse(text, keyword, f"{name}() takes only the keyword axis= (an integer)")
            _check_integer(text, keyword.value)
    else:
        expected = 3 if name == "where" else UFUNCS[name].nin
        if node.keywords:
            raise _refuse(text, node.keywords[0], f"{name}() takes no keyword arguments")
    if len(node.args) != expected:
        raise _refuse(text, node, f"{name}() takes {expected} argument(s), got {len(node.args)}")


@functools.lru_cache(maxsize=512)
def _parse(text: str) -> ast.expr:
    """The checked syntax tree of ``text`` (cached: workspaces reuse expressions per chunk)."""
    if not isinstance(text, str) or not text.strip():
        raise BranchExpressionError(str(text), 0, str(text), "an expression must be non-empty text")
    source = text.strip()
    if len(source) > MAX_LENGTH:
        raise BranchExpressionError(
            source[:40] + "...", MAX_LENGTH, "", f"{len(source)} characters; an expression may "
            f"have at most {MAX_LENGTH} (compute long quantities into a branch of the ntuple)",
        )  # fmt: skip
    try:
        tree = ast.parse(source, mode="eval")
    except (RecursionError, MemoryError):
        raise BranchExpressionError(
            source[:40] + "...", 0, "", "nests too deeply to parse; simplify it"
        ) from None
    except SyntaxError as error:
        position = max((error.offset or 1) - 1, 0)
        raise BranchExpressionError(
            source, position, source[position:], f"not valid syntax ({error.msg}); " + ALLOWED
        ) from None
    depth = _depth(tree.body)
    if depth > MAX_DEPTH:
        raise BranchExpressionError(
            source[:40] + "...", 0, "", f"nests {depth} levels deep; at most {MAX_DEPTH}"
        )
    _check(source, tree.body)
    return tree.body


def _depth(body: ast.AST) -> int:
    """The depth of a syntax tree, walked without recursion."""
    deepest, stack = 0, [(body, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def branches_of(text: str) -> set[str]:
    """The branch names that expression ``text`` reads (so only those are read from disk).

    Raises:
        BranchExpressionError: if the text is not an allowed expression.

    Example:
        >>> sorted(branches_of("(num(lep_pt) > 0) & (sqrt(met_x**2 + met_y**2) > 20)"))
        ['lep_pt', 'met_x', 'met_y']
        >>> branches_of("1.5")
        set()
    """
    return {node.id for node in _names(_parse(text))}


def _names(body: ast.expr) -> list[ast.Name]:
    """The Name nodes of ``body`` that are values (branches), not the functions called."""
    called = {id(n.func) for n in ast.walk(body) if isinstance(n, ast.Call)}
    return [n for n in ast.walk(body) if isinstance(n, ast.Name) and id(n) not in called]


def evaluate(text: str, arrays: Mapping[str, ak.Array | np.ndarray]) -> ak.Array | np.ndarray:
    """Evaluate branch expression ``text`` on ``arrays`` (branch name to array), elementwise.

    Arguments:
        text: the expression (see the module docstring for what is allowed).
        arrays: the branches it reads, awkward (possibly jagged) or numpy arrays of one length.

    Returns:
        An awkward or numpy array (or a numpy scalar, for an expression without branches).

    Raises:
        BranchExpressionError: for a refused expression, a branch missing from ``arrays``, an
            index out of range (an event with fewer entries than the index asks for), or values
            that do not combine (e.g. arrays of different lengths).

    Example:
        >>> import awkward as ak, numpy as np
        >>> arrays = {"lep_pt": ak.Array([[50.0, 20.0], [30.0]]), "w": np.array([0.5, 2.0])}
        >>> evaluate("lep_pt[:, 0] * w", arrays).tolist()
        [25.0, 60.0]
        >>> evaluate("num(lep_pt) == 2", arrays).tolist()
        [True, False]
        >>> evaluate("sum(lep_pt[lep_pt > 25])", arrays).tolist()
        [50.0, 30.0]
    """
    body = _parse(text)
    return _Evaluator(text.strip(), arrays).visit(body)


class _Evaluator:
    """Evaluates a checked syntax tree; every node type here was allowed by :func:`_check`."""

    def __init__(self, text: str, arrays: Mapping[str, Any]):
        self.text = text
        self.arrays = arrays

    def visit(self, node: ast.AST) -> Any:
        method = getattr(self, f"_{type(node).__name__}")
        try:
            return method(node)
        except BranchExpressionError:
            raise
        except IndexError:
            target = node.value if isinstance(node, ast.Subscript) else node
            branch = ast.get_source_segment(self.text, target) or "the array"
            raise _refuse(
                self.text,
                node,
                f"index out of range in some events (an event with fewer entries than the index "
                f"asks for, e.g. no lepton); keep only events that have one with a selection "
                f"such as 'num({branch}) > 0'",
            ) from None
        except (ValueError, TypeError, ZeroDivisionError) as error:
            message = str(error).split("\n\nThis error occurred while")[0].replace("\n", " ")
            raise _refuse(self.text, node, f"cannot be evaluated: {message}") from None

    def _Name(self, node: ast.Name) -> Any:
        try:
            return self.arrays[node.id]
        except KeyError:
            available = ", ".join(sorted(self.arrays)) or "(none)"
            raise _refuse(
                self.text, node, f"no branch {node.id!r} among the arrays given: {available}"
            ) from None

    def _Constant(self, node: ast.Constant) -> Any:
        return node.value

    def _BinOp(self, node: ast.BinOp) -> Any:
        return _BINARY[type(node.op)](self.visit(node.left), self.visit(node.right))

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        return _UNARY[type(node.op)](self.visit(node.operand))

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        combine = _BOOL[type(node.op)]
        return functools.reduce(combine, [self.visit(value) for value in node.values])

    def _Compare(self, node: ast.Compare) -> Any:
        values = [self.visit(node.left), *(self.visit(v) for v in node.comparators)]
        parts = [
            _COMPARE[type(op)](left, right)
            for op, left, right in zip(node.ops, values[:-1], values[1:], strict=True)
        ]
        return functools.reduce(np.logical_and, parts)

    def _Subscript(self, node: ast.Subscript) -> Any:
        value = self.visit(node.value)
        if isinstance(node.slice, ast.Tuple):
            index: Any = tuple(self._index(item) for item in node.slice.elts)
        else:
            index = self._index(node.slice)
        return value[index]

    def _index(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Slice):
            bounds = [
                None if b is None else self.visit(b) for b in (node.lower, node.upper, node.step)
            ]
            return slice(*(None if b is None else int(b) for b in bounds))
        value = self.visit(node)
        return int(value) if isinstance(value, (int, np.integer)) else value

    def _Call(self, node: ast.Call) -> Any:
        name = node.func.id  # type: ignore[attr-defined]  (checked: a Name)
        args = [self.visit(arg) for arg in node.args]
        if name in REDUCERS:
            axis = -1
            for keyword in node.keywords:
                axis = int(self.visit(keyword.value))
            return REDUCERS[name](args[0], axis=axis)
        if name == "where":
            if any(isinstance(arg, ak.Array) for arg in args):
                return ak.where(*args)
            return np.where(*args)
        return UFUNCS[name](*args)
