r"""A toy with a shape and a yield systematic whose densities are exact for every :math:`\alpha`.

One observable :math:`x`, a signal and a background:

.. math::

    p_S(x) = \mathcal{N}(x;\, m_S, \sigma_S^2), \qquad
    p_B(x \mid \alpha_s) = \mathcal{N}\big(x;\, m(\alpha_s), \lambda(\alpha_s)^{-1}\big),

where the background at :math:`\alpha_s = +1` has mean :math:`m_B + \delta` and width
:math:`\sigma_B e^{\epsilon}`, and the natural parameters of the Gaussian move linearly between
the nominal and that point: the precision :math:`\lambda(\alpha) = \lambda_0 + \alpha
(\lambda_1 - \lambda_0)` and :math:`\lambda(\alpha) m(\alpha) = \lambda_0 m_B + \alpha(\lambda_1
(m_B + \delta) - \lambda_0 m_B)`. Mean and width both move with :math:`\alpha_s`, and the family
is an exponential tilt, :math:`p_B(x|\alpha) \propto p_B(x|0)\,[g^+(x)]^{\alpha}`, so per-event
``code1`` interpolation with renormalisation (:mod:`nsbi.model.shapes`) is exact for every
:math:`\alpha` and a closure test measures only what is learned; ``code4`` differs from it
inside :math:`|\alpha| < 1`.

The intensity is :math:`\lambda(x|\mu,\alpha) = \mu\,\nu_S\,p_S(x) + \nu_B\,G(\alpha_n)\,
p_B(x|\alpha_s)`. The shape parameter :math:`\alpha_s` moves the background's mean and width
(its yield does not change); the yield parameter :math:`\alpha_n` scales the background by
HistFactory's ``code4`` factor between :math:`\kappa^-` and :math:`\kappa^+` (the truth is
defined with the same interpolation a workspace ``normsys`` uses, so the test isolates the
per-event shape). Both carry unit Gaussian constraints, so the exact negative log-likelihood is

.. math::

    \mathrm{NLL} = \mu\nu_S + \nu_B G(\alpha_n) - \sum_i \ln \lambda(x_i|\mu,\alpha)
    + \tfrac12(\alpha_s^2 + \alpha_n^2).

:func:`write_systematics_workspace` writes it as ntuples (nominal background, and the background
at :math:`\alpha_s = \pm1` in trees ``B_up`` and ``B_down``) and a workspace with a ``shape`` and
a ``normsys`` modifier; nsbi's learned-and-interpolated model is then compared with
:meth:`SystematicsToy.nll`.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from nsbi.io import write_ntuple
from nsbi.model.interpolation import code4
from nsbi.simulators.export import TREE, write_unbinned_workspace

__all__ = ["SystematicsToy", "write_systematics_workspace"]


class SystematicsToy:
    """Signal plus a background with a shape (mean and width) and a yield systematic.

    Example:
        >>> toy = SystematicsToy()
        >>> x = np.array([0.0, 1.0])
        >>> bool(np.allclose(toy.log_density("B", x, alpha=0.0),
        ...                  -0.5 * np.log(2 * np.pi) - np.log(toy.sigma_b) - 0.5 * x**2
        ...                  / toy.sigma_b**2))
        True
    """

    processes = ("S", "B")

    def __init__(
        self,
        nu_s: float = 60.0,
        nu_b: float = 400.0,
        mean_s: float = 1.5,
        sigma_s: float = 0.6,
        mean_b: float = 0.0,
        sigma_b: float = 1.5,
        shift: float = 0.25,
        log_width: float = 0.08,
        kappa_hi: float = 1.08,
        kappa_lo: float = 0.93,
    ):
        self.nu_s, self.nu_b = float(nu_s), float(nu_b)
        self.mean_s, self.sigma_s = float(mean_s), float(sigma_s)
        self.mean_b, self.sigma_b = float(mean_b), float(sigma_b)
        self.shift, self.log_width = float(shift), float(log_width)
        self.kappa_hi, self.kappa_lo = float(kappa_hi), float(kappa_lo)

    def __repr__(self) -> str:
        return (
            f"SystematicsToy(nu_s={self.nu_s:g}, nu_b={self.nu_b:g}, shift={self.shift:g}, "
            f"log_width={self.log_width:g}, kappa=({self.kappa_lo:g}, {self.kappa_hi:g}))"
        )

    def background_mean_width(self, alpha: float) -> tuple[float, float]:
        r"""The background's mean :math:`m(\alpha)` and width :math:`\lambda(\alpha)^{-1/2}`.

        Example:
            >>> toy = SystematicsToy()
            >>> mean, width = toy.background_mean_width(1.0)
            >>> round(mean - toy.mean_b, 12), round(width / toy.sigma_b, 6)
            (0.25, 1.083287)
        """
        lambda0 = self.sigma_b**-2
        lambda1 = (self.sigma_b * math.exp(self.log_width)) ** -2
        precision = lambda0 + alpha * (lambda1 - lambda0)
        if not precision > 0:
            raise ValueError(f"alpha_s = {alpha:g} is beyond the toy's family (width infinite)")
        eta = lambda0 * self.mean_b + alpha * (
            lambda1 * (self.mean_b + self.shift) - lambda0 * self.mean_b
        )
        return eta / precision, precision**-0.5

    def yield_factor(self, alpha_n):
        r""":math:`G(\alpha_n)`, HistFactory code4 between ``kappa_lo`` and ``kappa_hi``."""
        alpha = torch.as_tensor(alpha_n, dtype=torch.float64)
        hi = torch.tensor(self.kappa_hi, dtype=torch.float64)
        lo = torch.tensor(self.kappa_lo, dtype=torch.float64)
        return code4(alpha, hi, lo)

    def _mean_width(self, process: str, alpha: float) -> tuple[float, float]:
        if process == "S":
            return self.mean_s, self.sigma_s
        if process == "B":
            return self.background_mean_width(alpha)
        raise ValueError(f"unknown process {process!r}; expected 'S' or 'B'")

    def log_density(self, process: str, x, alpha: float = 0.0) -> np.ndarray:
        r""":math:`\ln p_j(x)` (``alpha`` is the shape parameter :math:`\alpha_s`)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        mean, width = self._mean_width(process, alpha)
        return -0.5 * ((x - mean) / width) ** 2 - math.log(width) - 0.5 * math.log(2 * math.pi)

    def sample(self, process: str, n: int, rng: np.random.Generator, alpha: float = 0.0):
        """``n`` events of one process, shape ``(n, 1)``."""
        mean, width = self._mean_width(process, alpha)
        return rng.normal(mean, width, (n, 1))

    def sample_events(
        self, mu: float, rng: np.random.Generator, alpha_s: float = 0.0, alpha_n: float = 0.0
    ) -> np.ndarray:
        """One pseudo-dataset: Poisson numbers of signal and background events, shuffled."""
        n_s = rng.poisson(mu * self.nu_s)
        n_b = rng.poisson(self.nu_b * float(self.yield_factor(alpha_n)))
        x = np.concatenate([self.sample("S", n_s, rng), self.sample("B", n_b, rng, alpha_s)])
        return x[rng.permutation(len(x))]

    def nll(self, mu: float, alpha_s: float, alpha_n: float, x, weights=None) -> float:
        """The exact negative log-likelihood of events ``x`` (optionally weighted)."""
        x = np.asarray(x, dtype=np.float64).reshape(-1)
        w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
        g = float(self.yield_factor(alpha_n))
        log_s = math.log(max(mu * self.nu_s, 1e-300)) + self.log_density("S", x)
        log_b = math.log(self.nu_b * g) + self.log_density("B", x, alpha_s)
        log_intensity = np.logaddexp(log_s, log_b)
        return float(
            mu * self.nu_s
            + self.nu_b * g
            - np.sum(w * log_intensity)
            + 0.5 * (alpha_s**2 + alpha_n**2)
        )

    def intensity(self, x, mu: float, alpha_s: float = 0.0, alpha_n: float = 0.0) -> np.ndarray:
        r""":math:`\lambda(x|\mu,\alpha)` per event."""
        g = float(self.yield_factor(alpha_n))
        return mu * self.nu_s * np.exp(self.log_density("S", x)) + self.nu_b * g * np.exp(
            self.log_density("B", x, alpha_s)
        )


def write_systematics_workspace(
    toy: SystematicsToy,
    directory: str | os.PathLike,
    *,
    events_per_sample: int = 100_000,
    observed: tuple[float, float, float] = (1.0, 0.5, 0.0),
    seed: int = 0,
    training: dict | None = None,
    shape_code: str = "code4",
) -> Path:
    r"""Write ``toy`` as ROOT ntuples and a workspace in ``directory``; return the JSON path.

    The background file holds the trees ``events`` (nominal), ``B_up`` and ``B_down``
    (:math:`\alpha_s = \pm1`); the observed dataset is drawn at
    ``observed = (mu, alpha_s, alpha_n)``.

    Example:
        >>> import tempfile
        >>> from nsbi.workspace import Workspace
        >>> path = write_systematics_workspace(SystematicsToy(), tempfile.mkdtemp(),
        ...                                    events_per_sample=500)
        >>> [m["type"] for m in Workspace.load(path).channel("SR")["samples"][1]["modifiers"]]
        ['shape', 'normsys']
    """
    directory = Path(directory)
    (directory / "ntuples").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    n = int(events_per_sample)
    for process, trees in (("S", {TREE: 0.0}), ("B", {TREE: 0.0, "B_up": 1.0, "B_down": -1.0})):
        content = {}
        nu = toy.nu_s if process == "S" else toy.nu_b
        for tree, alpha in trees.items():
            x = toy.sample(process, n, rng, alpha)
            content[tree] = {"x": x[:, 0], "weight": np.full(n, nu / n)}
        write_ntuple(directory / "ntuples" / f"{process}.root", content)
    mu, alpha_s, alpha_n = observed
    data = toy.sample_events(mu, rng, alpha_s, alpha_n)
    write_ntuple(directory / "ntuples" / "data.root", {TREE: {"x": data[:, 0]}})

    def source(process):
        return {"file": f"ntuples/{process}.root", "tree": TREE, "weight": "weight"}

    samples = [
        {"name": "S", "source": source("S"), "coefficient": "mu", "modifiers": []},
        {
            "name": "B",
            "source": source("B"),
            "modifiers": [
                {
                    "name": "alpha_shape",
                    "type": "shape",
                    "data": {"hi": {"tree": "B_up"}, "lo": {"tree": "B_down"}},
                },
                {
                    "name": "alpha_norm",
                    "type": "normsys",
                    "data": {"hi": toy.kappa_hi, "lo": toy.kappa_lo},
                },
            ],
        },
    ]
    return write_unbinned_workspace(
        directory, ["x"], ["S", "B"], samples, training, "systematics", (0.0, 5.0),
        {"normsys": "code4", "shape": shape_code},
    )  # fmt: skip
