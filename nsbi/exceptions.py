"""Exceptions raised by nsbi.

Every exception that reports bad input says *where* the problem is (a file, a JSON path such as
``channels[1].samples[0].coefficient``, a branch) and what was expected, so that the command line
can print it as one readable line and exit non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "NSBIError",
    "Problem",
    "InvalidWorkspace",
    "InvalidExpression",
    "FitError",
    "InvalidOption",
    "StaleModel",
    "InvalidArgument",
]


class NSBIError(Exception):
    """Base class of every error nsbi raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One problem found in a workspace.

    Attributes:
        path: JSON path of the offending value, e.g. ``channels[1].samples[0].coefficient``
            (empty for the document itself).
        message: what is wrong and what was expected.
    """

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(top level)'}: {self.message}"


class InvalidWorkspace(NSBIError):
    """A workspace that does not follow the nsbi workspace schema or its semantic rules.

    Attributes:
        problems: every problem found, one per offending place.
        source: the file the workspace was read from, if any.
    """

    def __init__(self, problems: list[Problem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        where = f"{source}: " if source else ""
        lines = "\n".join(f"  {where}{p}" for p in self.problems)
        super().__init__(f"invalid workspace ({len(self.problems)} problem(s)):\n{lines}")


class InvalidExpression(NSBIError):
    """An expression (e.g. a sample coefficient) that the safe parser refuses.

    Attributes:
        expression: the full text.
        position: 0-based character offset of the offending token.
        reason: what is wrong and what is allowed.
    """

    def __init__(self, expression: str, position: int, reason: str):
        self.expression = expression
        self.position = position
        self.reason = reason
        super().__init__(f"{expression!r} at character {position}: {reason}")


class FitError(NSBIError):
    """A fit that could not be set up (unknown parameter, value outside bounds, ...)."""


class InvalidOption(NSBIError):
    """A command-line option (or the library argument behind it) with a value that cannot be
    used; the command exits 2 (bad input).

    Attributes:
        option: the option as the user spells it, e.g. ``--only``.
    """

    def __init__(self, option: str, message: str):
        self.option = option
        super().__init__(f"{option}: {message}")


class StaleModel(NSBIError):
    """A ratio model trained on other events than the workspace now declares (a regenerated
    ntuple, a changed selection or weight); commands refuse it (exit 2) unless told
    ``--allow-stale``."""


class InvalidArgument(FitError):
    """An argument that does not fit the model: an unknown parameter name, a value outside the
    parameter's bounds, a scan range leaving them. Bad input: commands exit 2."""
