"""The strong-lensing simulator against analytic truth: the SIE convergence and potential by finite
differences, the point-mass deflection and Einstein radius from physical constants, the Einstein
ring, and the subhalo population against scipy.stats and scipy.integrate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import constants, integrate, stats

from nsbi.simulators import LensingSimulator
from nsbi.simulators.lensing import (
    LensingPrior,
    Subhalos,
    point_mass_deflection,
    sie_deflection,
)

SIM = LensingSimulator()


def sie_convergence(x, y, theta_E, q):
    """The SIE convergence of the module's convention, written out independently."""
    return theta_E * np.sqrt(q) / (2.0 * np.sqrt(q**2 * x**2 + y**2))


def random_points(rng, n=200, r_min=0.3, r_max=3.0):
    r = rng.uniform(r_min, r_max, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    return r * np.cos(phi), r * np.sin(phi)


# ---------------------------------------------------------------------- SIE


@pytest.mark.parametrize("q", [0.2, 0.5, 0.8, 0.999, 1.0 - 1e-9, 1.0])
def test_sie_divergence_is_twice_the_convergence(q):
    x, y = random_points(np.random.default_rng(1))
    theta_E, h = 1.7, 1e-5
    dax_dx = (sie_deflection(x + h, y, theta_E, q)[0] - sie_deflection(x - h, y, theta_E, q)[0]) / (
        2 * h
    )
    day_dy = (sie_deflection(x, y + h, theta_E, q)[1] - sie_deflection(x, y - h, theta_E, q)[1]) / (
        2 * h
    )
    np.testing.assert_allclose(
        0.5 * (dax_dx + day_dy), sie_convergence(x, y, theta_E, q), rtol=1e-6
    )


@pytest.mark.parametrize("q", [0.2, 0.6, 0.999, 1.0])
def test_sie_deflection_is_the_gradient_of_its_potential(q):
    """The SIE potential is homogeneous of degree one, so psi = x . alpha (Euler); its finite-
    difference gradient must give alpha back (alpha is curl-free). With the divergence test this
    fixes alpha up to a constant, which the odd symmetry of the lens removes."""
    x, y = random_points(np.random.default_rng(2))
    theta_E, h = 2.1, 1e-5

    def psi(x, y):
        ax, ay = sie_deflection(x, y, theta_E, q)
        return x * ax + y * ay

    ax, ay = sie_deflection(x, y, theta_E, q)
    np.testing.assert_allclose((psi(x + h, y) - psi(x - h, y)) / (2 * h), ax, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose((psi(x, y + h) - psi(x, y - h)) / (2 * h), ay, rtol=1e-7, atol=1e-9)
    # odd in x and in y
    np.testing.assert_allclose(sie_deflection(-x, y, theta_E, q)[0], -ax, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(sie_deflection(x, -y, theta_E, q)[1], -ay, rtol=1e-12, atol=1e-13)


def test_sis_limit():
    x, y = random_points(np.random.default_rng(3), r_min=0.01)
    for q in (1.0, 1.0 - 1e-12, 1.0 - 1e-9):
        ax, ay = sie_deflection(x, y, 1.3, q)
        np.testing.assert_allclose(np.hypot(ax, ay), 1.3, rtol=1e-8)
        np.testing.assert_allclose(ax * y - ay * x, 0.0, atol=1e-8)  # radial
    # the series (e < 1e-4) and the closed form agree across the switch
    e_below, e_above = 0.999e-4, 1.001e-4
    below = sie_deflection(x, y, 1.3, math.sqrt(1 - e_below**2))
    above = sie_deflection(x, y, 1.3, math.sqrt(1 - e_above**2))
    np.testing.assert_allclose(below, above, atol=1e-10)
    # finite at the centre, and for broadcast arrays of q including 1
    ax, ay = sie_deflection(0.0, 0.0, 1.3, np.array([0.2, 1.0]))
    assert np.all(np.isfinite(ax)) and np.all(np.isfinite(ay))


def test_lens_angle_rotates_the_image():
    """A lens rotated by 90 degrees and a round source at its centre: the image rotates with it,
    (x, y) -> (-y, x), so image_rot[i, j] = image[n - 1 - j, i] on the centred grid."""
    local = np.array([[1.8, 0.0, 0.0, 0.5]])
    flat = LensingSimulator(source_q=1.0).expected_counts(local)[0]
    rotated = LensingSimulator(source_q=1.0, lens_angle=np.pi / 2).expected_counts(local)[0]
    np.testing.assert_allclose(rotated, flat[::-1].T, rtol=1e-9)
    assert not np.allclose(flat, flat[::-1].T, rtol=1e-3)  # the lens is not round


# ---------------------------------------------------------------------- subhalo deflection


def test_point_mass_deflection():
    x, y = random_points(np.random.default_rng(4), r_min=0.01)
    theta_sub = np.random.default_rng(5).uniform(0.01, 0.3, x.size)
    ax, ay = point_mass_deflection(x, y, theta_sub)
    r = np.hypot(x, y)
    np.testing.assert_allclose(np.hypot(ax, ay), theta_sub**2 / r, rtol=1e-12)
    np.testing.assert_allclose(ax * x + ay * y, theta_sub**2, rtol=1e-12)  # along +r
    assert np.all(np.isfinite(point_mass_deflection(0.0, 0.0, 0.3)))


def test_subhalo_einstein_radius_from_physical_constants():
    """theta_E = sqrt(4 G m D_ls / (c^2 D_l D_s)) for z_l = 0.2, z_s = 1 in flat LCDM
    (H0 = 67.74, Omega_m = 0.3075), distances by quadrature."""
    h0, omega_m = 67.74, 0.3075
    hubble_distance = constants.c / 1e3 / h0  # Mpc

    def comoving(z):
        integrand = lambda t: 1.0 / math.sqrt(omega_m * (1 + t) ** 3 + 1 - omega_m)  # noqa: E731
        return hubble_distance * integrate.quad(integrand, 0.0, z)[0]

    d_l, d_s = comoving(0.2) / 1.2, comoving(1.0) / 2.0
    d_ls = (comoving(1.0) - comoving(0.2)) / 2.0
    m_sun, mpc = 1.98840987e30, constants.parsec * 1e6
    masses = np.array([1e8, 1e9, 1e10])
    theta = np.sqrt(4 * constants.G * masses * m_sun / constants.c**2 * d_ls / (d_l * d_s) / mpc)
    theta_arcsec = np.degrees(theta) * 3600
    np.testing.assert_allclose(SIM.subhalo_einstein_radius(masses), theta_arcsec, rtol=2e-3)


# ---------------------------------------------------------------------- image


@pytest.mark.parametrize("theta_E", [1.5, 2.0, 2.5])
def test_einstein_ring(theta_E):
    """An SIS and a round source right behind it: the brightest pixels lie on the ring."""
    sim = LensingSimulator(source_q=1.0)
    mu = sim.expected_counts([[theta_E, 0.0, 0.0, 1.0]])[0]
    x, y = sim.pixel_centres
    radius = np.hypot(x, y)
    brightest = np.argsort(mu.ravel())[-40:]
    assert np.all(np.abs(radius.ravel()[brightest] - theta_E) < sim.pixel_size)
    # the noisy image too: the excess over the sky peaks in the annulus around theta_E
    counts = sim.simulate([[0.0, 2.0, theta_E, 0.0, 0.0, 1.0]], rng=6)[0]
    excess = sim.normalise(counts)
    edges = np.arange(0.0, 3.2, 0.1)
    which = np.digitize(radius.ravel(), edges)
    profile = [excess.ravel()[which == i].mean() for i in range(1, len(edges))]
    assert abs(edges[int(np.argmax(profile))] + 0.05 - theta_E) <= 0.1


def test_source_flux_and_half_light_radius():
    """Integrated over a fine grid, the Sersic source has the flux of its magnitude, half of it
    inside the ellipse R = r_e."""
    sim = LensingSimulator(source_q=0.6, source_angle=0.4, sersic_index=1.5)
    step = 0.01
    axis = np.arange(-8.0, 8.0, step) + step / 2
    x, y = np.meshgrid(axis, axis)
    brightness = sim.source_brightness(x, y)
    flux = brightness.sum() * step**2
    assert flux == pytest.approx(10 ** (-0.4 * (23.0 - 25.5)), rel=2e-3)
    xs, ys = np.cos(0.4) * x + np.sin(0.4) * y, -np.sin(0.4) * x + np.cos(0.4) * y
    inside = 0.6 * xs**2 + ys**2 / 0.6 < sim.source_r_eff**2
    assert brightness[inside].sum() * step**2 / flux == pytest.approx(0.5, abs=5e-3)


@pytest.mark.parametrize("supersample", [1, 2])
def test_expected_counts_match_a_direct_ray_trace(supersample):
    """The batched, chunked, in-place ray tracing against the public deflections, image by
    image, on independently built sub-pixel points."""
    sim = LensingSimulator(supersample=supersample, lens_angle=0.3, source_angle=-0.5)
    rng = np.random.default_rng(7)
    params = sim.sample_prior(11, rng)
    params[:, 0] = rng.uniform(0.0, 20.0, 11)  # a spread of subhalo numbers
    params[[1, 6], 0] = 0.0  # and two images without
    subs = sim.sample_subhalos(params[:, :2], params[:, 2], rng)
    assert subs.n.min() == 0 and subs.n.max() > 5
    mu = sim.expected_counts(params[:, 2:], subs)

    n, s, size = sim.n_pix, supersample, sim.pixel_size
    offsets = ((np.arange(s) + 0.5) / s - 0.5) * size
    centres = (np.arange(n) + 0.5 - n / 2) * size
    fine = (centres[:, None] + offsets[None, :]).ravel()  # (n * s,), pixel-major
    gx, gy = np.meshgrid(fine, fine)
    c, si = np.cos(0.3), np.sin(0.3)
    for b in range(len(params)):
        theta_E, dx, dy, q = params[b, 2:]
        lx, ly = c * gx + si * gy, -si * gx + c * gy
        ax_l, ay_l = sie_deflection(lx, ly, theta_E, q)
        ax, ay = c * ax_l - si * ay_l, si * ax_l + c * ay_l
        for k in range(subs.n[b]):
            theta_sub = sim.subhalo_einstein_radius(subs.mass[b, k])
            sx, sy = point_mass_deflection(gx - subs.x[b, k], gy - subs.y[b, k], theta_sub)
            ax, ay = ax + sx, ay + sy
        brightness = sim.source_brightness(gx - ax - dx, gy - ay - dy)
        brightness = brightness.reshape(n, s, n, s).mean(axis=(1, 3))
        expected = sim.exposure * size**2 * (brightness + sim.sky_brightness)
        np.testing.assert_allclose(mu[b], expected, rtol=1e-10)


def test_normalise_sky_only():
    sim = LensingSimulator(source_magnitude=80.0)  # no source light: sky only
    assert sim.sky_counts == pytest.approx(1610.0 * 0.01 * 10 ** (-0.4 * (22.5 - 25.5)))
    counts = sim.simulate(sim.sample_prior(8, rng=0), rng=1)
    z = sim.normalise(counts)
    assert z.dtype == np.float32
    assert abs(float(z.mean())) < 0.02 and abs(float(z.std()) - 1.0) < 0.02
    as_tensor = sim.normalise(torch.from_numpy(counts))
    assert as_tensor.dtype == torch.float32
    np.testing.assert_allclose(as_tensor.numpy(), z, rtol=1e-6)


# ---------------------------------------------------------------------- subhalo population


@pytest.mark.parametrize("alpha, beta", [(6.0, 1.9), (2.0, 1.0), (9.0, 2.5), (1.0, 1.5)])
def test_mean_subhalos_is_the_integral_of_the_mass_function(alpha, beta):
    pivot = SIM.m_min

    def dn_dm(m):
        return alpha / pivot * (m / pivot) ** -beta

    # integrate in log mass for accuracy over two decades
    expected = integrate.quad(lambda t: dn_dm(math.exp(t)) * math.exp(t), *np.log([1e8, 1e10]))[0]
    assert float(SIM.mean_subhalos(alpha, beta)) == pytest.approx(expected, rel=1e-10)


def test_prior_range_of_the_mean_number():
    low = SIM.mean_subhalos(SIM.prior.alpha_range[0], SIM.prior.beta_range[1])
    high = SIM.mean_subhalos(SIM.prior.alpha_range[1], SIM.prior.beta_range[0])
    assert 0.5 < low < 1.0 and 15.0 < high < 20.0


@pytest.mark.parametrize("alpha, beta", [(6.0, 1.9), (3.0, 1.0)])
def test_subhalo_counts_masses_and_positions(alpha, beta):
    draws = 20000
    theta_E = np.full(draws, 2.0)
    subs = SIM.sample_subhalos(np.tile([alpha, beta], (draws, 1)), theta_E, rng=8)
    mu = float(SIM.mean_subhalos(alpha, beta))
    # Poisson: mean and variance both mu (the sample variance has sd ~ sqrt((mu + 2 mu^2) / N))
    assert abs(subs.n.mean() - mu) < 4 * math.sqrt(mu / draws)
    assert abs(subs.n.var(ddof=1) - mu) < 4 * math.sqrt((mu + 2 * mu**2) / draws)
    # the whole count distribution
    counts = np.bincount(subs.n, minlength=subs.n.max() + 1)
    top = int(stats.poisson.ppf(0.999, mu))
    observed = np.append(counts[:top], counts[top:].sum())
    pmf = stats.poisson.pmf(np.arange(top), mu)
    expected = draws * np.append(pmf, 1 - pmf.sum())
    assert stats.chisquare(observed, expected).pvalue > 1e-3

    masses = subs.mass[subs.mask]
    assert masses.min() >= SIM.m_min and masses.max() <= SIM.m_max
    ratio = SIM.m_max / SIM.m_min
    if beta == 1.0:
        reference = stats.loguniform(SIM.m_min, SIM.m_max)
    else:  # pdf ~ m^-beta on [m_min, m_max]
        reference = stats.truncpareto(beta - 1.0, ratio, scale=SIM.m_min)
    assert stats.kstest(masses, reference.cdf).pvalue > 1e-3
    assert np.all(subs.mass[~subs.mask] == 0.0)

    # positions: uniform in area in the annulus 2.0 +- 0.2
    r2 = subs.x[subs.mask] ** 2 + subs.y[subs.mask] ** 2
    assert stats.kstest(r2, stats.uniform(1.8**2, 2.2**2 - 1.8**2).cdf).pvalue > 1e-3
    phi = np.arctan2(subs.y[subs.mask], subs.x[subs.mask])
    assert stats.kstest(phi, stats.uniform(-np.pi, 2 * np.pi).cdf).pvalue > 1e-3


# ---------------------------------------------------------------------- interface


def test_prior_samples():
    prior = LensingPrior()
    glob, local = prior.sample_global(5000, rng=0), prior.sample_local(5000, rng=1)
    assert glob.shape == (5000, 2) and local.shape == (5000, 4)
    for column, (low, high) in zip(glob.T, (prior.alpha_range, prior.beta_range), strict=True):
        assert low <= column.min() and column.max() <= high
    assert 1.5 <= local[:, 0].min() and local[:, 0].max() <= 2.5
    assert 0.5 <= local[:, 3].min() and local[:, 3].max() <= 1.0
    assert abs(local[:, 1:3].std() - 0.2) < 0.01
    np.testing.assert_array_equal(prior.sample_local(3, rng=4), prior.sample_local(3, rng=4))
    with pytest.raises(ValueError, match="q_range"):
        LensingPrior(q_range=(0.0, 1.0))


def test_reproducible_shapes_and_dtypes():
    params = SIM.sample_prior(4, rng=0)
    images = SIM.simulate(params, rng=1)
    assert images.shape == (4, 64, 64) and images.dtype == np.float32
    assert np.all(images >= 0) and np.all(images == np.round(images))
    np.testing.assert_array_equal(images, SIM.simulate(params, rng=np.random.default_rng(1)))
    assert not np.array_equal(images, SIM.simulate(params, rng=2))
    counts, subs = SIM.simulate(params, rng=1, return_subhalos=True)
    np.testing.assert_array_equal(counts, images)
    assert isinstance(subs, Subhalos) and subs.n.shape == (4,)


@pytest.mark.parametrize("q", [1.0, 1.0 - 1e-10, 0.2])
def test_no_nans_at_extreme_axis_ratios(q):
    params = np.array([[10.0, 1.5, 2.0, 0.0, 0.0, q], [10.0, 1.5, 1.6, 0.3, -0.2, q]])
    images = SIM.simulate(params, rng=3)
    assert np.all(np.isfinite(images))
    mu = SIM.expected_counts(params[:, 2:])
    assert np.all(np.isfinite(mu)) and np.all(mu >= SIM.sky_counts)


def test_simulate_datasets():
    glob = np.array([[2.0, 1.9], [8.0, 2.2], [5.0, 1.6]])
    images, local, mask = SIM.simulate_datasets(glob, n_images=[3, 0, 25], rng=9)
    assert images.shape == (3, 25, 64, 64) and images.dtype == np.float32
    assert local.shape == (3, 25, 4) and mask.shape == (3, 25) and mask.dtype == bool
    assert mask.sum(axis=1).tolist() == [3, 0, 25]
    assert np.all(images[~mask] == 0.0) and np.all(local[~mask] == 0.0)
    assert np.all(images[mask].reshape(28, -1).min(axis=1) > 0.0)
    assert np.all((local[mask][:, 0] >= 1.5) & (local[mask][:, 3] > 0.0))
    again = SIM.simulate_datasets(glob, n_images=[3, 0, 25], rng=9)
    np.testing.assert_array_equal(again[0], images)
    padded = SIM.simulate_datasets(glob[:1], n_images=2, rng=0, pad_to=4)
    assert padded[0].shape == (1, 4, 64, 64) and padded[2].tolist() == [[True, True, False, False]]
    with pytest.raises(ValueError, match="n_max"):
        SIM.simulate_datasets(glob[:1], n_images=26, rng=0)
    with pytest.raises(ValueError, match="pad_to"):
        SIM.simulate_datasets(glob[:1], n_images=3, rng=0, pad_to=2)


def test_invalid_parameters():
    with pytest.raises(ValueError, match="q must lie"):
        SIM.simulate([[1.0, 2.0, 2.0, 0.0, 0.0, 1.2]], rng=0)
    with pytest.raises(ValueError, match="theta_E"):
        SIM.expected_counts([[0.0, 0.0, 0.0, 0.5]])
    with pytest.raises(ValueError, match=r"\(B, 6\)"):
        SIM.simulate([[1.0, 2.0, 2.0]], rng=0)
    with pytest.raises(TypeError, match="rng"):
        SIM.simulate(SIM.sample_prior(1, rng=0), rng=1.5)
    with pytest.raises(ValueError, match="m_max"):
        LensingSimulator(m_min=1e10, m_max=1e8)
