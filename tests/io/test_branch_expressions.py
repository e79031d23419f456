"""The safe branch-expression evaluator against numpy / plain-Python truth, and its refusals."""

from __future__ import annotations

import re
from pathlib import Path

import awkward as ak
import numpy as np
import pytest

from nsbi.exceptions import InvalidExpression, NSBIError
from nsbi.io import branches_of, evaluate
from nsbi.io.branch_expressions import BranchExpressionError

RNG = np.random.default_rng(7)
X = RNG.normal(size=50)
Y = RNG.uniform(0.5, 2.0, size=50)
N = RNG.integers(0, 4, size=50)
LISTS = [list(RNG.uniform(10.0, 100.0, size=k)) for k in RNG.integers(0, 4, size=50)]
ARRAYS = {"x": X, "y": Y, "n": N, "lep_pt": ak.Array(LISTS)}


@pytest.mark.parametrize(
    ("text", "truth"),
    [
        ("x + y * 2 - 1", X + Y * 2 - 1),
        ("x / y", X / Y),
        ("x // y", X // Y),
        ("x % y", X % Y),
        ("y ** 2.5", Y**2.5),
        ("-x + +y", -X + Y),
        ("abs(x)", np.abs(X)),
        ("sqrt(y) + exp(x) + log(y) + log10(y)", np.sqrt(Y) + np.exp(X) + np.log(Y) + np.log10(Y)),
        ("sin(x) * cos(x) / tan(y)", np.sin(X) * np.cos(X) / np.tan(Y)),
        ("arctan2(x, y)", np.arctan2(X, Y)),
        ("sinh(x) + cosh(x) + tanh(x)", np.sinh(X) + np.cosh(X) + np.tanh(X)),
        ("arcsinh(x) + arccosh(y + 1)", np.arcsinh(X) + np.arccosh(Y + 1)),
        ("minimum(x, y) + maximum(x, 0)", np.minimum(X, Y) + np.maximum(X, 0)),
        ("where(x > 0, x, y)", np.where(X > 0, X, Y)),
        ("2 * 3", 6),
    ],
)
def test_arithmetic_matches_numpy(text, truth):
    np.testing.assert_allclose(evaluate(text, ARRAYS), truth)


@pytest.mark.parametrize(
    ("text", "truth"),
    [
        ("x > 0", X > 0),
        ("x <= 0.5", X <= 0.5),
        ("(n == 2) | (n != 3)", (N == 2) | (N != 3)),
        ("-0.5 < x < 0.5", (X > -0.5) & (X < 0.5)),
        ("0 < x <= y < 1.5", (X > 0) & (X <= Y) & (Y < 1.5)),
        ("x > 0 and y > 1 or n == 0", ((X > 0) & (Y > 1)) | (N == 0)),
        ("not x > 0", ~(X > 0)),
        ("~(x > 0) & (n >= 1)", ~(X > 0) & (N >= 1)),
        ("True", True),
    ],
)
def test_booleans_match_numpy(text, truth):
    np.testing.assert_array_equal(evaluate(text, ARRAYS), truth)


def test_jagged_indexing_and_reducers_match_python():
    have = [i for i, pts in enumerate(LISTS) if pts]
    selected = {"lep_pt": ARRAYS["lep_pt"][np.array([len(p) > 0 for p in LISTS])]}
    assert evaluate("lep_pt[:, 0]", selected).tolist() == [LISTS[i][0] for i in have]
    assert evaluate("lep_pt[:, -1]", selected).tolist() == [LISTS[i][-1] for i in have]
    assert evaluate("lep_pt[:, :2]", ARRAYS).tolist() == [p[:2] for p in LISTS]
    assert evaluate("lep_pt[:, ::-1]", ARRAYS).tolist() == [p[::-1] for p in LISTS]
    assert evaluate("num(lep_pt)", ARRAYS).tolist() == [len(p) for p in LISTS]
    assert evaluate("num(lep_pt, axis=1)", ARRAYS).tolist() == [len(p) for p in LISTS]
    np.testing.assert_allclose(evaluate("sum(lep_pt)", ARRAYS).tolist(), [sum(p) for p in LISTS])
    assert evaluate("max(lep_pt)", ARRAYS).tolist() == [max(p) if p else None for p in LISTS]
    assert evaluate("min(lep_pt)", ARRAYS).tolist() == [min(p) if p else None for p in LISTS]
    masked = evaluate("sum(lep_pt[lep_pt > 50])", ARRAYS).tolist()
    np.testing.assert_allclose(masked, [sum(v for v in p if v > 50) for p in LISTS])
    scaled = evaluate("sqrt(lep_pt) * x", ARRAYS).tolist()
    for got, pts, x in zip(scaled, LISTS, X, strict=True):
        np.testing.assert_allclose(got, [np.sqrt(v) * x for v in pts])
    picked = evaluate("where(num(lep_pt) > 0, sum(lep_pt), -1.0)", ARRAYS).tolist()
    np.testing.assert_allclose(picked, [sum(p) if p else -1.0 for p in LISTS])


def test_branches_of_names_only_branches():
    assert branches_of("sqrt(met_x**2 + met_y**2) > 20 and num(lep_pt) > 0") == {
        "met_x",
        "met_y",
        "lep_pt",
    }
    assert branches_of("2.5 * 4") == set()
    assert branches_of("sum(sum)") == {"sum"}  # a branch may share a function's name
    assert branches_of("lep_pt[jet_n > 1]") == {"lep_pt", "jet_n"}


@pytest.mark.parametrize(
    ("text", "piece"),
    [
        ("__import__('os')", "__import__"),
        ("x.__class__", "x.__class__"),
        ("(lambda: 1)()", "lambda: 1"),
        ("open('f')", "open"),
        ("[v for v in x]", "[v for v in x]"),
        ("{v: 1 for v in x}", "{v: 1 for v in x}"),
        ("system(x)", "system"),
        ("np.sqrt(x)", "np.sqrt"),
        ("x['a']", "'a'"),
        ("x if y else 1", "x if y else 1"),
        ("(z := 1)", "z := 1"),
        ("x ^ 1", "x ^ 1"),
        ("x in y", "x in y"),
        ("sum(x, keepdims=True)", "keepdims=True"),
        ("sqrt(x, where=x)", "where=x"),
        ("sum(x, axis=y)", "y"),
        ("sqrt(*x)", "*x"),
        ("sqrt(x, y)", "sqrt(x, y)"),
        ("lep_pt[:, 0:x]", "x"),
        ("__builtins__", "__builtins__"),
        ("1j * x", "1j"),
        ("x +", "x +"),
    ],
)
def test_refused_expressions_name_the_piece_and_what_is_allowed(text, piece):
    with pytest.raises(BranchExpressionError) as caught:
        branches_of(text)
    error = caught.value
    assert error.piece == piece
    assert error.expression == text
    assert isinstance(error, InvalidExpression) and isinstance(error, NSBIError)
    message = str(error)
    assert repr(text) in message and repr(piece) in message
    assert "allowed" in message or "takes" in message or "integer" in message or "syntax" in message


def test_refusal_happens_before_anything_is_evaluated():
    calls = []

    class Spy(dict):
        def __getitem__(self, key):
            calls.append(key)
            return super().__getitem__(key)

    with pytest.raises(BranchExpressionError):
        evaluate("x + open('f')", Spy(x=X))
    assert calls == []


def test_source_never_runs_code():
    source = (Path(__file__).parents[2] / "nsbi" / "io" / "branch_expressions.py").read_text()
    assert not re.search(r"(?<![\w.])(eval|exec|compile)\(", source)


def test_missing_branch_lists_available_ones():
    with pytest.raises(BranchExpressionError, match=r"no branch 'z' among the arrays given: .*x"):
        evaluate("x + z", ARRAYS)


def test_index_out_of_range_suggests_a_selection():
    with pytest.raises(BranchExpressionError, match=r"num\(lep_pt\) > 0"):
        evaluate("lep_pt[:, 0] > 20", ARRAYS)


def test_values_that_do_not_combine_name_the_piece():
    with pytest.raises(BranchExpressionError, match="cannot be evaluated"):
        evaluate("x + y", {"x": np.ones(3), "y": np.ones(4)})


def test_empty_text_is_refused():
    with pytest.raises(BranchExpressionError, match="non-empty"):
        branches_of("   ")
