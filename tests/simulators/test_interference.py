"""The interference toy against analytic truth: scipy.stats densities, quadrature, and the
closed form of the interference term as a (negatively weighted) Gaussian."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from nsbi.simulators import InterferenceToy, bhattacharyya_coefficient

CORRELATED_2D = dict(
    signal_mean=[0.8, -0.3],
    signal_cov=[[0.30, 0.12], [0.12, 0.40]],
    background_mean=[-0.2, 0.4],
    background_cov=[[1.5, -0.4], [-0.4, 1.1]],
    nu_signal=40.0,
    nu_background=700.0,
    interference=0.8,
)


def correlated_4d() -> dict:
    a = np.array([[1.0, 0.3, 0.0, 0.1], [0.0, 1.0, -0.2, 0.0], [0.0, 0.0, 1.0, 0.3], [0, 0, 0, 1]])
    return dict(
        d=4,
        signal_cov=0.3 * a @ a.T,
        background_cov=np.diag([1.4, 1.0, 1.2, 1.6]) + 0.2,
    )


def interference_gaussian(toy: InterferenceToy) -> tuple[np.ndarray, np.ndarray]:
    r"""Mean and covariance of :math:`\sqrt{p_S p_B} / \mathrm{BC}`, a Gaussian with precision
    :math:`(\Sigma_S^{-1} + \Sigma_B^{-1}) / 2`."""
    ps, pb = np.linalg.inv(toy.signal_cov), np.linalg.inv(toy.background_cov)
    cov = 2.0 * np.linalg.inv(ps + pb)
    mean = 0.5 * cov @ (ps @ toy.signal_mean + pb @ toy.background_mean)
    return mean, cov


def signed_mixture(toy: InterferenceToy, mu: float) -> list[tuple[float, np.ndarray, np.ndarray]]:
    r"""The intensity :math:`\mu S + \sqrt\mu I + B` as three weighted Gaussians (weight, mean,
    cov), the interference weight :math:`-2c\sqrt{\nu_S\nu_B}\,\mathrm{BC}` being negative."""
    nu_i = -2.0 * toy.interference * np.sqrt(toy.nu_signal * toy.nu_background)
    nu_i *= toy.bhattacharyya
    mean_i, cov_i = interference_gaussian(toy)
    return [
        (mu * toy.nu_signal, toy.signal_mean, toy.signal_cov),
        (np.sqrt(mu) * nu_i, mean_i, cov_i),
        (toy.nu_background, toy.background_mean, toy.background_cov),
    ]


def mixture_intensity(toy: InterferenceToy, x: np.ndarray, mu: float) -> np.ndarray:
    return sum(w * stats.multivariate_normal(m, c).pdf(x) for w, m, c in signed_mixture(toy, mu))


def grid_2d(half_width: float = 10.0, step: float = 0.05) -> tuple[np.ndarray, float]:
    """Points of a square grid and the area of a cell: for smooth Gaussian-tailed integrands the
    plain sum is the trapezoid rule, exact to far below the tolerances used here."""
    axis = np.arange(-half_width, half_width + step / 2, step)
    xx, yy = np.meshgrid(axis, axis, indexing="ij")
    return np.column_stack([xx.ravel(), yy.ravel()]), step**2


@pytest.fixture(scope="module")
def grid():
    return grid_2d()


# ---------------------------------------------------------------- densities


@pytest.mark.parametrize("kwargs", [{}, {"d": 3}, CORRELATED_2D, correlated_4d()])
def test_gaussian_densities_match_scipy(kwargs):
    toy = InterferenceToy(**kwargs)
    x = np.random.default_rng(0).normal(0.0, 2.0, size=(50, toy.d))
    for name, mean, cov in [
        ("S", toy.signal_mean, toy.signal_cov),
        ("B", toy.background_mean, toy.background_cov),
    ]:
        expected = stats.multivariate_normal(mean, cov).logpdf(x)
        np.testing.assert_allclose(toy.log_density(name, x), expected, rtol=1e-12)


@pytest.mark.parametrize("kwargs", [{}, CORRELATED_2D, correlated_4d()])
@pytest.mark.parametrize("mu", [0.0, 0.3, 1.0, 2.5, 12.0])
def test_intensity_is_the_workspace_mixture(kwargs, mu):
    toy = InterferenceToy(**kwargs)
    x = np.random.default_rng(1).normal(0.0, 1.5, size=(40, toy.d))
    intensity = np.exp(toy.log_intensity(x, mu))
    # the ATLAS combination of the three samples
    coefficients = toy.coefficient_values(mu)
    yields = toy.yields()
    combination = sum(
        coefficients[j] * yields[j] * np.exp(toy.log_density(j, x)) for j in toy.processes
    )
    np.testing.assert_allclose(intensity, combination, rtol=1e-9)
    # mu S + sqrt(mu) I + B with I = -2 c sqrt(S B), in linear space
    s = toy.nu_signal * np.exp(toy.log_density("S", x))
    b = toy.nu_background * np.exp(toy.log_density("B", x))
    direct = mu * s - 2.0 * toy.interference * np.sqrt(mu * s * b) + b
    np.testing.assert_allclose(intensity, direct, rtol=1e-10)
    # the interference term is a negatively weighted Gaussian
    np.testing.assert_allclose(intensity, mixture_intensity(toy, x, mu), rtol=1e-9)
    np.testing.assert_allclose(
        toy.log_density_mu(x, mu), np.log(intensity / toy.total_yield(mu)), rtol=1e-12
    )


@pytest.mark.parametrize("kwargs", [{}, CORRELATED_2D])
def test_densities_integrate_to_one_2d(kwargs, grid):
    toy = InterferenceToy(**kwargs)
    points, area = grid
    for process in toy.processes:
        total = np.exp(toy.log_density(process, points)).sum() * area
        assert total == pytest.approx(1.0, abs=1e-9), process
    for mu in [0.0, 0.4, 1.5, 6.0]:
        total = np.exp(toy.log_density_mu(points, mu)).sum() * area
        assert total == pytest.approx(1.0, abs=1e-9), mu
        # nu(mu) is the integral of the intensity
        integral = np.exp(toy.log_intensity(points, mu)).sum() * area
        assert toy.total_yield(mu) == pytest.approx(integral, rel=1e-9), mu


@pytest.mark.parametrize("kwargs", [{"d": 3}, {"d": 4}, correlated_4d()])
def test_densities_integrate_to_one_mc(kwargs):
    """Importance sampling from q = (N_S + N_B) / 2 drawn by scipy; every p / q is bounded."""
    toy = InterferenceToy(**kwargs)
    n = 100_000
    gaussians = [
        stats.multivariate_normal(toy.signal_mean, toy.signal_cov),
        stats.multivariate_normal(toy.background_mean, toy.background_cov),
    ]
    x = np.concatenate([g.rvs(n // 2, random_state=seed) for seed, g in enumerate(gaussians)])
    log_q = np.logaddexp(gaussians[0].logpdf(x), gaussians[1].logpdf(x)) - np.log(2.0)

    def check(log_p, expected):
        w = np.exp(log_p - log_q)
        estimate, error = w.mean(), w.std() / np.sqrt(n)
        assert error < 0.01 * expected
        assert abs(estimate - expected) < 5 * error

    for process in toy.processes:
        check(toy.log_density(process, x), 1.0)
    for mu in [0.5, 3.0]:
        check(toy.log_density_mu(x, mu), 1.0)
        check(toy.log_intensity(x, mu), toy.total_yield(mu))
    check(0.5 * (gaussians[0].logpdf(x) + gaussians[1].logpdf(x)), toy.bhattacharyya)


def test_bhattacharyya_closed_form(grid):
    points, area = grid
    for kwargs in [{}, CORRELATED_2D]:
        toy = InterferenceToy(**kwargs)
        numeric = np.exp(0.5 * (toy.log_density("S", points) + toy.log_density("B", points))).sum()
        assert toy.bhattacharyya == pytest.approx(numeric * area, rel=1e-9)
    # one dimension: BC = exp(-(m1 - m2)^2 / (4 (s1^2 + s2^2))) sqrt(2 s1 s2 / (s1^2 + s2^2))
    s1, s2, dm = 0.7, 1.9, 1.3
    expected = np.exp(-(dm**2) / (4 * (s1**2 + s2**2))) * np.sqrt(2 * s1 * s2 / (s1**2 + s2**2))
    assert bhattacharyya_coefficient([dm], [[s1**2]], [0.0], [[s2**2]]) == pytest.approx(expected)
    assert bhattacharyya_coefficient(np.ones(3), np.eye(3), np.ones(3), np.eye(3)) == 1.0


def test_yields():
    toy = InterferenceToy()
    nu = toy.yields()
    bc = toy.bhattacharyya
    assert nu["SBI"] == pytest.approx(60.0 + 1000.0 - 2 * 0.6 * np.sqrt(60.0 * 1000.0) * bc)
    mu = np.array([0.0, 0.25, 1.0, 4.0])
    expected = mu * nu["S"] + np.sqrt(mu) * (nu["SBI"] - nu["S"] - nu["B"]) + nu["B"]
    np.testing.assert_allclose(toy.total_yield(mu), expected)
    assert toy.total_yield(1.0) == pytest.approx(nu["SBI"])
    assert toy.total_yield(0.0) == nu["B"]


def test_intensity_is_positive_for_mu_up_to_20():
    for toy in [InterferenceToy(), InterferenceToy(interference=0.99), InterferenceToy(d=4)]:
        rng = np.random.default_rng(2)
        x = np.concatenate(
            [
                rng.uniform(-15, 15, size=(2000, toy.d)),
                toy.sample("S", 500, rng),
                40 * np.eye(toy.d),
            ]
        )
        log_s = np.log(toy.nu_signal) + toy.log_density("S", x)
        log_b = np.log(toy.nu_background) + toy.log_density("B", x)
        s, b = np.exp(log_s), np.exp(log_b)
        c = toy.interference
        for mu in np.linspace(0.0, 20.0, 101):
            log_f = toy.log_intensity(x, mu)
            assert np.all(np.isfinite(log_f))
            # (1 - c)(mu S + B) <= f <= mu S + B, checked in log space (S, B underflow far out)
            log_envelope = np.logaddexp(np.log(mu) + log_s, log_b) if mu > 0 else log_b
            assert np.all(log_f <= log_envelope + 1e-12)
            assert np.all(log_f >= np.log1p(-c) + log_envelope - 1e-12)
            # the brief's bound f >= (sqrt(mu S) - sqrt(B))^2 + 2 (1 - c) sqrt(mu S B) >= 0
            bound = (np.sqrt(mu * s) - np.sqrt(b)) ** 2 + 2 * (1 - c) * np.sqrt(mu * s * b)
            assert np.all(np.exp(log_f) >= bound * (1 - 1e-9))


def test_log_ratio_against_log_densities():
    toy = InterferenceToy()
    x = toy.sample("SBI", 200, rng=3)
    nu = toy.yields()
    p = {j: np.exp(toy.log_density(j, x)) for j in toy.processes}
    for reference in [("S", "B"), ("S", "SBI", "B"), ("B",), "B", ("SBI",)]:
        names = (reference,) if isinstance(reference, str) else reference
        p_ref = sum(nu[k] * p[k] for k in names) / sum(nu[k] for k in names)
        for process in toy.processes:
            expected = np.log(p[process] / p_ref)
            np.testing.assert_allclose(
                toy.log_ratio(process, x, reference=reference), expected, rtol=1e-9, atol=1e-12
            )
    # the default reference is the pooled S + B sample
    np.testing.assert_array_equal(toy.log_ratio("SBI", x), toy.log_ratio("SBI", x, ("S", "B")))


# ---------------------------------------------------------------- sampling


@pytest.mark.parametrize("kwargs", [{}, CORRELATED_2D, correlated_4d()])
def test_gaussian_samples_have_the_right_moments(kwargs):
    toy = InterferenceToy(**kwargs)
    n = 100_000
    for process, mean, cov in [
        ("S", toy.signal_mean, toy.signal_cov),
        ("B", toy.background_mean, toy.background_cov),
    ]:
        x = toy.sample(process, n, rng=4)
        assert x.shape == (n, toy.d)
        np.testing.assert_array_less(np.abs(x.mean(0) - mean), 5 * np.sqrt(np.diag(cov) / n))
        var = np.diag(cov)
        cov_error = np.sqrt((np.outer(var, var) + cov**2) / n)
        np.testing.assert_array_less(np.abs(np.cov(x.T) - cov), 5 * cov_error)


def x1_bin_probabilities(toy: InterferenceToy, edges: np.ndarray, mu: float) -> np.ndarray:
    """Probabilities of the x1 bins (with under- and overflow) from the signed-Gaussian mixture."""
    cdf = np.concatenate([[0.0], np.zeros(len(edges)), [1.0]])
    total = 0.0
    for weight, mean, cov in signed_mixture(toy, mu):
        cdf[1:-1] += weight * stats.norm(mean[0], np.sqrt(cov[0, 0])).cdf(edges)
        total += weight
    return np.diff(cdf / np.array([1.0] + [total] * len(edges) + [1.0]))


def test_marginal_against_quadrature(grid):
    """The closed-form x1 marginal of the signed mixture is the toy's density integrated over x2."""
    toy = InterferenceToy(**CORRELATED_2D)
    points, area = grid
    step = np.sqrt(area)
    n_axis = int(round(np.sqrt(len(points))))
    x1 = points[::n_axis, 0]
    for mu in [1.0, 3.0]:
        density = np.exp(toy.log_density_mu(points, mu)).reshape(n_axis, n_axis)
        numeric = density.sum(axis=1) * step
        mixture = signed_mixture(toy, mu)
        expected = sum(w * stats.norm(m[0], np.sqrt(c[0, 0])).pdf(x1) for w, m, c in mixture)
        expected /= sum(w for w, _, _ in mixture)
        np.testing.assert_allclose(numeric, expected, atol=1e-10)


@pytest.mark.parametrize("kwargs", [{}, CORRELATED_2D, {"d": 3}])
def test_rejection_samples_follow_the_density(kwargs):
    toy = InterferenceToy(**kwargs)
    n = 40_000
    edges = np.linspace(-3.0, 4.0, 29)
    samples = {
        1.0: toy.sample("SBI", n, rng=5),
        0.2: toy.sample_mu(0.2, n, rng=6),
        4.0: toy.sample_mu(4.0, n, rng=7),
        15.0: toy.sample_mu(15.0, n, rng=8),
    }
    for mu, x in samples.items():
        assert x.shape == (n, toy.d)
        observed = np.bincount(np.digitize(x[:, 0], edges), minlength=len(edges) + 1)
        expected = n * x1_bin_probabilities(toy, edges, mu)
        assert stats.chisquare(observed, expected).pvalue > 1e-3, mu
    # the test has power: the S + B mixture (no interference) is rejected
    observed = np.bincount(np.digitize(samples[1.0][:, 0], edges), minlength=len(edges) + 1)
    no_interference = InterferenceToy(**{**kwargs, "interference": 0.0})
    expected = n * x1_bin_probabilities(no_interference, edges, 1.0)
    assert stats.chisquare(observed, expected).pvalue < 1e-6


def test_expectations_by_sampling_and_by_quadrature(grid):
    toy = InterferenceToy()
    points, area = grid
    x = toy.sample_mu(2.0, 100_000, rng=9)
    p = np.exp(toy.log_density_mu(points, 2.0)) * area
    for f in [lambda x: x[:, 0] * x[:, 1], lambda x: np.cos(x[:, 0]) + x[:, 1] ** 2]:
        values = f(x)
        error = values.std() / np.sqrt(len(values))
        assert abs(values.mean() - (f(points) * p).sum()) < 5 * error


def test_sample_events_is_poisson():
    toy = InterferenceToy(nu_signal=6.0, nu_background=100.0)
    rng = np.random.default_rng(10)
    counts = np.array([toy.sample_events(2.0, rng).shape[0] for _ in range(400)])
    nu = toy.total_yield(2.0)
    assert abs(counts.mean() - nu) < 5 * np.sqrt(nu / len(counts))
    assert counts.var(ddof=1) == pytest.approx(nu, rel=0.25)
    assert toy.sample_mu(2.0, 0, rng).shape == (0, 2)


def test_sampling_is_reproducible():
    toy = InterferenceToy(d=3)
    for draw in [
        lambda rng: toy.sample("S", 100, rng),
        lambda rng: toy.sample("SBI", 100, rng),
        lambda rng: toy.sample_mu(3.0, 100, rng),
        lambda rng: toy.sample_events(0.5, rng),
    ]:
        np.testing.assert_array_equal(draw(11), draw(11))
        np.testing.assert_array_equal(draw(11), draw(np.random.default_rng(11)))
        assert not np.array_equal(draw(11), draw(12))


# ---------------------------------------------------------------- likelihood


def test_nll_is_the_extended_likelihood():
    toy = InterferenceToy()
    x = toy.sample_events(1.0, rng=13)
    s = toy.nu_signal * np.exp(toy.log_density("S", x))
    b = toy.nu_background * np.exp(toy.log_density("B", x))
    mu = np.array([[0.0, 0.5], [1.0, 7.0]])
    values = toy.nll(mu, x)
    assert values.shape == (2, 2)
    for m, value in zip(mu.ravel(), values.ravel(), strict=True):
        intensity = m * s - 2 * toy.interference * np.sqrt(m * s * b) + b
        expected = toy.total_yield(m) - np.log(intensity).sum()
        assert value == pytest.approx(expected, rel=1e-12)
        assert toy.nll(float(m), x) == value
    assert toy.nll(1.0, np.empty((0, 2))) == pytest.approx(toy.total_yield(1.0))


def test_nll_minimum_lands_near_the_true_mu():
    mu_true = 1.5
    toy = InterferenceToy(nu_signal=600.0, nu_background=10_000.0)
    x = toy.sample_events(mu_true, rng=14)
    fit = optimize.minimize_scalar(
        lambda m: toy.nll(m, x), bounds=(0.0, 10.0), method="bounded", options={"xatol": 1e-6}
    )
    mu_hat = fit.x
    h = 1e-3
    curvature = (toy.nll(mu_hat + h, x) - 2 * toy.nll(mu_hat, x) + toy.nll(mu_hat - h, x)) / h**2
    sigma = 1.0 / np.sqrt(curvature)
    assert 0.0 < sigma < 0.5
    assert abs(mu_hat - mu_true) < 3 * sigma
    # the minimum is global: the rate-degenerate second solution is disfavoured by the shapes
    scan = toy.nll(np.linspace(0.0, 10.0, 201), x)
    assert scan.min() >= fit.fun - 1e-6


# ---------------------------------------------------------------- interface


def test_workspace_description():
    toy = InterferenceToy(d=4)
    assert toy.processes == ("S", "SBI", "B")
    assert toy.coefficients == {"S": "mu - sqrt(mu)", "SBI": "sqrt(mu)", "B": "1 - sqrt(mu)"}
    assert toy.observable_names == ["x1", "x2", "x3", "x4"]
    assert toy.coefficient_values(0.25) == {"S": -0.25, "SBI": 0.5, "B": 0.5}
    np.testing.assert_array_equal(toy.signal_mean, [1.0, 0.5, 0.5, 0.25])
    np.testing.assert_allclose(np.diag(toy.background_cov), [1.44, 1.0, 1.21, 1.69])
    assert "d=4" in repr(toy)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"d": 1},
        {"d": 5},
        {"d": 2.0},
        {"interference": 1.0},
        {"interference": -0.1},
        {"nu_signal": 0.0},
        {"nu_background": -5.0},
        {"signal_mean": [0.0, 0.0, 0.0]},
        {"signal_cov": [[1.0, 2.0], [2.0, 1.0]]},
        {"background_cov": np.eye(3)},
    ],
)
def test_invalid_construction(kwargs):
    with pytest.raises(ValueError):
        InterferenceToy(**kwargs)


def test_invalid_calls():
    toy = InterferenceToy()
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="process"):
        toy.log_density("I", x)
    with pytest.raises(ValueError, match="process"):
        toy.log_ratio("S", x, reference=("S", "X"))
    with pytest.raises(ValueError, match="mu"):
        toy.nll([1.0, -0.5], x)
    with pytest.raises(ValueError, match="mu"):
        toy.sample_events(np.nan, rng=0)
    with pytest.raises(ValueError, match="shape"):
        toy.log_density("S", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="n"):
        toy.sample("S", -1, rng=0)


def test_asimov_statistic_equals_scipy_quadrature():
    """The grid-integrated Asimov statistic against scipy's adaptive 2D quadrature of the same
    integrand, and zero at the true value."""
    from scipy import integrate

    from nsbi.simulators import closure_toy

    toy = closure_toy()

    def integrand(y, x, mu_true, mu):
        point = np.array([[x, y]])
        log_t, log_m = toy.log_intensity(point, mu_true)[0], toy.log_intensity(point, mu)[0]
        return 2 * (np.exp(log_t) * (log_t - log_m) - np.exp(log_t) + np.exp(log_m))

    for mu_true, mu in ((1.0, 0.0), (1.2, 2.0)):
        reference, _ = integrate.dblquad(integrand, -9, 9, -9, 9, args=(mu_true, mu),
                                         epsabs=1e-10, epsrel=1e-8)  # fmt: skip
        assert np.isclose(toy.asimov_statistic(mu_true, mu), reference, rtol=1e-6)
    assert toy.asimov_statistic(1.3, [1.3])[0] == pytest.approx(0.0, abs=1e-12)


def test_asimov_statistic_refuses_grids_beyond_three_dimensions():
    with pytest.raises(ValueError, match="d <= 3, not d = 4"):
        InterferenceToy(d=4).asimov_statistic(1.0, 0.0)


def test_without_interference_the_intensity_is_mu_s_plus_b():
    """``closure_toy(0.0)``: the signal-strength model mu S + B of the same Gaussians (scipy)."""
    from nsbi.simulators import closure_toy

    toy = closure_toy(0.0)
    x = np.random.default_rng(0).normal(size=(50, 2))
    s = 50.0 * stats.multivariate_normal([1.0, 0.5], 0.81 * np.eye(2)).pdf(x)
    b = 200.0 * stats.multivariate_normal([0.0, 0.0], np.eye(2)).pdf(x)
    for mu in (0.0, 0.54, 2.0):
        np.testing.assert_allclose(toy.log_intensity(x, mu), np.log(mu * s + b), rtol=1e-12)
    assert toy.yields()["SBI"] == pytest.approx(250.0)


def test_signal_strength_workspace(tmp_path):
    """``write_toy_workspace(samples=("S", "B"))`` writes mu*S + B, and refuses a toy whose
    intensity is not that model or a reference outside the samples."""
    from nsbi.simulators import closure_toy, write_toy_workspace
    from nsbi.workspace import Workspace

    path = write_toy_workspace(closure_toy(0.0), tmp_path, events_per_sample=100,
                               samples=("S", "B"), reference=("B",))  # fmt: skip
    channel = Workspace.load(path).channel("SR")
    assert {s["name"]: s["coefficient"] for s in channel["samples"]} == {"S": "mu", "B": "1"}
    assert channel["reference"] == {"samples": ["B"]}
    with pytest.raises(ValueError, match="interference 0.3"):
        write_toy_workspace(closure_toy(), tmp_path, events_per_sample=100, samples=("S", "B"))
    with pytest.raises(ValueError, match="reference"):
        write_toy_workspace(closure_toy(0.0), tmp_path, events_per_sample=100,
                            samples=("S", "B"), reference=("SBI",))  # fmt: skip
    with pytest.raises(ValueError, match="samples"):
        write_toy_workspace(closure_toy(0.0), tmp_path, events_per_sample=100, samples=("B",))
    pooled = write_toy_workspace(closure_toy(0.0), tmp_path / "pooled", events_per_sample=100,
                                 samples=("S", "B"))  # fmt: skip
    assert Workspace.load(pooled).channel("SR")["reference"] == {"samples": ["S", "B"]}
