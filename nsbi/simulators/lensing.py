r"""Strong-lensing images with a population of dark-matter subhalos, the astrophysics example of the
hierarchical-NSBI paper (section 3.4, appendix A.4), a simplified version of the forward model of
Brehmer et al. (2019, ApJ 886, 49).

A dataset is a set of up to :math:`N_\mathrm{max} = 25` images that share the **global**
parameters of the subhalo mass function, :math:`\theta_\mathrm{glob} = (\alpha, \beta)`; every
image has its own **local** parameters :math:`\theta_\mathrm{loc} = (\theta_E, \Delta x, \Delta y,
q)` and its own subhalos (latent variables). Batches of images are simulated at once with numpy;
every random draw comes from the ``rng`` argument.

**Units and coordinates.** Angles in arcsec, masses in solar masses :math:`M_\odot`. The image is
``n_pix x n_pix`` pixels (default :math:`64 \times 64`) of side ``pixel_size`` :math:`\Delta`
(default 0.1'', a field of view of 6.4''), centred on the lens. Pixel ``image[..., i, j]`` has its
centre at :math:`x_j = (j + \tfrac12 - \tfrac{n}{2}) \Delta`, :math:`y_i = (i + \tfrac12 -
\tfrac{n}{2}) \Delta`: columns run along :math:`x`, rows along :math:`y` (plot with
``origin="lower"``). The lens equation maps an image-plane position :math:`\boldsymbol\theta` to
the source plane,

.. math::

    \boldsymbol\beta = \boldsymbol\theta - \boldsymbol\alpha_\mathrm{SIE}(\boldsymbol\theta)
        - \sum_{k=1}^{N_\mathrm{sub}} \boldsymbol\alpha_k(\boldsymbol\theta).

**Main lens: singular isothermal ellipsoid** (:func:`sie_deflection`), centred, with its major
axis along :math:`x` rotated counter-clockwise by the fixed position angle ``lens_angle``
:math:`\phi_L` (default 0). In the lens frame :math:`(x', y')` the convergence is

.. math::

    \kappa(x', y') = \frac{\theta_E \sqrt q}{2 \sqrt{q^2 x'^2 + y'^2}}, \qquad 0 < q \le 1,

so that the tangential critical curve, the :math:`\kappa = 1/2` ellipse of semi-axes
:math:`\theta_E / \sqrt q` and :math:`\theta_E \sqrt q`, has the area :math:`\pi \theta_E^2` of
the Einstein circle (the "intermediate-axis" normalisation). The deflection (Kormann, Schneider &
Bartelmann 1994; the isothermal case of Keeton 2001, astro-ph/0102341, with core :math:`s = 0`
and :math:`b = \theta_E / \sqrt q`) is

.. math::

    \alpha_{x'} = \frac{\theta_E \sqrt q}{\sqrt{1 - q^2}}
        \arctan\frac{\sqrt{1 - q^2}\, x'}{\psi}, \qquad
    \alpha_{y'} = \frac{\theta_E \sqrt q}{\sqrt{1 - q^2}}
        \operatorname{artanh}\frac{\sqrt{1 - q^2}\, y'}{\psi}, \qquad
    \psi = \sqrt{q^2 x'^2 + y'^2},

rotated back by :math:`\phi_L`. When :math:`\epsilon = \sqrt{1 - q^2} < 10^{-4}` the two ratios
are replaced by their series :math:`u (1 \mp \epsilon^2 u^2 / 3)` (:math:`u = x'/\psi` or
:math:`y'/\psi`, truncation error below :math:`10^{-16}`), which at :math:`q = 1` is the singular
isothermal sphere, :math:`\boldsymbol\alpha = \theta_E \boldsymbol\theta / |\boldsymbol\theta|`.
At the centre itself (direction undefined) the deflection is set to zero. (The paper's code
normalises with :math:`\theta_E q` instead of :math:`\theta_E \sqrt q`.)

**Subhalos.** Per image, the mass function within the annulus is

.. math::

    \frac{dn}{dm} = \frac{\alpha}{m_\mathrm{min}} \left(\frac{m}{m_\mathrm{min}}\right)^{-\beta},
    \qquad m_\mathrm{min} \le m \le m_\mathrm{max},

the paper's :math:`\alpha\, m^{-\beta}` with masses counted in units of the pivot
:math:`m_\mathrm{min}` (so :math:`\alpha` is dimensionless: the number density per unit
:math:`m / m_\mathrm{min}` at :math:`m_\mathrm{min}`). The number of subhalos is
:math:`N_\mathrm{sub} \sim \mathrm{Pois}(\mu_\mathrm{sub})` with (:meth:`LensingSimulator.mean_subhalos`)

.. math::

    \mu_\mathrm{sub} = \int_{m_\mathrm{min}}^{m_\mathrm{max}} \frac{dn}{dm}\, dm
        = \alpha\, \frac{e^{(1 - \beta) L} - 1}{1 - \beta}, \qquad
    L = \ln\frac{m_\mathrm{max}}{m_\mathrm{min}}

(:math:`\alpha L` at :math:`\beta = 1`). With the defaults :math:`m_\mathrm{min} = 10^8`,
:math:`m_\mathrm{max} = 10^{10}\,M_\odot` and the default prior :math:`\alpha \in [1, 10]`,
:math:`\beta \in [1.5, 2.5]`, the expected number ranges over :math:`[0.67, 18.0]`
(:math:`\approx 1.1\,\alpha` at :math:`\beta = 1.9`). Masses are drawn by inverse CDF,
:math:`m = m_\mathrm{min} \exp\{\ln[1 + u (e^{(1 - \beta) L} - 1)] / (1 - \beta)\}`,
:math:`u \sim \mathcal U(0, 1)`; positions uniformly in area in the annulus
:math:`\max(\theta_E - w, 0) \le |\boldsymbol\theta| \le \theta_E + w`, :math:`w = 0.2''`.

Every subhalo is a point mass (:func:`point_mass_deflection`),
:math:`\boldsymbol\alpha_k = \theta_{E,k}^2 (\boldsymbol\theta - \boldsymbol\theta_k) /
|\boldsymbol\theta - \boldsymbol\theta_k|^2`, with Einstein radius
(:meth:`LensingSimulator.subhalo_einstein_radius`)

.. math::

    \theta_{E,k} = \sqrt{\frac{4 G m_k}{c^2} \frac{D_{ls}}{D_l D_s}}
        = k \sqrt{\frac{m_k}{10^{10} M_\odot}}, \qquad k = 0.295'',

for a lens at :math:`z_l = 0.2` and a source at :math:`z_s = 1` in flat
:math:`\Lambda`\ CDM with :math:`H_0 = 67.74` km/s/Mpc, :math:`\Omega_m = 0.3075` (Planck 2015):
:math:`D_l = 702.5`, :math:`D_s = 1699.5`, :math:`D_{ls} = 1278.0` Mpc. Subhalo masses span
:math:`\theta_{E,k} \in [0.03'', 0.3'']` by default.

**Source: elliptical Sérsic profile** (:meth:`LensingSimulator.source_brightness`), centred at
:math:`(\Delta x, \Delta y)` with axis ratio ``source_q`` :math:`q_s` and position angle
``source_angle`` :math:`\phi_s`: in its frame :math:`(x_s, y_s)`,

.. math::

    I(\boldsymbol\beta) = I_e \exp\!\left\{-b_n\left[\left(\frac{R}{r_e}\right)^{1/n}
        - 1\right]\right\}, \qquad R^2 = q_s x_s^2 + \frac{y_s^2}{q_s},

with :math:`b_n` the root of :math:`\gamma(2n, b_n) = \Gamma(2n)/2` (``scipy.special.gammaincinv``)
so that the ellipse :math:`R = r_e` (area :math:`\pi r_e^2`) holds half the light, and
:math:`I_e = F\, b_n^{2n} / (2\pi n\, r_e^2\, e^{b_n} \Gamma(2n))` so that the total flux is
:math:`F = 10^{-0.4 (m_s - m_\mathrm{zp})}` counts/s. Defaults, as in the paper's code: index
:math:`n = 1`, :math:`r_e = 0.4''`, magnitude :math:`m_s = 23` with zero point
:math:`m_\mathrm{zp} = 25.5` (:math:`F = 10` counts/s); here :math:`q_s = 0.8`,
:math:`\phi_s = 0`.

**Image.** Lensing conserves surface brightness, so the expected counts of a pixel are
:math:`\mu = t\, \Delta^2 [\langle I(\boldsymbol\beta(\boldsymbol\theta)) \rangle + I_\mathrm{sky}]`,
the average over ``supersample`` :math:`^2` sub-pixel points (default 1: the pixel centre), with
exposure :math:`t = 1610` s and sky :math:`I_\mathrm{sky} = 10^{-0.4 (m_\mathrm{sky} -
m_\mathrm{zp})}` counts/s/arcsec\ :sup:`2`, :math:`m_\mathrm{sky} = 22.5` (about 255 counts a
pixel). The observed image is :math:`x \sim \mathrm{Pois}(\mu)` per pixel, returned as float32
counts; there is no PSF. :meth:`LensingSimulator.normalise` turns counts into
:math:`(x - \mu_\mathrm{sky}) / \sqrt{\mu_\mathrm{sky}}`, the excess over the sky in units of its
noise: about :math:`\mathcal N(0, 1)` off the arcs and of order 10 on them.

**Priors** (:class:`LensingPrior`). The paper states none beyond :math:`q \in [0, 1]`; the local
ones follow its code: :math:`\theta_E \sim \mathcal U(1.5'', 2.5'')`,
:math:`\Delta x, \Delta y \sim \mathcal N(0, 0.2''^2)`, :math:`q \sim \mathcal U(0.5, 1)` (the
code stops at 0.99, which the series at :math:`q \to 1` makes unnecessary here). The code's
global parameters (a surface density and a slope in log mass) do not carry over to this mass
function, so :math:`\alpha \sim \mathcal U(1, 10)` and :math:`\beta \sim \mathcal U(1.5, 2.5)`
(around the CDM slope 1.9) are chosen to put the expected number in :math:`[0.67, 18]`. Exposure,
sky, pixels and source defaults are the code's too.

**Simplifications** with respect to the paper's code (which follows Brehmer et al.): subhalos are
point masses rather than NFW halos, so a subhalo of a given mass perturbs the arcs more; their
number comes from the mass function per image rather than from a surface density times the area
of the annulus; :math:`(\Delta x, \Delta y)` moves the source rather than the lens; no PSF.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TypeVar

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from nsbi.random import as_rng

__all__ = [
    "LensingPrior",
    "LensingSimulator",
    "Subhalos",
    "point_mass_deflection",
    "sie_deflection",
]

_Counts = TypeVar("_Counts")  # a numpy array or a torch tensor

# below this sqrt(1 - q^2) the SIE deflection uses its series in the ellipticity
_SIS_EPSILON = 1e-4
# squared radius (arcsec^2) below which a deflection is evaluated at this radius instead
_TINY_R2 = 1e-24
# ray-grid points per chunk of images (8 images of 64 x 64), to keep the working arrays in cache
_CHUNK_POINTS = 1 << 15


def _check_count(name: str, n: int) -> int:
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
        raise ValueError(f"{name}: expected a non-negative integer, got {n!r}")
    return int(n)


def _rotate(x, y, angle: float):
    """Coordinates ``(x, y)`` rotated by ``angle`` (radians, counter-clockwise)."""
    c, s = math.cos(angle), math.sin(angle)
    return c * x - s * y, s * x + c * y


# ---------------------------------------------------------------------- deflections


def sie_deflection(
    x: ArrayLike, y: ArrayLike, theta_E: ArrayLike, q: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    r"""The deflection of a singular isothermal ellipsoid centred at the origin, major axis along
    :math:`x`, with convergence :math:`\kappa = \theta_E \sqrt q / (2 \sqrt{q^2 x^2 + y^2})`.

    See the module docstring for the closed form, the :math:`q \to 1` series and the centre.

    Arguments:
        x, y: positions in arcsec, any shapes that broadcast with the others.
        theta_E: the Einstein radius in arcsec, :math:`> 0`.
        q: the axis ratio, :math:`0 < q \le 1` (1: the singular isothermal sphere).

    Returns:
        ``(alpha_x, alpha_y)`` in arcsec, of the broadcast shape.

    Example:
        >>> ax, ay = sie_deflection([3.0, 0.0], [4.0, -2.0], theta_E=1.5, q=1.0)  # SIS
        >>> np.round(ax, 12).tolist(), np.round(ay, 12).tolist()
        ([0.9, 0.0], [1.2, -1.5])
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    theta_E, q = np.asarray(theta_E, dtype=float), np.asarray(q, dtype=float)
    e2 = (1.0 - q) * (1.0 + q)  # 1 - q^2, with 1 - q exact near q = 1
    e = np.sqrt(e2)
    psi = np.sqrt(np.maximum(q * q * x * x + y * y, _TINY_R2))
    u, v = x / psi, y / psi  # |u| <= 1/q, |v| <= 1: the artanh argument e v stays below 1
    small = e < _SIS_EPSILON
    e_safe = np.where(small, 0.5, e) if np.any(small) else e
    fx = np.arctan(e_safe * u)
    fx /= e_safe
    # artanh(t) = ln((1 + t) / (1 - t)) / 2, three times faster than np.arctanh; its absolute
    # error, ~1e-16, is at most 1e-12 after the division by e >= 1e-4
    t = e_safe * v
    fy = np.log((1.0 + t) / (1.0 - t))
    fy /= 2.0 * e_safe
    if e_safe is not e:
        fx = np.where(small, u * (1.0 - e2 * u * u / 3.0), fx)
        fy = np.where(small, v * (1.0 + e2 * v * v / 3.0), fy)
    b = theta_E * np.sqrt(q)
    return b * fx, b * fy


def point_mass_deflection(
    x: ArrayLike, y: ArrayLike, theta_E: ArrayLike
) -> tuple[np.ndarray, np.ndarray]:
    r"""The deflection of a point mass at the origin,
    :math:`\boldsymbol\alpha = \theta_E^2 \boldsymbol\theta / |\boldsymbol\theta|^2`, of magnitude
    :math:`\theta_E^2 / r`; at :math:`r < 10^{-12}''` it is evaluated at :math:`r = 10^{-12}''`
    (finite, direction kept, zero at the origin itself).

    Arguments:
        x, y: positions relative to the mass, in arcsec.
        theta_E: the Einstein radius of the mass in arcsec
            (:meth:`LensingSimulator.subhalo_einstein_radius`).

    Returns:
        ``(alpha_x, alpha_y)`` in arcsec, of the broadcast shape.

    Example:
        >>> ax, ay = point_mass_deflection(0.0, 2.0, theta_E=0.3)
        >>> float(ax), round(float(ay), 12)  # theta_E^2 / r = 0.09 / 2
        (0.0, 0.045)
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    theta_E = np.asarray(theta_E, dtype=float)
    scale = theta_E * theta_E / np.maximum(x * x + y * y, _TINY_R2)
    return scale * x, scale * y


# ---------------------------------------------------------------------- prior and latents


@dataclass(frozen=True)
class LensingPrior:
    r"""The prior of the lensing model: uniform global parameters, and local parameters drawn
    independently per image.

    Arguments:
        alpha_range: bounds of :math:`\alpha \sim \mathcal U`, the dimensionless abundance of the
            mass function (module docstring).
        beta_range: bounds of :math:`\beta \sim \mathcal U`, the slope of the mass function.
        theta_E_range: bounds of :math:`\theta_E \sim \mathcal U`, in arcsec.
        offset_std: the standard deviation of :math:`\Delta x, \Delta y \sim \mathcal N(0,
            \sigma^2)`, the source offset from the lens, in arcsec.
        q_range: bounds of the lens axis ratio :math:`q \sim \mathcal U`, within ``(0, 1]``.

    Example:
        >>> prior = LensingPrior()
        >>> prior.sample_global(3, rng=0).shape, prior.sample_local(3, rng=0).shape
        ((3, 2), (3, 4))
    """

    alpha_range: tuple[float, float] = (1.0, 10.0)
    beta_range: tuple[float, float] = (1.5, 2.5)
    theta_E_range: tuple[float, float] = (1.5, 2.5)
    offset_std: float = 0.2
    q_range: tuple[float, float] = (0.5, 1.0)

    def __post_init__(self) -> None:
        for name in ("alpha_range", "beta_range", "theta_E_range", "q_range"):
            value = getattr(self, name)
            try:
                low, high = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name}: expected two numbers (low, high), got {value!r}"
                ) from None
            if not (np.isfinite(low) and np.isfinite(high) and low <= high):
                raise ValueError(f"{name}: expected finite bounds low <= high, got {value!r}")
            object.__setattr__(self, name, (low, high))
        if self.alpha_range[0] < 0:
            raise ValueError(f"alpha_range: alpha must be >= 0, got {self.alpha_range!r}")
        if self.theta_E_range[0] <= 0:
            raise ValueError(f"theta_E_range: theta_E must be > 0, got {self.theta_E_range!r}")
        if self.q_range[0] <= 0 or self.q_range[1] > 1:
            raise ValueError(f"q_range: q must lie in (0, 1], got {self.q_range!r}")
        if not (np.isfinite(self.offset_std) and self.offset_std >= 0):
            raise ValueError(f"offset_std: expected a non-negative number, got {self.offset_std!r}")

    def sample_global(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        r"""Draw :math:`(\alpha, \beta)`.

        Arguments:
            n: the number of draws.
            rng: a generator or an integer seed.

        Returns:
            shape ``(n, 2)``, columns ``(alpha, beta)``.
        """
        n, rng = _check_count("n", n), as_rng(rng)
        return np.stack(
            [rng.uniform(*self.alpha_range, n), rng.uniform(*self.beta_range, n)], axis=-1
        )

    def sample_local(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        r"""Draw :math:`(\theta_E, \Delta x, \Delta y, q)`, independently per image.

        Arguments:
            n: the number of draws.
            rng: a generator or an integer seed.

        Returns:
            shape ``(n, 4)``, columns ``(theta_E, dx, dy, q)``.
        """
        n, rng = _check_count("n", n), as_rng(rng)
        theta_E = rng.uniform(*self.theta_E_range, n)
        offset = self.offset_std * rng.standard_normal((n, 2))
        q = rng.uniform(*self.q_range, n)
        return np.column_stack([theta_E, offset, q])


@dataclass(frozen=True, eq=False)
class Subhalos:
    """The subhalos of a batch of images, zero-padded to the largest number ``K`` in the batch.

    Attributes:
        n: ``(B,)`` the number of subhalos of each image.
        mass: ``(B, K)`` masses in solar masses, 0 where padded.
        x, y: ``(B, K)`` positions in arcsec, 0 where padded.
    """

    n: np.ndarray
    mass: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """``(B, K)``, true for real subhalos."""
        return np.arange(self.mass.shape[1])[None, :] < self.n[:, None]

    @classmethod
    def none(cls, batch: int) -> Subhalos:
        """No subhalos in any of ``batch`` images."""
        empty = np.zeros((batch, 0))
        return cls(np.zeros(batch, dtype=np.int64), empty, empty, empty)


# ---------------------------------------------------------------------- simulator


@dataclass(frozen=True)
class LensingSimulator:
    r"""Lensed images of an elliptical Sérsic source behind an SIE lens with point-mass subhalos.

    See the module docstring for the model, the units and the default values. Parameters are
    ``(alpha, beta)`` (global, shared by a dataset) and ``(theta_E, dx, dy, q)`` (local, per
    image); :meth:`simulate` takes the six as the columns of one array.

    Arguments:
        prior: the prior of the parameters.
        n_pix: pixels along each side of the image.
        pixel_size: pixel side in arcsec.
        supersample: sub-pixel points per side whose brightness is averaged (1: pixel centres).
        lens_angle: position angle of the lens major axis, radians counter-clockwise from
            :math:`x`.
        m_min, m_max: the subhalo mass range in solar masses; ``m_min`` is also the pivot of the
            mass function.
        annulus_width: :math:`w`, subhalos lie within this distance of :math:`\theta_E`, arcsec.
        theta_E_sub_1e10: :math:`k`, the Einstein radius of a :math:`10^{10} M_\odot` point mass,
            arcsec.
        sersic_index, source_r_eff, source_q, source_angle, source_magnitude: the Sérsic source:
            index :math:`n`, half-light radius :math:`r_e` (arcsec), axis ratio, position angle
            (radians) and total magnitude.
        zero_point: the magnitude of 1 count/s.
        sky_magnitude: the sky brightness, magnitudes per arcsec\ :sup:`2`.
        exposure: the exposure time in s.
        n_max: the largest number of images in a dataset.

    Example:
        >>> sim = LensingSimulator()
        >>> params = sim.sample_prior(2, rng=0)  # columns (alpha, beta, theta_E, dx, dy, q)
        >>> images = sim.simulate(params, rng=1)
        >>> images.shape, images.dtype
        ((2, 64, 64), dtype('float32'))
        >>> images, local, mask = sim.simulate_datasets([[5.0, 1.9]], n_images=3, rng=2, pad_to=5)
        >>> images.shape, local.shape, mask.tolist()
        ((1, 5, 64, 64), (1, 5, 4), [[True, True, True, False, False]])
        >>> bool(np.all(images[0, 3:] == 0.0))
        True
        >>> round(float(sim.normalise(images[0, :3]).mean()), 1) > 0.0  # arcs above the sky
        True
    """

    prior: LensingPrior = field(default_factory=LensingPrior)
    n_pix: int = 64
    pixel_size: float = 0.1
    supersample: int = 1
    lens_angle: float = 0.0
    m_min: float = 1e8
    m_max: float = 1e10
    annulus_width: float = 0.2
    theta_E_sub_1e10: float = 0.295
    sersic_index: float = 1.0
    source_r_eff: float = 0.4
    source_q: float = 0.8
    source_angle: float = 0.0
    source_magnitude: float = 23.0
    zero_point: float = 25.5
    sky_magnitude: float = 22.5
    exposure: float = 1610.0
    n_max: int = 25

    def __post_init__(self) -> None:
        if not isinstance(self.prior, LensingPrior):
            raise TypeError(f"prior: expected a LensingPrior, got {self.prior!r}")
        for name in ("n_pix", "supersample", "n_max"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected a positive integer, got {value!r}")
        for name in (
            "pixel_size",
            "m_min",
            "m_max",
            "theta_E_sub_1e10",
            "sersic_index",
            "source_r_eff",
            "exposure",
        ):
            value = getattr(self, name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{name}: expected a positive number, got {value!r}")
        for name in (
            "lens_angle",
            "annulus_width",
            "source_angle",
            "source_magnitude",
            "zero_point",
            "sky_magnitude",
        ):
            if not np.isfinite(getattr(self, name)):
                raise ValueError(f"{name}: expected a finite number, got {getattr(self, name)!r}")
        if self.m_max <= self.m_min:
            raise ValueError(f"m_max: expected > m_min = {self.m_min}, got {self.m_max!r}")
        if self.annulus_width < 0:
            raise ValueError(f"annulus_width: expected >= 0, got {self.annulus_width!r}")
        if not 0 < self.source_q <= 1:
            raise ValueError(f"source_q: expected a value in (0, 1], got {self.source_q!r}")

    # ------------------------------------------------------------------ constants

    @property
    def field_of_view(self) -> float:
        """The side of the image in arcsec, ``n_pix * pixel_size``."""
        return self.n_pix * self.pixel_size

    @cached_property
    def pixel_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)``, each ``(n_pix, n_pix)``: the pixel centres in arcsec, ``x`` along columns
        and ``y`` along rows."""
        axis = (np.arange(self.n_pix) + 0.5 - self.n_pix / 2) * self.pixel_size
        return tuple(np.broadcast_to(a, (self.n_pix, self.n_pix)) for a in (axis, axis[:, None]))

    @cached_property
    def _ray_grid(self) -> tuple[np.ndarray, np.ndarray]:
        """The flattened sub-pixel points, row-major over ``(n_pix * s, n_pix * s)``."""
        s = self.supersample
        sub = (np.arange(self.n_pix * s) + 0.5) / s - self.n_pix / 2
        xx, yy = np.meshgrid(sub * self.pixel_size, sub * self.pixel_size)
        return xx.ravel(), yy.ravel()

    @cached_property
    def _sersic_constants(self) -> tuple[float, float]:
        """``(b_n, I_e)`` of the source."""
        n = self.sersic_index
        b = float(special.gammaincinv(2 * n, 0.5))
        flux = 10.0 ** (-0.4 * (self.source_magnitude - self.zero_point))
        log_norm = math.log(2 * math.pi * n * self.source_r_eff**2) + b + math.lgamma(2 * n)
        return b, flux * math.exp(2 * n * math.log(b) - log_norm)

    @property
    def sky_brightness(self) -> float:
        r""":math:`I_\mathrm{sky}`, counts/s/arcsec\ :sup:`2`."""
        return 10.0 ** (-0.4 * (self.sky_magnitude - self.zero_point))

    @property
    def sky_counts(self) -> float:
        r""":math:`\mu_\mathrm{sky} = t \Delta^2 I_\mathrm{sky}`, expected sky counts a pixel."""
        return self.exposure * self.pixel_size**2 * self.sky_brightness

    # ------------------------------------------------------------------ subhalo population

    def mean_subhalos(self, alpha: ArrayLike, beta: ArrayLike) -> np.ndarray:
        r""":math:`\mu_\mathrm{sub} = \alpha\, (e^{(1 - \beta) L} - 1) / (1 - \beta)`, the expected
        number of subhalos per image (:math:`\alpha L` at :math:`\beta = 1`).

        Example:
            >>> sim = LensingSimulator()
            >>> np.round(sim.mean_subhalos([1.0, 10.0], [2.5, 1.5]), 3).tolist()
            [0.666, 18.0]
        """
        alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)
        a, log_range = 1.0 - beta, math.log(self.m_max / self.m_min)
        a_safe = np.where(a == 0.0, 1.0, a)
        integral = np.where(a == 0.0, log_range, np.expm1(a_safe * log_range) / a_safe)
        return alpha * integral

    def subhalo_einstein_radius(self, mass: ArrayLike) -> np.ndarray:
        r""":math:`\theta_{E,\mathrm{sub}} = k \sqrt{m / 10^{10} M_\odot}` in arcsec.

        Example:
            >>> LensingSimulator().subhalo_einstein_radius([1e8, 1e10]).tolist()
            [0.0295, 0.295]
        """
        return self.theta_E_sub_1e10 * np.sqrt(np.asarray(mass, dtype=float) / 1e10)

    def sample_subhalos(
        self, global_params: ArrayLike, theta_E: ArrayLike, rng: np.random.Generator | int
    ) -> Subhalos:
        r"""Draw the subhalos of one image per row: the number, the masses by inverse CDF and the
        positions uniformly in the annulus around :math:`\theta_E`.

        Arguments:
            global_params: ``(B, 2)``, columns ``(alpha, beta)``.
            theta_E: ``(B,)``, the Einstein radius of each image.
            rng: a generator or an integer seed.

        Example:
            >>> sim = LensingSimulator()
            >>> subs = sim.sample_subhalos([[10.0, 1.5], [0.0, 2.0]], [2.0, 2.0], rng=0)
            >>> subs.mass.shape[0], int(subs.n[1])  # alpha = 0: no subhalos
            (2, 0)
        """
        global_params = np.asarray(global_params, dtype=float)
        theta_E = np.asarray(theta_E, dtype=float)
        if global_params.ndim != 2 or global_params.shape[1] != 2:
            raise ValueError(f"global_params: expected shape (B, 2), got {global_params.shape}")
        if theta_E.shape != global_params.shape[:1]:
            raise ValueError(
                f"theta_E: expected shape {global_params.shape[:1]}, got {theta_E.shape}"
            )
        rng = as_rng(rng)
        alpha, beta = global_params[:, 0], global_params[:, 1]
        n = rng.poisson(self.mean_subhalos(alpha, beta))
        batch, width = n.size, int(n.max()) if n.size else 0
        mask = np.arange(width)[None, :] < n[:, None]
        total = int(n.sum())
        # masses: inverse CDF in t = ln(m / m_min), per subhalo with its image's slope
        a = np.repeat(1.0 - beta, n)
        log_range = math.log(self.m_max / self.m_min)
        u = rng.random(total)
        a_safe = np.where(a == 0.0, 1.0, a)
        t = np.where(a == 0.0, u * log_range, np.log1p(u * np.expm1(a_safe * log_range)) / a_safe)
        masses = self.m_min * np.exp(np.clip(t, 0.0, log_range))
        # positions: uniform in area in the annulus
        r_out = np.repeat(theta_E, n) + self.annulus_width
        r_in = np.maximum(r_out - 2 * self.annulus_width, 0.0)
        radius = np.sqrt(r_in**2 + rng.random(total) * (r_out**2 - r_in**2))
        phi = 2 * math.pi * rng.random(total)
        out = [np.zeros((batch, width)) for _ in range(3)]
        for array, values in zip(
            out, (masses, radius * np.cos(phi), radius * np.sin(phi)), strict=True
        ):
            array[mask] = values
        return Subhalos(n, *out)

    # ------------------------------------------------------------------ images

    def source_brightness(self, x: ArrayLike, y: ArrayLike) -> np.ndarray:
        r"""The Sérsic surface brightness :math:`I`, counts/s/arcsec\ :sup:`2`, at source-plane
        positions relative to the source centre (arcsec)."""
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if self.source_angle:
            x, y = _rotate(x, y, -self.source_angle)
        qs = self.source_q
        z = np.asarray(qs * x * x)  # 0-d for scalars, so that the in-place steps work
        z += y * y / qs
        np.sqrt(z, out=z)
        z /= self.source_r_eff
        if self.sersic_index != 1.0:
            z **= 1.0 / self.sersic_index
        b, amplitude = self._sersic_constants
        z *= -b
        np.exp(z, out=z)
        z *= amplitude * math.exp(b)
        return z

    def _lensed_brightness(self, local: np.ndarray, subs: Subhalos) -> np.ndarray:
        """Source brightness at the traced ray grid, ``(C, G)`` for ``C`` images whose subhalo
        counts ``subs.n`` do not increase (so the images with a ``k``-th subhalo are a prefix)."""
        gx, gy = self._ray_grid
        theta_E, dx, dy, q = (local[:, i, None] for i in range(4))
        if self.lens_angle:
            lx, ly = _rotate(gx, gy, -self.lens_angle)
            ax, ay = _rotate(*sie_deflection(lx, ly, theta_E, q), self.lens_angle)
        else:
            ax, ay = sie_deflection(gx, gy, theta_E, q)
        if subs.mass.shape[1]:
            # point masses, in place: alpha = theta_sub^2 (theta - theta_k) / |theta - theta_k|^2
            theta_sub2 = self.subhalo_einstein_radius(subs.mass) ** 2
            rel_x, rel_y, r2 = (np.empty_like(ax) for _ in range(3))
            for k in range(subs.mass.shape[1]):
                m = int(np.count_nonzero(subs.n > k))
                if m == 0:
                    break
                X, Y, R = rel_x[:m], rel_y[:m], r2[:m]
                np.subtract(gx, subs.x[:m, k, None], out=X)
                np.subtract(gy, subs.y[:m, k, None], out=Y)
                np.multiply(X, X, out=R)
                R += Y * Y
                np.maximum(R, _TINY_R2, out=R)
                np.divide(theta_sub2[:m, k, None], R, out=R)
                X *= R
                Y *= R
                ax[:m] += X
                ay[:m] += Y
        # the lens equation, in place: beta - (dx, dy) = theta - alpha - (dx, dy)
        np.subtract(gx, ax, out=ax)
        ax -= dx
        np.subtract(gy, ay, out=ay)
        ay -= dy
        return self.source_brightness(ax, ay)

    def expected_counts(
        self, local_params: ArrayLike, subhalos: Subhalos | None = None
    ) -> np.ndarray:
        r"""The noise-free image :math:`\mu` (expected counts, float64) of each row.

        Arguments:
            local_params: ``(B, 4)``, columns ``(theta_E, dx, dy, q)``.
            subhalos: the subhalos of each image (:meth:`sample_subhalos`); default none.

        Returns:
            shape ``(B, n_pix, n_pix)``.
        """
        local = self._local(local_params)
        batch = local.shape[0]
        subhalos = Subhalos.none(batch) if subhalos is None else subhalos
        if subhalos.n.shape != (batch,):
            raise ValueError(f"subhalos: expected {batch} images, got {subhalos.n.shape[0]}")
        s, n_pix = self.supersample, self.n_pix
        chunk = max(1, _CHUNK_POINTS // (n_pix * s) ** 2)
        # most subhalos first, so that the images with a k-th subhalo are a prefix of each chunk
        order = np.argsort(-subhalos.n, kind="stable")
        brightness = np.empty((batch, n_pix, n_pix))
        for start in range(0, batch, chunk):
            rows = order[start : start + chunk]
            part = Subhalos(*(a[rows] for a in (subhalos.n, subhalos.mass, subhalos.x, subhalos.y)))
            values = self._lensed_brightness(local[rows], part)
            if s > 1:
                values = values.reshape(-1, n_pix, s, n_pix, s).mean(axis=(2, 4))
            brightness[rows] = values.reshape(-1, n_pix, n_pix)
        return self.exposure * self.pixel_size**2 * (brightness + self.sky_brightness)

    def _local(self, local_params: ArrayLike) -> np.ndarray:
        local = np.asarray(local_params, dtype=float)
        if local.ndim != 2 or local.shape[1] != 4:
            raise ValueError(
                f"local_params: expected shape (B, 4) = (theta_E, dx, dy, q), got {local.shape}"
            )
        if not np.all(np.isfinite(local)):
            raise ValueError("local_params: expected finite values")
        if np.any(local[:, 0] <= 0):
            raise ValueError(
                f"local_params: theta_E must be > 0, got {local[local[:, 0] <= 0, 0][0]}"
            )
        q = local[:, 3]
        if np.any((q <= 0) | (q > 1)):
            raise ValueError(f"local_params: q must lie in (0, 1], got {q[(q <= 0) | (q > 1)][0]}")
        return local

    def sample_prior(self, n: int, rng: np.random.Generator | int) -> np.ndarray:
        r"""Draw global and local parameters independently for each of ``n`` images.

        Returns:
            shape ``(n, 6)``, columns ``(alpha, beta, theta_E, dx, dy, q)``.

        Example:
            >>> LensingSimulator().sample_prior(4, rng=0).shape
            (4, 6)
        """
        rng = as_rng(rng)
        return np.concatenate(
            [self.prior.sample_global(n, rng), self.prior.sample_local(n, rng)], -1
        )

    def simulate(
        self,
        params: ArrayLike,
        rng: np.random.Generator | int,
        *,
        return_subhalos: bool = False,
    ) -> np.ndarray | tuple[np.ndarray, Subhalos]:
        r"""Simulate one image per row of ``params``: draw its subhalos, ray-trace, add the sky
        and draw Poisson counts.

        Arguments:
            params: ``(B, 6)``, columns ``(alpha, beta, theta_E, dx, dy, q)``.
            rng: a generator or an integer seed.
            return_subhalos: also return the drawn :class:`Subhalos`.

        Returns:
            the counts, float32 of shape ``(B, n_pix, n_pix)`` (and the subhalos).
        """
        params = np.asarray(params, dtype=float)
        if params.ndim != 2 or params.shape[1] != 6:
            raise ValueError(
                "params: expected shape (B, 6) = (alpha, beta, theta_E, dx, dy, q), "
                f"got {params.shape}"
            )
        if not np.all(np.isfinite(params[:, :2])) or np.any(params[:, 0] < 0):
            raise ValueError("params: alpha and beta must be finite, alpha >= 0")
        local = self._local(params[:, 2:])
        rng = as_rng(rng)
        subhalos = self.sample_subhalos(params[:, :2], local[:, 0], rng)
        counts = rng.poisson(self.expected_counts(local, subhalos)).astype(np.float32)
        return (counts, subhalos) if return_subhalos else counts

    def simulate_datasets(
        self,
        global_params: ArrayLike,
        n_images: int | ArrayLike,
        rng: np.random.Generator | int,
        pad_to: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Simulate one dataset of images per row of ``global_params``, each image with local
        parameters drawn from the prior and its own subhalos, zero-padded to a common length.

        Arguments:
            global_params: ``(B, 2)``, columns ``(alpha, beta)``.
            n_images: the number of images per dataset, one integer or ``B``, each in
                ``[0, n_max]``.
            rng: a generator or an integer seed.
            pad_to: the padded length ``L``; default the largest dataset.

        Returns:
            ``(images, local_params, mask)``: float32 counts ``(B, L, n_pix, n_pix)``, the local
            parameters ``(B, L, 4)`` (columns ``(theta_E, dx, dy, q)``), both zero where padded,
            and a boolean mask ``(B, L)``, true for the first ``n_images[b]`` images of dataset
            ``b``.
        """
        global_params = np.asarray(global_params, dtype=float)
        if global_params.ndim != 2 or global_params.shape[1] != 2:
            raise ValueError(
                f"global_params: expected shape (B, 2) = (alpha, beta), got {global_params.shape}"
            )
        batch = global_params.shape[0]
        n = np.asarray(n_images)
        n = np.full(batch, n) if n.ndim == 0 else n
        if n.shape != (batch,) or (n.size and not np.all(np.equal(np.mod(n, 1), 0))):
            raise ValueError(
                f"n_images: expected an integer or {batch} integers, got {np.asarray(n_images)!r}"
            )
        n = n.astype(np.int64)
        if n.size and (n.min() < 0 or n.max() > self.n_max):
            raise ValueError(f"n_images: every dataset size must lie in [0, n_max={self.n_max}]")
        longest = int(n.max()) if batch else 0
        length = longest if pad_to is None else pad_to
        if not isinstance(length, (int, np.integer)) or length < longest:
            raise ValueError(f"pad_to: expected an integer >= {longest}, got {pad_to!r}")
        rng = as_rng(rng)
        local = self.prior.sample_local(batch * int(length), rng).reshape(batch, int(length), 4)
        mask = np.arange(length)[None, :] < n[:, None]
        params = np.concatenate(
            [np.broadcast_to(global_params[:, None, :], (batch, int(length), 2)), local], -1
        )
        images = np.zeros((batch, int(length), self.n_pix, self.n_pix), dtype=np.float32)
        images[mask] = self.simulate(params[mask], rng)
        local[~mask] = 0.0
        return images, local, mask

    def normalise(self, counts: _Counts) -> _Counts:
        r""":math:`(x - \mu_\mathrm{sky}) / \sqrt{\mu_\mathrm{sky}}`, counts in units of the sky
        noise above the sky, for a network; works for numpy arrays and torch tensors alike (the
        dtype follows the input)."""
        return (counts - self.sky_counts) * (1.0 / math.sqrt(self.sky_counts))
