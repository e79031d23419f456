r"""Safe expressions for analytic coefficients :math:`f_j(\mu)`.

The workspace writes the coefficient of each process in the mixture as text, for the off-shell
interference for instance

.. math::

    p(x|\mu) \propto (\mu - \sqrt{\mu})\, \nu_S p_S(x) + \sqrt{\mu}\, \nu_{SBI} p_{SBI}(x)
    + (1 - \sqrt{\mu})\, \nu_B p_B(x).

The text is tokenised and parsed by a small recursive-descent parser into a tree of numbers,
parameter names, ``+ - * / **`` (``**`` binds tighter than unary minus and is right-associative,
as in Python), parentheses and the functions ``sqrt``, ``exp``, ``log``. Nothing is ever passed to
``eval``; any other token is an :class:`~nsbi.exceptions.InvalidExpression` naming it and its
position. The tree evaluates on torch tensors, so gradients flow to the parameters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from nsbi.exceptions import InvalidExpression

__all__ = ["Expression", "parse", "FUNCTIONS"]

FUNCTIONS = {"sqrt": torch.sqrt, "exp": torch.exp, "log": torch.log}

_TOKEN = re.compile(
    r"\s*(?:(?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/(),]))"
)


@dataclass(frozen=True)
class _Token:
    kind: str  # number, name, op, end
    text: str
    position: int


def _tokenize(text: str) -> list[_Token]:
    tokens = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            bad = text[position:].lstrip()
            offset = len(text) - len(bad)
            raise InvalidExpression(
                text,
                offset,
                f"unexpected character {bad[0]!r}; allowed are numbers, parameter names, "
                "+ - * / ** ( ) and the functions " + ", ".join(FUNCTIONS),
            )
        kind = match.lastgroup
        tokens.append(_Token(kind, match.group(kind), match.start(kind)))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


# The tree: tuples keep it small and immutable.
#   ("num", float) | ("name", str) | ("neg", node) | (op, left, right) | ("call", fname, node)


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def error(self, token: _Token, reason: str) -> InvalidExpression:
        return InvalidExpression(self.text, token.position, reason)

    def parse(self):
        if self.peek().kind == "end":
            raise self.error(self.peek(), "empty expression")
        node = self.sum()
        token = self.peek()
        if token.kind != "end":
            raise self.error(token, f"unexpected {token.text!r} after a complete expression")
        return node

    def sum(self):
        node = self.product()
        while self.peek().text in ("+", "-") and self.peek().kind == "op":
            op = self.take().text
            node = (op, node, self.product())
        return node

    def product(self):
        node = self.unary()
        while self.peek().text in ("*", "/") and self.peek().kind == "op":
            op = self.take().text
            node = (op, node, self.unary())
        return node

    def unary(self):
        token = self.peek()
        if token.kind == "op" and token.text in ("+", "-"):
            self.take()
            operand = self.unary()
            return ("neg", operand) if token.text == "-" else operand
        return self.power()

    def power(self):
        base = self.atom()
        if self.peek().kind == "op" and self.peek().text == "**":
            self.take()
            return ("**", base, self.unary())
        return base

    def atom(self):
        token = self.take()
        if token.kind == "number":
            return ("num", float(token.text))
        if token.kind == "name":
            if self.peek().text == "(":
                if token.text not in FUNCTIONS:
                    raise self.error(
                        token,
                        f"unknown function {token.text!r}; expected one of " + ", ".join(FUNCTIONS),
                    )
                self.take()
                argument = self.sum()
                closing = self.take()
                if closing.text != ")":
                    raise self.error(
                        closing,
                        f"expected ')' to close {token.text}(, got {closing.text or 'the end'!r}",
                    )
                return ("call", token.text, argument)
            if token.text in FUNCTIONS:
                raise self.error(token, f"function {token.text!r} needs an argument in ( )")
            return ("name", token.text)
        if token.kind == "op" and token.text == "(":
            node = self.sum()
            closing = self.take()
            if closing.text != ")":
                raise self.error(closing, f"expected ')', got {closing.text or 'the end'!r}")
            return node
        raise self.error(
            token, f"expected a number, a parameter name or '(', got {token.text or 'the end'!r}"
        )


def _children(node) -> tuple:
    kind = node[0]
    if kind in ("num", "name"):
        return ()
    if kind == "neg":
        return (node[1],)
    if kind == "call":
        return (node[2],)
    return (node[1], node[2])


def _names(node) -> set[str]:
    """The parameter names of a tree, walked without recursion."""
    names, stack = set(), [node]
    while stack:
        item = stack.pop()
        if item[0] == "name":
            names.add(item[1])
        stack.extend(_children(item))
    return names


def _depth(node) -> int:
    deepest, stack = 0, [(node, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in _children(item))
    return deepest


def _evaluate(node, values: Mapping[str, torch.Tensor]):
    """The tree on tensors; numbers are float64 tensors too, so ``1/0`` is ``inf`` and
    ``sqrt(-1)`` is ``nan`` (refused over the parameter ranges by
    :mod:`nsbi.workspace.coefficients`), never a Python exception."""
    kind = node[0]
    if kind == "num":
        return torch.tensor(node[1], dtype=torch.float64)
    if kind == "name":
        return values[node[1]]
    if kind == "neg":
        return -_evaluate(node[1], values)
    if kind == "call":
        return FUNCTIONS[node[1]](_evaluate(node[2], values))
    left, right = _evaluate(node[1], values), _evaluate(node[2], values)
    if kind == "+":
        return left + right
    if kind == "-":
        return left - right
    if kind == "*":
        return left * right
    if kind == "/":
        return left / right
    return left**right


@dataclass(frozen=True)
class Expression:
    """A parsed coefficient expression.

    Example:
        >>> import torch
        >>> f = parse("mu - sqrt(mu)")
        >>> sorted(f.names)
        ['mu']
        >>> float(f({"mu": torch.tensor(4.0)}))
        2.0
    """

    text: str
    tree: tuple

    @property
    def names(self) -> frozenset[str]:
        """The parameter names the expression depends on."""
        return frozenset(_names(self.tree))

    def __call__(self, values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Evaluate with ``values[name]`` tensors (broadcasting, differentiable)."""
        missing = self.names - set(values)
        if missing:
            raise KeyError(f"{self.text!r} needs values for {sorted(missing)}")
        result = _evaluate(self.tree, values)
        if not isinstance(result, torch.Tensor):
            result = torch.tensor(result, dtype=torch.float64)
        return result


#: the longest coefficient text accepted
MAX_LENGTH = 2_000

#: the deepest expression tree accepted (a sum of N terms is N deep)
MAX_DEPTH = 100


def parse(text: str) -> Expression:
    """Parse ``text`` into an :class:`Expression`; raises :class:`InvalidExpression`.

    Example:
        >>> parse("1 - sqrt(mu)").names == {"mu"}
        True
        >>> from nsbi.exceptions import InvalidExpression
        >>> try:
        ...     parse("exec(mu)")
        ... except InvalidExpression as error:
        ...     print(error.position, error.reason)
        0 unknown function 'exec'; expected one of sqrt, exp, log
    """
    if len(text) > MAX_LENGTH:
        raise InvalidExpression(
            text[:40] + "...", MAX_LENGTH, f"{len(text)} characters; a coefficient may have at "
            f"most {MAX_LENGTH}",
        )  # fmt: skip
    try:
        tree = _Parser(text).parse()
    except RecursionError:
        raise InvalidExpression(
            text if len(text) < 60 else text[:40] + "...", 0, "nests too deeply to parse"
        ) from None
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        raise InvalidExpression(
            text if len(text) < 60 else text[:40] + "...", 0,
            f"nests {depth} levels deep (a sum of N terms is N deep); at most {MAX_DEPTH}: "
            "a coefficient is a short formula of the parameters",
        )  # fmt: skip
    return Expression(text, tree)
