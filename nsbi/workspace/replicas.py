r"""Bootstrap replicas of a channel's simulation: the finite-MC uncertainty of a learned model.

A learned likelihood inherits the fluctuations of the simulated events it was trained and
normalised on: the ratio networks learn the training sample's bumps, the reference pool's
finite size sets the normalisation and the Asimov data, and the yields are sums of weights.
Asimov fits, toys and reweighting diagnostics cannot see this error (they reweight the same
pool), and the spread of ensemble members underestimates it (the members share the sample).

Replica :math:`b` of a channel reweights every simulated event :math:`i` of every sample by an
independent

.. math::

    k_{bi} \sim \mathrm{Poisson}(1),

which draws a new simulation of the same expected size from the empirical one (the Poisson
form of Efron's bootstrap; it needs no resampling of files and keeps samples independent).
The whole pipeline then runs on the replica: its ratio ensembles are trained on the reweighted
events (``nsbi train``), normalised over the reweighted reference pool, and its yields are the
reweighted sums. Fitting every replica's model to the same data gives :math:`B` estimates
:math:`\hat\theta_b`; their covariance

.. math::

    V_\mathrm{MC} = \frac{1}{B - 1} \sum_b (\hat\theta_b - \bar\theta)(\hat\theta_b -
    \bar\theta)^T

estimates the covariance of :math:`\hat\theta` over independent simulations
(:mod:`nsbi.infer.mc_stat`). A workspace declares replicas per channel:
``"mc_stat": {"replicas": B}`` (optionally ``"seed"``, default 0).

The factors depend only on (seed, replica, sample, event index), so training and model
building draw the same ones.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from nsbi.io import EventSample

__all__ = [
    "replica_count",
    "bootstrap_events",
    "variation_key",
    "replica_path",
    "REPLICA_SEED_OFFSET",
]

#: replica ``b`` trains with ``training.seed + REPLICA_SEED_OFFSET * (b + 1)`` (its networks'
#: initialisation and shuffling differ from the nominal's as they would for a new simulation)
REPLICA_SEED_OFFSET = 1000


def replica_count(channel: dict) -> int:
    """The channel's declared bootstrap replicas (0 without ``mc_stat``).

    Example:
        >>> replica_count({"mc_stat": {"replicas": 10}}), replica_count({})
        (10, 0)
    """
    return int(channel.get("mc_stat", {}).get("replicas", 0))


def bootstrap_events(events: EventSample, channel: dict, replica: int, key: str) -> EventSample:
    r"""``events`` with weights times :math:`k_i \sim \mathrm{Poisson}(1)`, drawn from the
    generator seeded by (the channel's ``mc_stat.seed``, ``replica``, CRC-32 of ``key``, the
    sample's name or the variation's label).

    Example:
        >>> import numpy as np
        >>> events = EventSample(np.zeros((5, 1)), np.ones(5), ["x"], "toy")
        >>> one = bootstrap_events(events, {"mc_stat": {"replicas": 2}}, 0, "S").weights
        >>> two = bootstrap_events(events, {"mc_stat": {"replicas": 2}}, 0, "S").weights
        >>> bool((one == two).all()), set(one) <= {0.0, 1.0, 2.0, 3.0, 4.0, 5.0}
        (True, True)
    """
    seed = int(channel.get("mc_stat", {}).get("seed", 0))
    rng = np.random.default_rng([seed, int(replica), zlib.crc32(key.encode())])
    factors = rng.poisson(1.0, events.n_events).astype(np.float64)
    return EventSample(
        events.features,
        events.weights * factors,
        events.observables,
        f"{events.description} (bootstrap replica {replica})",
    )


def variation_key(sample: dict, modifier: dict, side: str) -> str:
    """The bootstrap key of a ``shape`` variation's events: the sample's own when the variation
    reads the same events (it overrides only branches or the weight), so that each event keeps
    its factor; ``SAMPLE_MODIFIER_SIDE`` when it reads another file or tree.

    Example:
        >>> sample = {"name": "B", "source": {"file": "B.root", "tree": "events"}}
        >>> variation_key(sample, {"name": "jes", "data": {"hi": {"tree": "up"}}}, "hi")
        'B_jes_hi'
        >>> variation_key(sample, {"name": "jes", "data": {"hi": {"weight": "w_up"}}}, "hi")
        'B'
    """
    override = modifier["data"].get(side, {})
    source = sample.get("source", {})
    moved = any(k in override and override[k] != source.get(k) for k in ("file", "tree"))
    return f"{sample['name']}_{modifier['name']}_{side}" if moved else sample["name"]


def replica_path(path: Path, replica: int) -> Path:
    """Where replica ``replica`` of the ensemble at ``path`` lives:
    ``<path>.replicas/<replica>``.

    Example:
        >>> replica_path(Path("models/SR/S"), 3).as_posix()
        'models/SR/S.replicas/3'
    """
    return path.with_name(f"{path.name}.replicas") / str(replica)
