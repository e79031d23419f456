r"""Write an :class:`~nsbi.simulators.InterferenceToy` as ROOT ntuples and an nsbi workspace.

The result is laid out like a real analysis, so every step after it (``nsbi train``,
``nsbi fit``, ``nsbi diagnose``) runs exactly as it would on experiment ntuples::

    DIRECTORY/
        workspace.json          one unbinned channel "SR", samples S, SBI, B (or S, B),
                                observation SR
        ntuples/S.root          tree "events": x1, x2, ..., weight   (simulated, weighted)
        ntuples/SBI.root
        ntuples/B.root
        ntuples/data.root       tree "events": x1, x2, ...           (one pseudo-dataset)
        models/SR/<sample>/     written later by ``nsbi train``

Each simulated sample has ``events_per_sample`` unweighted events, stored with the weight
:math:`\nu_j / N` so that its sum of weights is the exact yield :math:`\nu_j`; the workspace
still states the yields (``"yield"``), so the model uses the exact :math:`\nu_j`. The observed
dataset is one Poisson draw of the toy at ``observed_mu``. The reference is by default the pool of
all samples: every ratio :math:`r_j = p_j/p_\text{ref}` is then bounded by
:math:`\nu_\text{ref}/\nu_j`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from nsbi.io import write_ntuple
from nsbi.io.atomic import write_json
from nsbi.simulators.interference import InterferenceToy

__all__ = ["write_toy_workspace"]

TREE = "events"
CHANNEL = "SR"


def write_toy_workspace(
    toy: InterferenceToy,
    directory: str | os.PathLike,
    *,
    events_per_sample: int = 100_000,
    observed_mu: float = 1.0,
    seed: int = 0,
    training: dict | None = None,
    poi_bounds: tuple[float, float] = (0.0, 10.0),
    reference: tuple[str, ...] | None = None,
    samples: tuple[str, ...] = ("S", "SBI", "B"),
) -> Path:
    r"""Write the ntuples and the workspace of ``toy`` into ``directory``; return the JSON path.

    Arguments:
        toy: the analytic model.
        directory: created if missing; existing files of the same names are replaced
            (atomically, one by one).
        events_per_sample: simulated events of each sample.
        observed_mu: the signal strength of the observed pseudo-dataset.
        seed: seed of every random draw (samples and data).
        training: the channel's ``training`` block (see ``docs/workspace.md``).
        poi_bounds: bounds of ``mu`` in the measurement.
        reference: the samples pooled into the reference density (a subset of ``samples``;
            default all of them).
        samples: the workspace's samples: ``("S", "SBI", "B")`` with the toy's interference
            coefficients, or ``("S", "B")`` with coefficients ``mu`` and ``1``, the
            signal-strength model :math:`\mu S + B`, which is the toy's intensity only
            without interference (``toy.interference == 0``, e.g. ``closure_toy(0.0)``).

    Example:
        >>> import tempfile
        >>> from nsbi.workspace import Workspace
        >>> path = write_toy_workspace(InterferenceToy(), tempfile.mkdtemp(),
        ...                            events_per_sample=1000, seed=1)
        >>> ws = Workspace.load(path)
        >>> [s["name"] for s in ws.channel("SR")["samples"]], ws.measurement()["config"]["poi"]
        (['S', 'SBI', 'B'], 'mu')
    """
    if events_per_sample < 1:
        raise ValueError(f"events_per_sample: expected a positive integer, got {events_per_sample}")
    samples = tuple(samples)
    if samples == ("S", "B"):
        if toy.interference != 0.0:
            raise ValueError(
                f"samples ('S', 'B') write the model mu*S + B, but {toy!r} has interference "
                f"{toy.interference:g}: use the toy without it (interference=0.0) or all three "
                "samples ('S', 'SBI', 'B')"
            )
        coefficients = {"S": "mu", "B": "1"}
    elif samples == tuple(toy.processes):
        coefficients = toy.coefficients
    else:
        raise ValueError(f"samples: expected ('S', 'SBI', 'B') or ('S', 'B'), got {samples!r}")
    reference = samples if reference is None else tuple(reference)
    if not reference or not set(reference) <= set(samples):
        raise ValueError(
            f"reference: expected a non-empty subset of {samples!r}, got {reference!r}"
        )
    directory = Path(directory)
    (directory / "ntuples").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = toy.observable_names
    yields = toy.yields()

    sample_specs = []
    for process in samples:
        x = toy.sample(process, events_per_sample, rng)
        branches = {name: x[:, k] for k, name in enumerate(names)}
        branches["weight"] = np.full(events_per_sample, yields[process] / events_per_sample)
        write_ntuple(directory / "ntuples" / f"{process}.root", {TREE: branches})
        sample_specs.append(
            {
                "name": process,
                "source": {"file": f"ntuples/{process}.root", "tree": TREE, "weight": "weight"},
                "yield": float(yields[process]),
                "coefficient": coefficients[process],
                "modifiers": [],
            }
        )
    data = toy.sample_events(observed_mu, rng)
    write_ntuple(
        directory / "ntuples" / "data.root",
        {TREE: {name: data[:, k] for k, name in enumerate(names)}},
    )

    return write_unbinned_workspace(
        directory,
        names,
        reference,
        sample_specs,
        training,
        "interference" if len(samples) == 3 else "signal_strength",
        poi_bounds,
    )


def write_unbinned_workspace(
    directory: str | Path,
    observables: Sequence[str],
    reference: Sequence[str],
    samples: list[dict],
    training: dict | None,
    measurement: str,
    poi_bounds: Sequence[float],
    interpolation: dict | None = None,
) -> Path:
    """Write ``directory/workspace.json``: one unbinned channel (``SR``) of ``samples`` over
    ``observables`` against the pooled ``reference``, data from ``ntuples/data.root``, and one
    measurement of the POI ``mu`` (init 1, ``poi_bounds``; ``interpolation`` codes if given):
    the workspace the toy writers share."""
    channel = {
        "name": CHANNEL,
        "type": "unbinned",
        "observables": list(observables),
        "reference": {"samples": list(reference)},
        "samples": samples,
    }
    if training:
        channel["training"] = dict(training)
    config = {
        "poi": "mu",
        "parameters": [{"name": "mu", "inits": [1.0], "bounds": [list(map(float, poi_bounds))]}],
    }
    if interpolation:
        config["interpolation"] = dict(interpolation)
    spec = {
        "version": "1.0.0",
        "channels": [channel],
        "observations": [{"name": CHANNEL, "source": {"file": "ntuples/data.root", "tree": TREE}}],
        "measurements": [{"name": measurement, "config": config}],
    }
    path = Path(directory) / "workspace.json"
    write_json(path, spec)
    return path
