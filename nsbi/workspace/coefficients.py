r"""Mixture coefficients checked over the parameter ranges the fit may visit.

An unbinned channel's expected density is :math:`\sum_j f_j(\theta)\, \nu_j\, p_j(x)` with
analytic coefficients :math:`f_j` (``mu - sqrt(mu)``, ``sqrt(mu)``, ...). A coefficient that is
NaN or infinite somewhere inside the bounds of its parameters makes the NLL undefined there:
MIGRAD's line search backs off from such a region as from a wall and can report a "valid"
minimum on its edge (``sqrt(mu - 5) - sqrt(mu)`` is NaN over all of ``mu`` in ``[0, 5)``;
``log(mu) + mu`` is :math:`-\infty` at the bound ``mu = 0``). Such a workspace is refused when
the model is built, naming the coefficient's JSON path, a point where it fails and the fix.

The check evaluates each coefficient on a grid over the box of its parameters' bounds: the
bounds themselves, the inits, and :data:`POINTS` points per parameter (fewer per parameter for
coefficients of several, about :data:`BUDGET` points in all), infinite bounds replaced by
:math:`\pm 10^3`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import torch

from nsbi.exceptions import Problem
from nsbi.workspace.expressions import parse
from nsbi.workspace.parameters import parameter_kinds, resolve_parameter

__all__ = ["coefficient_problems", "coefficient_problems_of_spec", "POINTS", "BUDGET"]

#: grid points per parameter for a coefficient of one parameter
POINTS = 401

#: about how many points a coefficient of several parameters is evaluated at
BUDGET = 40_000


def _axis(lo: float, hi: float, init: float, points: int) -> np.ndarray:
    lo, hi = max(lo, -1e3), min(hi, 1e3)
    axis = np.linspace(lo, hi, points) if hi > lo else np.array([lo])
    return np.unique(np.concatenate([axis, [lo, hi, min(max(init, lo), hi)]]))


def coefficient_problems(
    workspace_spec: dict,
    names: Sequence[str],
    bounds: Sequence[tuple[float, float]],
    init: Sequence[float],
) -> list[Problem]:
    """One :class:`~nsbi.exceptions.Problem` per unbinned coefficient that is not finite
    somewhere within the ``bounds`` of its parameters (``names``, ``bounds``, ``init``: the
    model's parameter space).

    Example:
        >>> spec = {"channels": [{"name": "SR", "type": "unbinned", "samples": [
        ...     {"name": "S", "coefficient": "log(mu) + mu"}]}]}
        >>> [str(p) for p in coefficient_problems(spec, ["mu"], [(0.0, 5.0)], [1.0])]  # doctest: +ELLIPSIS
        ["channels[0].samples[0].coefficient: 'log(mu) + mu' is -inf at mu = 0 ..."]
    """
    where = {n: i for i, n in enumerate(names)}
    problems = []
    for c, channel in enumerate(workspace_spec.get("channels", [])):
        if channel.get("type") != "unbinned":
            continue
        for s, sample in enumerate(channel.get("samples", [])):
            if "coefficient" not in sample:
                continue
            expression = parse(sample["coefficient"])
            used = sorted(n for n in expression.names if n in where)
            points = max(3, min(POINTS, int(BUDGET ** (1 / max(len(used), 1)))))
            axes = [_axis(*bounds[where[n]], init[where[n]], points) for n in used]
            grid = np.array(list(itertools.product(*axes))) if used else np.zeros((1, 0))
            with torch.no_grad():
                values = expression({n: torch.from_numpy(grid[:, k]) for k, n in enumerate(used)})
            values = np.broadcast_to(values.numpy(), (len(grid),))
            bad = ~np.isfinite(values)
            if not bad.any():
                continue
            first = int(np.flatnonzero(bad)[0])
            at = ", ".join(f"{n} = {grid[first, k]:.6g}" for k, n in enumerate(used))
            ranges = ", ".join(f"{n} in [{bounds[where[n]][0]:g}, {bounds[where[n]][1]:g}]"
                               for n in used)  # fmt: skip
            share = f"{bad.mean():.0%} of the grid" if bad.mean() > 0.01 else "some points"
            problems.append(
                Problem(
                    f"channels[{c}].samples[{s}].coefficient",
                    f"{expression.text!r} is {values[first]:g} at {at} ({share} over {ranges}):"
                    " the likelihood is undefined there; change the expression, or the "
                    "parameters' bounds in the measurement, so that it is finite on the whole "
                    "range",
                )
            )
    return problems


def coefficient_problems_of_spec(spec: dict) -> list[Problem]:
    """:func:`coefficient_problems` of every measurement of a workspace ``spec``, before any
    model is built (``nsbi validate``): each coefficient parameter's bounds and init are the
    measurement's, else the default of its family
    (:func:`~nsbi.workspace.parameters.resolve_parameter`); a problem is reported once, with
    the first measurement it occurs in.

    Example:
        >>> spec = {"channels": [{"name": "SR", "type": "unbinned", "samples": [
        ...     {"name": "S", "coefficient": "sqrt(mu - 5) - sqrt(mu)", "modifiers": []}]}],
        ...     "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}]}
        >>> [p.path for p in coefficient_problems_of_spec(spec)]
        ['channels[0].samples[0].coefficient']
    """
    kinds = parameter_kinds(spec)
    seen, problems = set(), []
    for measurement in spec.get("measurements", []):
        configured = {p["name"]: p for p in measurement["config"].get("parameters", [])}
        names = sorted(kinds)
        init, bounds = [], []
        for name in names:
            parameter = resolve_parameter(name, kinds[name], configured.get(name, {}))
            init.append(parameter.init)
            bounds.append(parameter.bounds)
        for problem in coefficient_problems(spec, names, bounds, init):
            if problem.path not in seen:
                seen.add(problem.path)
                problems.append(problem)
    return problems
