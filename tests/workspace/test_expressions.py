"""The coefficient parser against Python's own arithmetic, and its refusals."""

from __future__ import annotations

import math

import pytest
import torch

from nsbi.exceptions import InvalidExpression
from nsbi.workspace import parse

CASES = [
    ("mu - sqrt(mu)", lambda mu, k: mu - math.sqrt(mu)),
    ("sqrt(mu)", lambda mu, k: math.sqrt(mu)),
    ("1 - sqrt(mu)", lambda mu, k: 1 - math.sqrt(mu)),
    ("-mu**2", lambda mu, k: -(mu**2)),
    ("2**-1*mu", lambda mu, k: 2**-1 * mu),
    ("2**3**2", lambda mu, k: 2**3**2),
    ("mu / k / 2", lambda mu, k: mu / k / 2),
    ("exp(log(k)) * (mu + 1.5e-1)", lambda mu, k: k * (mu + 0.15)),
    ("k**2 - 2*k*mu + mu**2", lambda mu, k: (k - mu) ** 2),
    ("  +mu  ", lambda mu, k: mu),
    (".5 * (mu - -k)", lambda mu, k: 0.5 * (mu + k)),
]


@pytest.mark.parametrize(("text", "truth"), CASES)
def test_evaluates_like_python(text, truth):
    for mu, k in [(0.3, 1.7), (2.0, 0.5), (4.0, 3.0)]:
        value = parse(text)(
            {"mu": torch.tensor(mu, dtype=torch.float64), "k": torch.tensor(k, dtype=torch.float64)}
        )
        assert float(value) == pytest.approx(truth(mu, k), rel=1e-14)


def test_gradient_flows_to_parameters():
    mu = torch.tensor(4.0, dtype=torch.float64, requires_grad=True)
    parse("mu - sqrt(mu)")({"mu": mu}).backward()
    assert float(mu.grad) == pytest.approx(1 - 0.5 / 2.0)


def test_constant_expression_is_a_tensor():
    value = parse("2 * sqrt(4)")({})
    assert isinstance(value, torch.Tensor) and float(value) == 4.0


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        ("__import__('os')", 11, 'unexpected character "\'"'),
        ("mu.real", 2, "unexpected character '.'"),
        ("exec(mu)", 0, "unknown function 'exec'"),
        ("mu -", 4, "got 'the end'"),
        ("(mu", 3, "expected ')'"),
        ("mu mu", 3, "after a complete expression"),
        ("sqrt", 0, "needs an argument"),
        ("", 0, "empty expression"),
        ("mu; 1", 2, "unexpected character ';'"),
        ("lambda: 1", 6, "unexpected character ':'"),
    ],
)
def test_refuses_everything_else_naming_the_token(text, position, fragment):
    with pytest.raises(InvalidExpression) as info:
        parse(text)
    assert info.value.position == position
    assert fragment in str(info.value)


def test_missing_value_is_a_clear_error():
    with pytest.raises(KeyError, match="needs values for \\['k'\\]"):
        parse("mu * k")({"mu": torch.tensor(1.0)})
