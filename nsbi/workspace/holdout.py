r"""The held-out split of a channel's simulation: events the networks never saw build the model.

A learned ratio :math:`\hat r_j` fits the fluctuations of its training events; normalising it
over, and building Asimov data and toys from, the same events lets those fluctuations cancel in
every reweighting check and bias the observed fit unseen. A channel may therefore declare

.. code-block:: json

    "holdout": {"fraction": 0.5, "seed": 0}

Each simulated event :math:`i` of a sample (or of a variation read from another file) is held
out when :math:`u_i < f`, with :math:`u_i` uniform from a generator seeded by (``seed``, CRC-32
of the sample's name or the variation's label), so the split is fixed by the workspace. The
ratio ensembles train on the other events only; the model's reference pool (the normalisation
:math:`\sum_i \omega_i \hat r_j(x_i) = 1`, Asimov data, toys), the weight-ratio tables and
``nsbi diagnose`` use the held-out events only, each reference sample's held-out weights scaled
to its full yield. Yields (sums of weights) and the relative yields of shape variations use
every event. A variation that reads the same events as its sample (it overrides only branches
or the weight) gets its sample's split, so each event stays paired with its variation.

Without ``holdout`` both parts are the whole sample (the ratios train on the pool).
"""

from __future__ import annotations

import zlib

import numpy as np

from nsbi.io import EventSample

__all__ = ["TRAINING", "HELD_OUT", "ALL", "holdout_fraction", "held_out_mask", "part_of"]

#: the parts of a channel's simulation: what the ratio ensembles train on, what builds the model
#: (normalisation, Asimov data, toys, diagnostics), and every event (yields)
TRAINING, HELD_OUT, ALL = "training", "held_out", "all"
PARTS = (TRAINING, HELD_OUT, ALL)


def holdout_fraction(channel: dict) -> float:
    """The fraction of simulated events the channel holds out (0 without ``holdout``).

    Example:
        >>> holdout_fraction({"holdout": {"fraction": 0.3}}), holdout_fraction({})
        (0.3, 0.0)
    """
    return float(channel.get("holdout", {}).get("fraction", 0.0))


def held_out_mask(n_events: int, channel: dict, key: str) -> np.ndarray:
    r"""Which of ``n_events`` events are held out: :math:`u_i < f`, :math:`u_i` drawn from the
    generator seeded by (``holdout.seed``, CRC-32 of ``key``). All False without ``holdout``.

    Example:
        >>> channel = {"holdout": {"fraction": 0.5, "seed": 1}}
        >>> mask = held_out_mask(10_000, channel, "S")
        >>> bool((mask == held_out_mask(10_000, channel, "S")).all()), round(float(mask.mean()), 2)
        (True, 0.5)
    """
    fraction = holdout_fraction(channel)
    if fraction <= 0.0:
        return np.zeros(n_events, dtype=bool)
    seed = int(channel["holdout"].get("seed", 0))
    rng = np.random.default_rng([seed, zlib.crc32(key.encode())])
    return rng.random(n_events) < fraction


def part_of(events: EventSample, channel: dict, key: str, part: str) -> EventSample:
    """The ``part`` (``"training"``, ``"held_out"`` or ``"all"``) of a sample's events, split by
    :func:`held_out_mask` under ``key``; without ``holdout`` every part is ``events`` itself.

    Example:
        >>> events = EventSample(np.arange(8.0)[:, None], np.ones(8), ["x"], "toy")
        >>> channel = {"holdout": {"fraction": 0.5}}
        >>> train, held = (part_of(events, channel, "S", p) for p in (TRAINING, HELD_OUT))
        >>> sorted(train.features[:, 0].tolist() + held.features[:, 0].tolist()) == list(range(8))
        True
    """
    if part not in PARTS:
        raise ValueError(f"part: expected one of {PARTS}, got {part!r}")
    if part == ALL or holdout_fraction(channel) <= 0.0:
        return events
    mask = held_out_mask(events.n_events, channel, key)
    keep = mask if part == HELD_OUT else ~mask
    label = "held-out" if part == HELD_OUT else "training"
    return EventSample(
        events.features[keep],
        events.weights[keep],
        events.observables,
        f"{events.description} ({label} part)",
    )
