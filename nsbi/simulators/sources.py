r"""Toy sources of training datasets for the set networks (:mod:`nsbi.sets`), each beside its
simulator: whole datasets drawn at a value of the parameter of interest, or from the prior
predictive. They fulfil the protocols of :mod:`nsbi.sets.sources`.

- :class:`SimulatorSource`: the signal-plus-background mixture of section 3.2 of
  arXiv:2306.12584, :math:`\theta_\nu \sim U(0.5, 2)` per dataset (appendix A.2), for the
  learned profile statistic: ``sample(theta, generator) -> (x, weights)``.
- :class:`MultivariateNormalSource`: section 3.1, :math:`N \sim U(1, N_\text{max})` elements,
  for posteriors: ``sample(n, rng) -> (theta, x, mask)`` with ``theta`` from the prior.
- :class:`BumpHuntSource`: section 3.3, 100 events; the target is the signal fraction
  :math:`\theta` alone (``parameters=(0,)``, the resonance position marginalised) or both.
- :class:`HierarchicalNormalSource`, :class:`LensingSource`: global and local parameters for
  the hierarchical posteriors, ``sample(n, rng) -> (theta, z, x, mask)``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
import torch

from nsbi.simulators.bump_hunt import BumpHuntToy
from nsbi.simulators.hierarchical_normal import HierarchicalNormalToy
from nsbi.simulators.lensing import LensingSimulator
from nsbi.simulators.mvn import MultivariateNormalToy
from nsbi.simulators.signal_background import SignalBackgroundMixture

__all__ = [
    "SimulatorSource",
    "MultivariateNormalSource",
    "BumpHuntSource",
    "HierarchicalNormalSource",
    "LensingSource",
]


@dataclass
class SimulatorSource:
    r"""Datasets of :class:`~nsbi.simulators.SignalBackgroundMixture` with a random
    :math:`\theta_\nu \sim U(\text{nuisance\_range})`.

    Example:
        >>> source = SimulatorSource()
        >>> x, w = source.sample(torch.tensor([5.0, 5.0]), torch.Generator().manual_seed(0))
        >>> x.shape[0], x.shape[2], w.shape == x.shape[:2]
        (2, 1, True)
    """

    simulator: SignalBackgroundMixture = field(default_factory=SignalBackgroundMixture)
    nuisance_range: tuple[float, float] = (0.5, 2.0)
    n_features: int = 1
    observables: tuple[str, ...] = ("x",)
    poi: str = "theta"

    def sample(
        self, theta: torch.Tensor, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        lo, hi = self.nuisance_range
        nu = lo + (hi - lo) * torch.rand(len(theta), generator=generator, dtype=torch.float64)
        return self.simulator.simulate(theta.clamp_min(0.0), nu, generator)

    def describe(self) -> dict:
        return {
            "kind": "simulator",
            "simulator": type(self.simulator).__name__,
            "settings": dataclasses.asdict(self.simulator),
            "nuisance_range": list(self.nuisance_range),
        }


@dataclass
class MultivariateNormalSource:
    r"""Prior-predictive datasets of :class:`~nsbi.simulators.MultivariateNormalToy` with
    :math:`N \sim U(n_\text{min}, n_\text{max})` elements each, padded to ``n_max``.

    Example:
        >>> theta, x, mask = MultivariateNormalSource(n_max=10).sample(4, np.random.default_rng(0))
        >>> theta.shape, x.shape, mask.shape
        ((4, 3), (4, 10, 15), (4, 10))
    """

    toy: MultivariateNormalToy = field(default_factory=MultivariateNormalToy)
    n_min: int = 1
    n_max: int = 200

    @property
    def n_features(self) -> int:
        return self.toy.n_features

    @property
    def n_parameters(self) -> int:
        return self.toy.dim

    def prior_moments(self) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros(self.toy.dim), np.full(self.toy.dim, self.toy.prior_std)

    def sample(self, n: int, rng: np.random.Generator):
        theta = self.toy.sample_prior(n, rng)
        sizes = rng.integers(self.n_min, self.n_max + 1, size=n)
        x, mask = self.toy.simulate(theta, sizes, rng, pad_to=self.n_max)
        return theta, x, mask

    def describe(self) -> dict:
        return {"kind": "MultivariateNormalToy", "settings": dataclasses.asdict(self.toy),
                "n_min": self.n_min, "n_max": self.n_max}  # fmt: skip


@dataclass
class BumpHuntSource:
    r"""Prior-predictive datasets of :class:`~nsbi.simulators.BumpHuntToy` (``n_events`` each,
    one feature); ``parameters`` picks the columns of :math:`(\theta, \theta_\nu)` the
    posterior is over.

    Example:
        >>> theta, x, mask = BumpHuntSource().sample(3, np.random.default_rng(0))
        >>> theta.shape, x.shape, mask.shape
        ((3, 1), (3, 100, 1), (3, 100))
    """

    toy: BumpHuntToy = field(default_factory=BumpHuntToy)
    parameters: tuple[int, ...] = (0,)
    n_features: int = 1

    @property
    def n_parameters(self) -> int:
        return len(self.parameters)

    def prior_moments(self) -> tuple[np.ndarray, np.ndarray]:
        loc = np.array([0.5, self.toy.nu_prior_mean])[list(self.parameters)]
        scale = np.array([math.sqrt(1 / 12), self.toy.nu_prior_std])[list(self.parameters)]
        return loc, scale

    def sample(self, n: int, rng: np.random.Generator):
        params = self.toy.sample_prior(n, rng)
        x = self.toy.simulate(params, rng)
        return params[:, list(self.parameters)], x[..., None], np.ones(x.shape)

    def describe(self) -> dict:
        return {"kind": "BumpHuntToy", "settings": dataclasses.asdict(self.toy),
                "parameters": list(self.parameters)}  # fmt: skip


@dataclass
class HierarchicalNormalSource:
    r"""Prior-predictive datasets of :class:`~nsbi.simulators.hierarchical_normal.
    HierarchicalNormalToy` with :math:`N \sim U(n_\text{min}, n_\text{max})` elements, for
    :func:`~nsbi.sets.hierarchical.train_hierarchical`: ``(theta, z, x, mask)``.

    Example:
        >>> theta, z, x, mask = HierarchicalNormalSource(n_max=5).sample(2, np.random.default_rng(0))
        >>> theta.shape, z.shape, x.shape, mask.shape
        ((2, 1), (2, 5, 1), (2, 5, 4), (2, 5))
    """

    toy: HierarchicalNormalToy = field(default_factory=HierarchicalNormalToy)
    n_min: int = 1
    n_max: int = 20
    element: str = "mlp"
    n_global: int = 1
    n_local: int = 1

    @property
    def n_features(self) -> int:
        return self.toy.measurements

    def prior_moments(self):
        toy = self.toy
        local_std = np.hypot(toy.prior_std, toy.tau)
        return ([0.0], [toy.prior_std]), ([0.0], [local_std])

    def sample(self, n: int, rng: np.random.Generator):
        theta = self.toy.sample_prior(n, rng)
        sizes = rng.integers(self.n_min, self.n_max + 1, size=n)
        return self.toy.simulate(theta, sizes, rng, pad_to=self.n_max)

    def describe(self) -> dict:
        return {"kind": "HierarchicalNormalToy", "settings": dataclasses.asdict(self.toy),
                "n_min": self.n_min, "n_max": self.n_max}  # fmt: skip


@dataclass
class LensingSource:
    r"""Datasets of strong-lensing images (:class:`~nsbi.simulators.lensing.LensingSimulator`):
    global :math:`(\alpha, \beta)` from the prior, :math:`N \sim U(n_\text{min},
    n_\text{max})` images each with local :math:`(\theta_E, \Delta x, \Delta y, q)`;
    images in units of the sky noise above the sky (``simulator.normalise``).

    Example:
        >>> theta, z, x, mask = LensingSource(n_max=3).sample(2, np.random.default_rng(0))
        >>> theta.shape, z.shape, x.shape, mask.shape
        ((2, 2), (2, 3, 4), (2, 3, 64, 64), (2, 3))
    """

    simulator: LensingSimulator = field(default_factory=LensingSimulator)
    n_min: int = 1
    n_max: int = 25
    element: str = "image"
    n_features: int = 0
    n_global: int = 2
    n_local: int = 4

    def prior_moments(self):
        prior = self.simulator.prior

        def uniform(bounds):
            return (bounds[0] + bounds[1]) / 2, (bounds[1] - bounds[0]) / math.sqrt(12)

        (a, sa), (b, sb) = uniform(prior.alpha_range), uniform(prior.beta_range)
        (t, st), (q, sq) = uniform(prior.theta_E_range), uniform(prior.q_range)
        o = prior.offset_std
        return ([a, b], [sa, sb]), ([t, 0.0, 0.0, q], [st, o, o, sq])

    def sample(self, n: int, rng: np.random.Generator):
        theta = self.simulator.prior.sample_global(n, rng)
        sizes = rng.integers(self.n_min, self.n_max + 1, size=n)
        images, local, mask = self.simulator.simulate_datasets(theta, sizes, rng, pad_to=self.n_max)
        return theta, local, self.simulator.normalise(images), mask.astype(np.float32)

    def describe(self) -> dict:
        return {"kind": "LensingSimulator", "n_min": self.n_min, "n_max": self.n_max}
