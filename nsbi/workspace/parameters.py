r"""The parameters a workspace's unbinned channels declare, resolved once.

Parameters of binned channels are pyhf's own (its order, inits, bounds, constraints). A
parameter that only unbinned channels declare, by a modifier or in a coefficient expression,
gets pyhf's defaults for its family, overridden by the measurement's ``parameters``:

========== ======== ============ ==============================================
family     init     bounds       constraint
========== ======== ============ ==============================================
free       1        [0, 10]      none (``normfactor``, coefficient parameters)
gaussian   0        [-5, 5]      :math:`\mathcal{N}(0 \mid \alpha, 1)` (``normsys``, ``shape``)
lumi       auxdata  [0, 10]      :math:`\mathcal{N}(a \mid \lambda, \sigma)`, ``auxdata``
                                 :math:`a` and ``sigmas`` :math:`\sigma` of the measurement
========== ======== ============ ==============================================

:class:`nsbi.model.Model`, the workspace summary (``nsbi inspect``) and the coefficient checks
of ``nsbi validate`` all read them from :func:`unbinned_parameters` / :func:`resolve_parameter`.
"""

from __future__ import annotations

from dataclasses import dataclass

from nsbi.exceptions import InvalidExpression
from nsbi.workspace.expressions import parse

__all__ = [
    "UNBINNED_PARAMETER_DEFAULTS",
    "PARAMETER_FAMILY",
    "UnbinnedParameter",
    "parameter_kinds",
    "resolve_parameter",
    "unbinned_parameters",
]

#: the family of the parameter each modifier type introduces
PARAMETER_FAMILY = {
    "normfactor": "free",
    "shapefactor": "free per bin",
    "normsys": "gaussian",
    "histosys": "gaussian",
    "shape": "gaussian",
    "lumi": "lumi",
    "shapesys": "poisson per bin",
    "staterror": "gaussian per bin",
}

#: ``(init, (low, high))`` of a parameter only unbinned channels declare, by family (pyhf's
#: defaults for its kinds); the measurement's ``parameters`` override them
UNBINNED_PARAMETER_DEFAULTS = {
    "free": (1.0, (0.0, 10.0)),
    "gaussian": (0.0, (-5.0, 5.0)),
    "lumi": (1.0, (0.0, 10.0)),
}


@dataclass(frozen=True)
class UnbinnedParameter:
    """One resolved parameter (module docstring).

    Attributes:
        name: its name.
        kind: ``free``, ``gaussian`` or ``lumi``.
        init: initial value.
        bounds: ``(low, high)``.
        fixed: held at ``init`` in fits.
        auxdata: the centre of its constraint (``None`` when free).
        sigma: the width of its constraint (``None`` when free; NaN for a ``lumi`` parameter
            whose measurement gives no ``sigmas``).
    """

    name: str
    kind: str
    init: float
    bounds: tuple[float, float]
    fixed: bool
    auxdata: float | None
    sigma: float | None

    @property
    def constrained(self) -> bool:
        return self.kind != "free"


def parameter_kinds(spec: dict) -> dict[str, str]:
    """Map every modifier/coefficient parameter name to its family (free, gaussian, ...): the
    family of the first modifier that names it, ``free`` for a coefficient's.

    Example:
        >>> spec = {"channels": [{"samples": [{"coefficient": "mu - sqrt(mu)", "modifiers": [
        ...     {"name": "jes", "type": "normsys"}]}]}]}
        >>> parameter_kinds(spec)
        {'jes': 'gaussian', 'mu': 'free'}
    """
    kinds: dict[str, str] = {}
    for channel in spec["channels"]:
        for sample in channel["samples"]:
            for modifier in sample.get("modifiers", []):
                kinds.setdefault(modifier["name"], PARAMETER_FAMILY[modifier["type"]])
            if "coefficient" in sample:
                try:
                    names = parse(sample["coefficient"]).names
                except InvalidExpression:
                    names = frozenset()
                for name in sorted(names):
                    kinds.setdefault(name, "free")
    return kinds


def resolve_parameter(name: str, kind: str, settings: dict) -> UnbinnedParameter:
    """A parameter of family ``kind`` with the measurement's ``settings`` for it (its entry of
    ``config.parameters``, or ``{}``) applied over the family's defaults.

    Example:
        >>> lumi = resolve_parameter("lumi", "lumi", {"auxdata": [1.0], "sigmas": [0.02]})
        >>> lumi.init, lumi.bounds, lumi.auxdata, lumi.sigma, lumi.constrained
        (1.0, (0.0, 10.0), 1.0, 0.02, True)
        >>> resolve_parameter("mu", "free", {"bounds": [[-1, 5]]}).bounds
        (-1.0, 5.0)
    """
    value, bound = UNBINNED_PARAMETER_DEFAULTS.get(kind, (1.0, (0.0, 10.0)))
    auxdata = sigma = None
    if kind == "lumi":
        auxdata = float(settings.get("auxdata", [1.0])[0])
        sigma = float(settings.get("sigmas", [float("nan")])[0])
        value = auxdata
    elif kind == "gaussian":
        auxdata, sigma = 0.0, 1.0
    value = settings.get("inits", [value])[0]
    low, high = settings.get("bounds", [bound])[0]
    return UnbinnedParameter(
        name,
        kind,
        float(value),
        (float(low), float(high)),
        bool(settings.get("fixed", False)),
        auxdata,
        sigma,
    )


def unbinned_parameters(
    spec: dict, config: dict, skip: set[str] | frozenset[str] = frozenset()
) -> list[UnbinnedParameter]:
    """The parameters the unbinned channels of ``spec`` declare and ``skip`` (pyhf's, when
    there are binned channels) does not hold, in the order the channels first use them (each
    sample's modifiers, then its coefficient's parameters, sorted), resolved for the
    measurement ``config`` (its ``config`` block).

    Example:
        >>> spec = {"channels": [{"type": "unbinned", "samples": [
        ...     {"coefficient": "mu", "modifiers": [{"name": "jes", "type": "shape"}]}]}]}
        >>> [(p.name, p.init, p.bounds) for p in unbinned_parameters(spec, {"parameters": []})]
        [('jes', 0.0, (-5.0, 5.0)), ('mu', 1.0, (0.0, 10.0))]
    """
    kinds = parameter_kinds(spec)
    configured = {p["name"]: p for p in config.get("parameters", [])}
    seen = set(skip)
    out = []
    for channel in spec["channels"]:
        if channel.get("type") != "unbinned":
            continue
        for sample in channel["samples"]:
            used = [m["name"] for m in sample.get("modifiers", [])]
            if "coefficient" in sample:
                used += sorted(parse(sample["coefficient"]).names)
            for name in used:
                if name not in seen:
                    seen.add(name)
                    out.append(resolve_parameter(name, kinds[name], configured.get(name, {})))
    return out
