r"""The histogram analysis of the same samples: the baseline an NSBI result is compared with.

For an unbinned channel, each sample :math:`j` is histogrammed in the channel's observables
(an N-dimensional grid, flattened; events outside the range go to the edge bins), scaled to its
yield :math:`\nu_j`, and becomes a pyhf sample with the same yield modifiers plus a free-floating
``normfactor`` named ``coefficient_<sample>`` that stands for the analytic coefficient
:math:`f_j(\theta)`. The expected count in bin :math:`b` is then HistFactory's

.. math::

    n_b(\mu, \theta) = \sum_j f_j(\mu)\, \nu_j\, G_j(\theta)\, h_{jb},

which pyhf evaluates; the coefficients (``mu - sqrt(mu)`` and the like) are not HistFactory
modifiers, so the profile likelihood in the POI :math:`\mu` is computed by fixing every
``coefficient_<sample>`` to :math:`f_j(\mu)` and profiling the other parameters:

.. math::

    t(\mu) = 2\big[\mathrm{NLL}(f(\mu), \hat{\hat\theta}(\mu)) - \min_{\mu'}
    \mathrm{NLL}(f(\mu'), \hat{\hat\theta}(\mu'))\big],

with the outer minimum found by bounded Brent minimisation over :math:`\mu`. Binned and unbinned
models made from the same simulated events can so be compared interval to interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from nsbi.exceptions import FitError
from nsbi.infer.minimize import DEFAULT_TOLERANCE, minimize
from nsbi.infer.profile import curve_of
from nsbi.model import Model
from nsbi.workspace import Expression, Workspace, parse
from nsbi.workspace.events import observed_events, sample_events, sample_yield

__all__ = ["HistogramBaseline", "histogram_baseline"]

_COEFFICIENT_BOUNDS = [-1.0e4, 1.0e4]


def _edges(features: np.ndarray, bins: int | Sequence[float], quantiles=(0.001, 0.999)):
    if isinstance(bins, (int, np.integer)):
        lo, hi = np.quantile(features, quantiles)
        return np.linspace(lo, hi, int(bins) + 1)
    edges = np.asarray(bins, dtype=float)
    if edges.ndim != 1 or len(edges) < 2 or np.any(np.diff(edges) <= 0):
        raise FitError(f"bin edges must increase strictly, got {bins!r}")
    return edges


def _histogram(features: np.ndarray, weights: np.ndarray, edges: list[np.ndarray]):
    clipped = np.column_stack(
        [np.clip(features[:, k], e[0], np.nextafter(e[-1], -np.inf)) for k, e in enumerate(edges)]
    )
    counts, _ = np.histogramdd(clipped, bins=edges, weights=weights)
    return counts.ravel()


@dataclass
class HistogramBaseline:
    """A pyhf workspace of histograms of an unbinned channel, and its mixture coefficients.

    Attributes:
        workspace: an nsbi :class:`~nsbi.workspace.Workspace` whose channels are pyhf channels.
        coefficients: ``{normfactor name: f_j expression}``.
        poi: the POI of the unbinned measurement (a coefficient variable, e.g. ``mu``).
        poi_bounds: its bounds.
        edges: the bin edges per observable.
        templates: ``{coefficient name: nominal histogram}`` (kept bins, scaled to the yields).
    """

    workspace: Workspace
    coefficients: dict[str, Expression]
    poi: str
    poi_bounds: tuple[float, float]
    edges: dict[str, np.ndarray]
    templates: dict[str, np.ndarray]

    def model(self, asimov_poi: float | None = None) -> Model:
        """The binned model with the observed histogram, or with the Asimov histogram at
        ``asimov_poi`` (other parameters at their inits)."""
        model = Model.from_workspace(self.workspace)
        if asimov_poi is not None:
            model = model.asimov(self._parameters(model, asimov_poi))
        return model

    def _fixed(self, value: float) -> dict[str, float]:
        point = {self.poi: torch.tensor(float(value), dtype=torch.float64)}
        return {name: float(f(point)) for name, f in self.coefficients.items()}

    def _parameters(self, model: Model, value: float) -> torch.Tensor:
        return model.parameter_vector(self._fixed(value))

    def profile_nll(self, model: Model, value: float, tolerance: float = DEFAULT_TOLERANCE):
        r""":math:`\mathrm{NLL}(f(\mu), \hat{\hat\theta}(\mu))` at :math:`\mu` = ``value``."""
        fixed = self._fixed(value)
        expected = sum(fixed[name] * h for name, h in self.templates.items())
        if np.any(expected <= 0):
            bad = np.flatnonzero(expected <= 0)
            raise FitError(
                f"histogram baseline: at {self.poi} = {value:g} the nominal expected count of "
                f"{len(bad)} bin(s) (e.g. bin {bad[0]}: {expected[bad[0]]:.3g}) is not positive: "
                "the templates with negative coefficients fluctuate; use fewer bins or more "
                "simulated events"
            )
        free = [
            n
            for n, f in zip(model.parameters.names, model.parameters.fixed, strict=True)
            if not f and n not in fixed
        ]
        if not free:
            return float(model.nll(model.parameter_vector(fixed)))
        return minimize(model, fix=fixed, tolerance=tolerance, errors=False).nll

    def scan(
        self, values: Sequence[float], asimov_poi: float | None = None
    ) -> tuple[np.ndarray, np.ndarray, float]:
        """``(values, t, best)``: the profile scan in the POI and its best-fit value."""
        model = self.model(asimov_poi)
        values = np.asarray(values, dtype=float)
        t, best = curve_of(lambda v: self.profile_nll(model, v), values, self.poi_bounds)
        return values, t, best


def histogram_baseline(
    workspace: Workspace,
    channel: str,
    bins: Mapping[str, int | Sequence[float]] | int = 10,
    measurement: str | None = None,
) -> HistogramBaseline:
    """Histogram the samples and the observed events of unbinned ``channel`` into a pyhf model.

    Arguments:
        bins: per observable, a number of equal bins between the 0.1% and 99.9% quantiles of the
            pooled simulated events, or explicit edges; one int applies to every observable.

    Example:
        >>> import tempfile, numpy as np
        >>> from nsbi.simulators import InterferenceToy, write_toy_workspace
        >>> ws = Workspace.load(write_toy_workspace(InterferenceToy(), tempfile.mkdtemp(),
        ...                                         events_per_sample=2000))
        >>> baseline = histogram_baseline(ws, "SR", bins=4)
        >>> values, t, best = baseline.scan(np.linspace(0, 3, 7), asimov_poi=1.0)
        >>> round(best, 3)
        1.0
    """
    ch = workspace.channel(channel)
    if ch.get("type") != "unbinned":
        raise FitError(f"channel {channel!r} is not unbinned; it is already a histogram")
    config = workspace.measurement(measurement)["config"]
    names = Workspace.observable_names(ch)
    events = {s["name"]: sample_events(workspace, ch, s) for s in ch["samples"]}
    pooled = np.concatenate([e.features for e in events.values()])
    per_observable = bins if isinstance(bins, Mapping) else {n: bins for n in names}
    missing = set(names) - set(per_observable)
    if missing:
        raise FitError(f"bins: no binning for observables {sorted(missing)}")
    edges = [_edges(pooled[:, k], per_observable[n]) for k, n in enumerate(names)]

    histograms = {}
    for sample in ch["samples"]:
        ev = events[sample["name"]]
        h = _histogram(ev.features, ev.weights, edges)
        histograms[sample["name"]] = h * sample_yield(sample, ev) / ev.weights.sum()
    total = sum(np.abs(h) for h in histograms.values())
    keep = total > 0  # bins no sample reaches carry no information
    observed = observed_events(workspace, ch)
    data = _histogram(observed.features, observed.weights, edges)[keep]

    samples, coefficients, templates = [], {}, {}
    for sample in ch["samples"]:
        name = f"coefficient_{sample['name']}"
        coefficients[name] = parse(sample.get("coefficient", "1"))
        templates[name] = histograms[sample["name"]][keep]
        modifiers = [{"name": name, "type": "normfactor", "data": None}]
        for modifier in sample["modifiers"]:
            if modifier["type"] in ("normfactor", "normsys", "lumi"):
                modifiers.append(dict(modifier))
            else:
                raise FitError(
                    f"sample {sample['name']!r}: the histogram baseline translates yield "
                    f"modifiers only, not {modifier['type']!r} ({modifier['name']!r})"
                )
        samples.append(
            {
                "name": sample["name"],
                "data": histograms[sample["name"]][keep].tolist(),
                "modifiers": modifiers,
            }
        )
    parameters = [
        {"name": n, "fixed": True, "inits": [1.0], "bounds": [_COEFFICIENT_BOUNDS]}
        for n in coefficients
    ]
    parameters += [p for p in config.get("parameters", []) if p["name"] != config["poi"]]
    spec = {
        "version": "1.0.0",
        "channels": [{"name": channel, "samples": samples}],
        "observations": [{"name": channel, "data": data.tolist()}],
        "measurements": [
            {
                "name": "histograms",
                # pyhf needs a POI; a coefficient stands in (it is fixed at every scan point)
                "config": {"poi": next(iter(coefficients)), "parameters": parameters},
            }
        ],
    }
    poi = config["poi"]
    bounds = next(
        (tuple(p["bounds"][0]) for p in config.get("parameters", []) if p["name"] == poi),
        (0.0, 10.0),
    )
    return HistogramBaseline(
        Workspace(spec),
        coefficients,
        poi,
        bounds,
        dict(zip(names, edges, strict=True)),
        templates,
    )
