r"""An off-shell-Higgs-style analysis toy with systematic variations, written as ROOT ntuples.

The gluon-fusion part is an :class:`~nsbi.simulators.InterferenceToy`: the samples ``S``,
``SBI`` and ``B`` mixed with the coefficients :math:`\mu - \sqrt\mu`, :math:`\sqrt\mu` and
:math:`1 - \sqrt\mu`. Beside it a ``qqZZ`` background enters with coefficient 1, as the
quark-initiated continuum does in the off-shell :math:`ZZ` analyses:

.. math::

    \lambda(x \mid \mu, \alpha) = G_{gg}(\alpha_k)\,\big[\mu S(x) + \sqrt\mu\, I(x) + B(x)\big]
    + G_{qq}(\alpha_n)\,\nu_{qq}\, p_{qq}(x \mid \alpha_s),
    \qquad p_{qq}(x \mid \alpha_s) = \mathcal{N}(x;\, m_{qq} + \alpha_s \delta,\, \Sigma_{qq}).

Three nuisance parameters, each with a unit Gaussian constraint, as a workspace declares them:

- ``ggZZ_kfactor`` (``normsys`` on ``S``, ``SBI`` and ``B``): the gluon-fusion K-factor, one
  relative yield change :math:`\kappa_{gg}^\pm` shared by the three samples;
- ``qqZZ_xsec`` (``normsys`` on ``qqZZ``): its cross-section, :math:`\kappa_{qq}^\pm`;
- ``qqZZ_shape`` (``shape`` on ``qqZZ``): the mean of the ``qqZZ`` events moves by
  :math:`\pm\delta` (a scale-like shift), written as the trees ``qqZZ_up`` and ``qqZZ_down``
  beside the nominal one, as experiments write their systematic trees. A mean shift of a
  Gaussian at fixed covariance is an exponential tilt,
  :math:`p_{qq}(x|\alpha_s) \propto p_{qq}(x|0)\,[g^+(x)]^{\alpha_s}` with
  :math:`g^\pm = p_{qq}(x|\pm1)/p_{qq}(x|0)`, so per-event ``code1`` interpolation with
  renormalisation is exact for every :math:`\alpha_s`; ``code4`` (the default) departs from it
  only inside :math:`|\alpha_s| < 1`.

:func:`write_offshell_workspace` writes the ntuples of every sample and variation, one observed
dataset and the workspace JSON; :meth:`OffShellToy.log_intensity` is the exact differential
yield at nominal normalisations, for checks against the truth.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from nsbi.io import write_ntuple
from nsbi.simulators.export import TREE, write_unbinned_workspace
from nsbi.simulators.interference import InterferenceToy

__all__ = ["OffShellToy", "write_offshell_workspace"]

_LOG_2PI = math.log(2.0 * math.pi)


def default_interference() -> InterferenceToy:
    r"""The gluon-fusion part of :class:`OffShellToy` by default: 100 signal and 600 background
    events at :math:`\mu = 1`, 50% destructive interference, a signal peak of width 0.6 on a
    background of width 1.2 in two observables."""
    return InterferenceToy(
        d=2,
        nu_signal=100.0,
        nu_background=600.0,
        interference=0.5,
        signal_cov=np.diag([0.36, 0.36]),
        background_cov=np.diag([1.44, 1.44]),
    )


class OffShellToy:
    r"""Gluon-fusion ``S``/``SBI``/``B`` with interference, a ``qqZZ`` background, and
    systematic variations (see the module docstring).

    Arguments:
        interference: the gluon-fusion model (default :func:`default_interference`).
        nu_qqzz: :math:`\nu_{qq}`, the expected ``qqZZ`` events.
        qqzz_mean: :math:`m_{qq}`, shape ``(d,)``; default ``(-0.5, -0.3, 0, ...)``.
        qqzz_sigma: standard deviation of every observable in ``qqZZ`` (diagonal
            :math:`\Sigma_{qq}`).
        qqzz_shift: :math:`\delta`, the mean shift at :math:`\alpha_s = +1`; default
            ``(0.15, 0, ...)`` (the first observable only).
        kfactor: :math:`(\kappa^-_{gg}, \kappa^+_{gg})` of ``ggZZ_kfactor``.
        qqzz_xsec: :math:`(\kappa^-_{qq}, \kappa^+_{qq})` of ``qqZZ_xsec``.

    Example:
        >>> toy = OffShellToy()
        >>> toy.processes, toy.observable_names
        (('S', 'SBI', 'B', 'qqZZ'), ['x1', 'x2'])
        >>> {k: round(v, 1) for k, v in toy.yields().items()}
        {'S': 100.0, 'SBI': 535.3, 'B': 600.0, 'qqZZ': 300.0}
    """

    processes = ("S", "SBI", "B", "qqZZ")

    def __init__(
        self,
        interference: InterferenceToy | None = None,
        nu_qqzz: float = 300.0,
        qqzz_mean: ArrayLike | None = None,
        qqzz_sigma: float = 1.0,
        qqzz_shift: ArrayLike | None = None,
        kfactor: tuple[float, float] = (0.95, 1.05),
        qqzz_xsec: tuple[float, float] = (0.96, 1.04),
    ):
        self.interference = interference if interference is not None else default_interference()
        d = self.interference.d
        if not (np.isfinite(nu_qqzz) and nu_qqzz > 0):
            raise ValueError(f"nu_qqzz: expected a positive number, got {nu_qqzz!r}")
        if not (np.isfinite(qqzz_sigma) and qqzz_sigma > 0):
            raise ValueError(f"qqzz_sigma: expected a positive number, got {qqzz_sigma!r}")
        for name, pair in (("kfactor", kfactor), ("qqzz_xsec", qqzz_xsec)):
            if len(pair) != 2 or not all(np.isfinite(k) and k > 0 for k in pair):
                raise ValueError(f"{name}: expected two positive factors (lo, hi), got {pair!r}")
        self.nu_qqzz = float(nu_qqzz)
        self.qqzz_mean = self._vector(qqzz_mean, [-0.5, -0.3], d, "qqzz_mean")
        self.qqzz_sigma = float(qqzz_sigma)
        self.qqzz_shift = self._vector(qqzz_shift, [0.15], d, "qqzz_shift")
        self.kfactor = (float(kfactor[0]), float(kfactor[1]))
        self.qqzz_xsec = (float(qqzz_xsec[0]), float(qqzz_xsec[1]))

    @staticmethod
    def _vector(value: ArrayLike | None, default: list[float], d: int, name: str) -> np.ndarray:
        if value is None:
            return np.array((default + [0.0] * d)[:d], dtype=float)
        vector = np.asarray(value, dtype=float)
        if vector.shape != (d,) or not np.all(np.isfinite(vector)):
            raise ValueError(f"{name}: expected {d} finite numbers, got {value!r}")
        return vector

    def __repr__(self) -> str:
        return (
            f"OffShellToy({self.interference!r}, nu_qqzz={self.nu_qqzz:g}, "
            f"qqzz_shift={self.qqzz_shift.tolist()}, kfactor={self.kfactor}, "
            f"qqzz_xsec={self.qqzz_xsec})"
        )

    @property
    def observable_names(self) -> list[str]:
        """``["x1", ..., "xd"]``."""
        return self.interference.observable_names

    @property
    def coefficients(self) -> dict[str, str]:
        """The workspace coefficient of each sample (``qqZZ`` enters with 1)."""
        return {**self.interference.coefficients, "qqZZ": "1"}

    def yields(self) -> dict[str, float]:
        r"""The nominal expected events :math:`\nu_j` of every sample."""
        return {**self.interference.yields(), "qqZZ": self.nu_qqzz}

    def _check_process(self, process: str) -> None:
        if process not in self.processes:
            raise ValueError(
                f"unknown process {process!r}; expected one of {', '.join(self.processes)}"
            )

    def log_density(self, process: str, x: ArrayLike, alpha_shape: float = 0.0) -> np.ndarray:
        r""":math:`\ln p_j(x)`; ``alpha_shape`` (:math:`\alpha_s`) moves ``qqZZ`` only.

        Example:
            >>> toy = OffShellToy()
            >>> x = toy.qqzz_mean[None, :] + toy.qqzz_shift[None, :]
            >>> bool(np.isclose(toy.log_density("qqZZ", x, alpha_shape=1.0)[0],
            ...                 -np.log(2 * np.pi * toy.qqzz_sigma**2)))
            True
        """
        self._check_process(process)
        if process != "qqZZ":
            return self.interference.log_density(process, x)
        x = np.atleast_2d(np.asarray(x, dtype=float))
        z = (x - self.qqzz_mean - alpha_shape * self.qqzz_shift) / self.qqzz_sigma
        d = self.interference.d
        return -0.5 * np.sum(z * z, axis=1) - d * math.log(self.qqzz_sigma) - 0.5 * d * _LOG_2PI

    def log_intensity(self, x: ArrayLike, mu: float, alpha_shape: float = 0.0) -> np.ndarray:
        r""":math:`\ln \lambda(x|\mu, \alpha_s)` with both normalisation parameters at 0.

        Example:
            >>> toy = OffShellToy()
            >>> x = [[0.5, 0.2]]
            >>> total = np.exp(toy.interference.log_intensity(x, 1.0)) + toy.nu_qqzz * np.exp(
            ...     toy.log_density("qqZZ", x))
            >>> bool(np.allclose(toy.log_intensity(x, 1.0), np.log(total)))
            True
        """
        log_qq = math.log(self.nu_qqzz) + self.log_density("qqZZ", x, alpha_shape)
        return np.logaddexp(self.interference.log_intensity(x, mu), log_qq)

    def sample(
        self, process: str, n: int, rng: np.random.Generator | int, alpha_shape: float = 0.0
    ) -> np.ndarray:
        """``n`` events of one process, shape ``(n, d)``; ``alpha_shape`` moves ``qqZZ``."""
        self._check_process(process)
        rng = np.random.default_rng(rng)
        if process != "qqZZ":
            return self.interference.sample(process, n, rng)
        d = self.interference.d
        mean = self.qqzz_mean + alpha_shape * self.qqzz_shift
        return mean + self.qqzz_sigma * rng.standard_normal((int(n), d))

    def sample_events(self, mu: float, rng: np.random.Generator | int) -> np.ndarray:
        r"""A pseudo-dataset at :math:`\mu` and nominal nuisance parameters: the gluon-fusion
        events of :meth:`InterferenceToy.sample_events` and :math:`\mathrm{Pois}(\nu_{qq})`
        ``qqZZ`` events, shuffled.

        Example:
            >>> x = OffShellToy().sample_events(1.0, rng=0)
            >>> x.shape[1], 700 < x.shape[0] < 980  # nu(1) = 835
            (2, True)
        """
        rng = np.random.default_rng(rng)
        gg = self.interference.sample_events(mu, rng)
        qq = self.sample("qqZZ", int(rng.poisson(self.nu_qqzz)), rng)
        x = np.concatenate([gg, qq])
        return x[rng.permutation(len(x))]


def write_offshell_workspace(
    toy: OffShellToy,
    directory: str | os.PathLike,
    *,
    events_per_sample: int = 100_000,
    observed_mu: float = 1.0,
    seed: int = 0,
    training: dict | None = None,
    poi_bounds: tuple[float, float] = (0.0, 5.0),
    reference: tuple[str, ...] = ("B",),
    observed_seed: int | None = None,
) -> Path:
    r"""Write the ntuples and the workspace of ``toy`` into ``directory``; return the JSON path.

    The layout of a real analysis::

        DIRECTORY/
            workspace.json      channel "SR": S, SBI, B (ggZZ_kfactor), qqZZ (qqZZ_xsec, qqZZ_shape)
            ntuples/S.root      tree "events": x1, x2, ..., weight
            ntuples/SBI.root
            ntuples/B.root
            ntuples/qqZZ.root   trees "events", "qqZZ_up", "qqZZ_down" (alpha_s = 0, +1, -1)
            ntuples/data.root   tree "events": x1, x2, ...  (one pseudo-dataset at observed_mu)

    Every simulated tree has ``events_per_sample`` events of weight :math:`\nu_j / N`; the
    workspace states the exact yields of ``S``, ``SBI`` and ``B`` (``SBI``'s comes from the
    interference integral), while ``qqZZ`` and its variations take the sum of their weights.
    The reference is the gluon-fusion background ``B`` alone by default: it is the broadest
    process, so it covers the others, needs no ratio model of its own (its ratio is 1, so the
    interference :math:`\mathrm{SBI} - S - B` rests on two learned ratios, not three), and
    keeps the per-event tables, and with them every fit and pseudo-experiment, small.

    Arguments:
        toy: the analytic model.
        directory: created if missing; files of the same names are replaced atomically.
        events_per_sample: simulated events per sample and per variation tree.
        observed_mu: the signal strength of the observed pseudo-dataset (nuisances nominal).
        seed: seed of every random draw.
        training: the channel's ``training`` block (see ``docs/workspace.md``).
        poi_bounds: bounds of ``mu``.
        reference: the samples pooled into the reference density.
        observed_seed: seed of the observed dataset alone (default: drawn from ``seed``'s
            stream after the simulated samples), to keep one dataset while the simulation varies.

    Example:
        >>> import tempfile
        >>> from nsbi.workspace import Workspace
        >>> ws = Workspace.load(write_offshell_workspace(OffShellToy(), tempfile.mkdtemp(),
        ...                                              events_per_sample=500))
        >>> [(s["name"], [m["name"] for m in s["modifiers"]]) for s in ws.channel("SR")["samples"]]
        ... # doctest: +NORMALIZE_WHITESPACE
        [('S', ['ggZZ_kfactor']), ('SBI', ['ggZZ_kfactor']), ('B', ['ggZZ_kfactor']),
         ('qqZZ', ['qqZZ_xsec', 'qqZZ_shape'])]
    """
    n = int(events_per_sample)
    unknown = sorted(set(reference) - set(toy.processes))
    if unknown or not reference:
        raise ValueError(f"reference: expected names among {toy.processes}, got {reference!r}")
    if n < 1:
        raise ValueError(f"events_per_sample: expected a positive integer, got {events_per_sample}")
    directory = Path(directory)
    (directory / "ntuples").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    names = toy.observable_names
    yields = toy.yields()

    def branches(x: np.ndarray, weight: float | None = None) -> dict[str, np.ndarray]:
        out = {name: x[:, k] for k, name in enumerate(names)}
        if weight is not None:
            out["weight"] = np.full(len(x), weight)
        return out

    samples = []
    for process in toy.processes:
        trees = {TREE: 0.0}
        if process == "qqZZ":
            trees.update({"qqZZ_up": 1.0, "qqZZ_down": -1.0})
        content = {
            tree: branches(toy.sample(process, n, rng, alpha), yields[process] / n)
            for tree, alpha in trees.items()
        }
        write_ntuple(directory / "ntuples" / f"{process}.root", content)
        sample = {
            "name": process,
            "source": {"file": f"ntuples/{process}.root", "tree": TREE, "weight": "weight"},
            "coefficient": toy.coefficients[process],
        }
        if process == "qqZZ":
            sample["modifiers"] = [
                {
                    "name": "qqZZ_xsec",
                    "type": "normsys",
                    "data": {"hi": toy.qqzz_xsec[1], "lo": toy.qqzz_xsec[0]},
                },
                {
                    "name": "qqZZ_shape",
                    "type": "shape",
                    "data": {"hi": {"tree": "qqZZ_up"}, "lo": {"tree": "qqZZ_down"}},
                },
            ]
        else:
            sample["yield"] = float(yields[process])
            sample["modifiers"] = [
                {
                    "name": "ggZZ_kfactor",
                    "type": "normsys",
                    "data": {"hi": toy.kfactor[1], "lo": toy.kfactor[0]},
                }
            ]
        samples.append(sample)
    data = toy.sample_events(observed_mu, rng if observed_seed is None else observed_seed)
    write_ntuple(directory / "ntuples" / "data.root", {TREE: branches(data)})

    return write_unbinned_workspace(
        directory, names, reference, samples, training, "offshell", poi_bounds
    )
