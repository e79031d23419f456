"""The bump-hunt toy against analytic truth: scipy.stats densities and quadrature, calibration of
the exact posterior over datasets drawn from the prior, and pyro's NUTS against the grid."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from nsbi.simulators.bump_hunt import (
    BumpHuntToy,
    DensityRatioSummary,
    exact_posterior,
    nuts_posterior,
    s_marg,
    s_nom,
)

TOY = BumpHuntToy()


def scipy_log_likelihood(theta: float, nu: float, x: np.ndarray, toy: BumpHuntToy) -> float:
    density = theta * stats.norm(nu, toy.sigma_s).pdf(x)
    density = density + (1.0 - theta) * stats.norm(toy.mu_b, toy.sigma_b).pdf(x)
    return float(np.log(density).sum())


def scipy_folded_log_likelihood(theta, nu, x, summary: DensityRatioSummary, toy) -> float:
    d = np.abs(x - summary.vertex)
    density = 0.0
    for point in (summary.vertex + d, summary.vertex - d):
        density = density + theta * stats.norm(nu, toy.sigma_s).pdf(point)
        density = density + (1.0 - theta) * stats.norm(toy.mu_b, toy.sigma_b).pdf(point)
    return float(np.log(density).sum())


# ---------------------------------------------------------------------- model


def test_log_likelihood_matches_scipy():
    params = np.array([[0.0, 1.0], [1.0, 0.3], [0.3, 2.0], [0.71, -1.2]])
    x = TOY.simulate(np.array([[0.5, 0.3]] * 4), rng=0)
    ours = TOY.log_likelihood(params, x)
    expected = [scipy_log_likelihood(t, n, xb, TOY) for (t, n), xb in zip(params, x, strict=True)]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)
    # a grid of points against every dataset broadcasts to (G, B)
    grid = TOY.log_likelihood(params[:, None, :], x)
    assert grid.shape == (4, 4)
    np.testing.assert_allclose(np.diag(grid), ours, rtol=1e-14)
    np.testing.assert_allclose(grid[2, 1], scipy_log_likelihood(0.3, 2.0, x[1], TOY), rtol=1e-12)


def test_log_likelihood_is_stable_far_in_the_tails():
    x = np.array([40.0, -35.0])  # both densities underflow in linear space
    ours = TOY.log_likelihood([0.5, 0.0], x)
    terms = [
        np.logaddexp(
            np.log(0.5) + stats.norm(0.0, 0.1).logpdf(v), np.log(0.5) + stats.norm.logpdf(v)
        )
        for v in x
    ]
    assert np.isfinite(ours)
    np.testing.assert_allclose(ours, sum(terms), rtol=1e-12)


def test_prior_and_simulation():
    rng = np.random.default_rng(7)
    params = TOY.sample_prior(4000, rng)
    assert params.shape == (4000, 2)
    assert stats.kstest(params[:, 0], "uniform").pvalue > 1e-3
    assert stats.kstest(params[:, 1], stats.norm(1.0, 2.0).cdf).pvalue > 1e-3
    # a signal far from the background: the signal fraction is binomial
    x = TOY.simulate(np.array([[0.3, 8.0]] * 50), rng)
    assert x.shape == (50, 100)
    signal = np.abs(x - 8.0) < 1.0
    n = signal.size
    assert abs(signal.mean() - 0.3) < 4.0 * np.sqrt(0.3 * 0.7 / n)
    assert stats.kstest(x[~signal], "norm").pvalue > 1e-3
    assert stats.kstest(x[signal], stats.norm(8.0, 0.1).cdf).pvalue > 1e-3


def test_seeded_draws_are_reproducible():
    params = TOY.sample_prior(3, rng=11)
    np.testing.assert_array_equal(params, TOY.sample_prior(3, np.random.default_rng(11)))
    x = TOY.simulate(params, rng=4)
    np.testing.assert_array_equal(x, TOY.simulate(params, rng=np.random.default_rng(4)))
    assert not np.array_equal(x, TOY.simulate(params, rng=5))


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"theta must lie in \[0, 1\]"):
        TOY.log_likelihood([1.2, 0.0], np.zeros(3))
    with pytest.raises(ValueError, match=r"expected shape \(\.\.\., 2\)"):
        TOY.log_likelihood([0.2, 0.0, 1.0], np.zeros(3))
    with pytest.raises(ValueError, match=r"expected shape \(B, 2\)"):
        TOY.simulate([0.2, 0.0], rng=0)
    with pytest.raises(TypeError, match="rng"):
        TOY.simulate([[0.2, 0.0]], rng=None)
    with pytest.raises(ValueError, match="theta_cells"):
        exact_posterior(np.zeros(5), TOY, theta_cells=1)
    with pytest.raises(ValueError, match="nu_range"):
        exact_posterior(np.zeros(5), TOY, nu_range=(2.0, 1.0))
    with pytest.raises(ValueError, match="different toy"):
        exact_posterior(np.zeros(5), TOY, summary=s_nom(BumpHuntToy(sigma_s=0.2)))
    with pytest.raises(ValueError, match="sigma_s"):
        BumpHuntToy(sigma_s=0.0)


# ---------------------------------------------------------------------- summaries


def test_summary_ratios_match_scipy():
    x = np.linspace(-4.0, 5.0, 37)
    nominal = s_nom(TOY, nu_nom=1.5)
    expected = stats.norm(1.5, 0.1).logpdf(x) - stats.norm.logpdf(x)
    np.testing.assert_allclose(nominal.log_ratio(x), expected, rtol=1e-12)
    np.testing.assert_allclose(nominal(x[:5]), np.exp(expected[:5]), rtol=1e-12)
    # s_marg's numerator is the signal density integrated against the prior on theta_nu
    marginal = s_marg(TOY)
    for value in (-2.0, 0.4, 3.0):
        numerator, _ = integrate.quad(
            lambda nu, v=value: stats.norm.pdf(v, nu, 0.1) * stats.norm.pdf(nu, 1.0, 2.0),
            -15.0,
            17.0,
            points=[value],
            epsabs=0,
            epsrel=1e-11,
        )
        np.testing.assert_allclose(
            marginal.log_ratio(value), np.log(numerator / stats.norm.pdf(value)), rtol=1e-9
        )


@pytest.mark.parametrize("summary", [s_nom(TOY), s_nom(TOY, 3.0), s_marg(TOY)])
def test_summary_is_a_monotone_function_of_the_distance_to_the_vertex(summary):
    x = np.random.default_rng(0).normal(0.0, 3.0, 500)
    order = np.argsort(summary.distance(x))
    steps = np.diff(summary.log_ratio(x)[order])
    assert np.all(steps <= 1e-12) or np.all(steps >= -1e-12)
    # both folds carry the same summary
    folds = summary.folds(x)
    np.testing.assert_allclose(
        summary.log_ratio(folds[:, 0]), summary.log_ratio(folds[:, 1]), rtol=1e-9, atol=1e-9
    )


@pytest.mark.parametrize("params", [(0.4, 1.7), (0.0, 0.0), (0.9, -2.0)])
def test_folded_summary_likelihood(params):
    """The folded density of d = |x - x*| matches scipy and integrates to one."""
    summary = s_marg(TOY)
    x = TOY.simulate([[0.5, 2.0]], rng=1)[0]
    np.testing.assert_allclose(
        summary.log_likelihood(params, x),
        scipy_folded_log_likelihood(*params, x, summary, TOY),
        rtol=1e-12,
    )
    # one event: the density of d integrates to one (trapezoid rule, step 1e-4 = sigma_s / 1000)
    one = s_marg(BumpHuntToy(n_events=1))
    edges = np.linspace(0.0, 12.0, 120001)
    on_grid = np.exp(one.log_likelihood(np.asarray(params)[None, :], one.vertex + edges[:, None]))
    np.testing.assert_allclose(integrate.trapezoid(on_grid, edges), 1.0, atol=1e-6)


def test_marginal_summary_equals_a_nominal_one_footnote_1():
    """s_marg has the vertex of s_nom at theta_nu' ~ -0.33, so the two give the same posterior."""
    marginal = s_marg(TOY)
    nu_prime = marginal.vertex * (1.0 - TOY.sigma_s**2 / TOY.sigma_b**2)
    assert -0.34 < nu_prime < -0.32
    nominal = s_nom(TOY, nu_prime)
    assert nominal.vertex == pytest.approx(marginal.vertex, rel=1e-12)
    x = TOY.simulate([[0.3, 0.0]], rng=2)[0]
    kwargs = dict(theta_cells=50, nu_step=0.02, keep_density=False)
    a = exact_posterior(x, TOY, summary=marginal, **kwargs)
    b = exact_posterior(x, TOY, summary=nominal, **kwargs)
    np.testing.assert_allclose(a.theta_marginal, b.theta_marginal, rtol=1e-9)


def test_equal_widths_are_refused():
    with pytest.raises(ValueError, match="same width"):
        DensityRatioSummary("s", 0.0, 1.0, TOY)


# ---------------------------------------------------------------------- exact posterior


def test_grid_posterior_matches_direct_likelihood():
    """The sparse grid sum against the plain log-likelihood times the prior, full and summary."""
    x = TOY.simulate([[0.4, 1.5]], rng=3)[0]
    for summary in (None, s_nom(TOY)):
        post = exact_posterior(x, TOY, summary=summary, theta_cells=20, nu_step=0.05)
        grid = np.stack(np.meshgrid(post.theta_grid, post.nu_grid, indexing="ij"), axis=-1)
        loglik = (TOY if summary is None else summary).log_likelihood(grid, x)
        log_post = loglik + stats.norm(1.0, 2.0).logpdf(post.nu_grid)[None, :]
        expected = np.exp(log_post - log_post.max())
        expected /= expected.sum() * post.theta_step * post.nu_step
        np.testing.assert_allclose(post.density, expected, rtol=1e-9, atol=1e-12)


def test_posterior_is_normalised_and_shaped():
    x = TOY.simulate(TOY.sample_prior(3, rng=1), rng=2).reshape(3, 1, 100)
    post = exact_posterior(x, TOY, theta_cells=40, nu_step=0.02)
    assert post.batch_shape == (3, 1)
    assert post.density.shape == (3, 1, 40, post.nu_grid.size)
    area = post.theta_step * post.nu_step
    np.testing.assert_allclose(post.density.sum((-2, -1)) * area, 1.0, rtol=1e-12)
    np.testing.assert_allclose(post.theta_marginal.sum(-1) * post.theta_step, 1.0, rtol=1e-12)
    np.testing.assert_allclose(post.nu_marginal.sum(-1) * post.nu_step, 1.0, rtol=1e-12)
    np.testing.assert_allclose(post.theta_cdf(1.0), 1.0, rtol=1e-12)
    lower, upper = post.theta_interval(0.68)
    np.testing.assert_allclose(post.theta_cdf(upper) - post.theta_cdf(lower), 0.68, rtol=1e-9)
    assert exact_posterior(x, TOY, theta_cells=40, nu_step=0.02, keep_density=False).density is None
    assert "batch=(3, 1)" in repr(post)


@pytest.mark.parametrize(
    "params",
    [(0.01, 2.5), (0.85, -1.0)],  # posterior pressed against theta = 0; narrowest theta_nu
)
def test_grid_refinement_moves_moments_by_less_than_1e3(params):
    x = TOY.simulate([params], rng=5)[0]
    default = exact_posterior(x, TOY, keep_density=False)
    fine = exact_posterior(x, TOY, theta_cells=800, nu_step=0.005, keep_density=False)
    for name in ("theta_mean", "theta_std", "nu_mean", "nu_std"):
        assert abs(getattr(default, name) - getattr(fine, name)) < 1e-3, name
    assert abs(default.theta_mean - fine.theta_mean) < 1e-4
    # a wider theta_nu range changes nothing: the prior mass left out is ~1e-9
    wide = exact_posterior(x, TOY, nu_range=(-15.0, 17.0), keep_density=False)
    assert abs(wide.theta_mean - default.theta_mean) < 1e-8


def test_posterior_mean_near_truth_with_a_strong_signal():
    x = TOY.simulate([[0.8, -1.5], [0.6, 3.0]], rng=6)
    post = exact_posterior(x, TOY, theta_cells=200, nu_step=0.01, keep_density=False)
    np.testing.assert_array_less(np.abs(post.theta_mean - [0.8, 0.6]), 4.0 * post.theta_std)
    np.testing.assert_array_less(post.theta_std, 0.07)
    np.testing.assert_array_less(np.abs(post.nu_mean - [-1.5, 3.0]), 0.05)


def test_calibration_over_the_prior():
    """The truth falls in the central 68% interval of 68% of datasets, and its posterior CDF is
    uniform. The coarse grid (50 cells, step 0.02) keeps this fast; it moves CDFs by < 0.01."""
    rng = np.random.default_rng(0)
    params = TOY.sample_prior(200, rng)
    x = TOY.simulate(params, rng)
    post = exact_posterior(x, TOY, theta_cells=50, nu_step=0.02, keep_density=False)
    u = post.theta_cdf(params[:, 0])
    inside = np.mean((u > 0.16) & (u < 0.84))
    assert abs(inside - 0.68) < 3.0 * np.sqrt(0.68 * 0.32 / 200)
    assert stats.kstest(u, "uniform").pvalue > 1e-3


def test_summaries_lose_information_and_stay_calibrated():
    """E[Var(theta | s(x))] >= E[Var(theta | x)] over the prior predictive (s is a function of x);
    the summary posteriors are exact posteriors too, so they are calibrated."""
    rng = np.random.default_rng(1)
    params = TOY.sample_prior(60, rng)
    x = TOY.simulate(params, rng)
    kwargs = dict(theta_cells=50, nu_step=0.02, keep_density=False)
    full = exact_posterior(x, TOY, **kwargs)
    for summary in (s_nom(TOY), s_marg(TOY)):
        post = exact_posterior(x, TOY, summary=summary, **kwargs)
        gain = post.theta_std**2 - full.theta_std**2
        assert gain.mean() > 3.0 * gain.std() / np.sqrt(gain.size), summary.name
        assert stats.kstest(post.theta_cdf(params[:, 0]), "uniform").pvalue > 1e-3


# ---------------------------------------------------------------------- NUTS


def assert_nuts_agrees(samples: np.ndarray, ess: float, reference: float, ref_std: float):
    mcse = samples.std() / np.sqrt(ess)
    assert abs(samples.mean() - reference) < max(4.0 * mcse, 0.005)
    assert abs(samples.mean() - reference) < 0.03
    assert abs(samples.std() / ref_std - 1.0) < 0.2


def test_nuts_agrees_with_the_grid():
    """400 samples after 300 warm-up steps on a dataset with a clear signal (about 8 s)."""
    x = TOY.simulate([[0.3, 2.0]], rng=3)[0]
    exact = exact_posterior(x, TOY, keep_density=False)
    result = nuts_posterior(x, num_samples=400, warmup=300, seed=0)
    assert result.samples.shape == (400, 2)
    assert result.divergences == 0
    assert_nuts_agrees(result.theta, result.ess[0], exact.theta_mean, exact.theta_std)
    assert_nuts_agrees(result.nu, result.ess[1], exact.nu_mean, exact.nu_std)


@pytest.mark.slow
@pytest.mark.parametrize("summary", [None, "s_nom", "s_marg"])
def test_nuts_agrees_with_the_grid_long_chains(summary):
    summary = None if summary is None else {"s_nom": s_nom, "s_marg": s_marg}[summary](TOY)
    x = TOY.simulate([[0.3, 2.0]], rng=3)[0]
    exact = exact_posterior(x, TOY, summary=summary, keep_density=False)
    result = nuts_posterior(x, num_samples=2000, warmup=1000, seed=1, chains=2, summary=summary)
    assert result.samples.shape == (4000, 2)
    assert result.r_hat[0] < 1.05
    assert_nuts_agrees(result.theta, result.ess[0], exact.theta_mean, exact.theta_std)
    # given the summaries, the theta_nu posterior has two modes mirrored at the vertex x*,
    # between which the chains do not move (r_hat flags it); theta is the same in both
    if summary is None:
        assert result.r_hat[1] < 1.05
        assert_nuts_agrees(result.nu, result.ess[1], exact.nu_mean, exact.nu_std)


def test_nuts_is_seeded_and_leaves_global_rng_alone():
    toy = BumpHuntToy(n_events=20)
    x = toy.simulate([[0.5, 2.0]], rng=0)[0]
    np.random.seed(123)  # noqa: NPY002
    torch.manual_seed(123)
    expected_np, expected_torch = np.random.random(), torch.rand(1)  # noqa: NPY002
    np.random.seed(123)  # noqa: NPY002
    torch.manual_seed(123)
    a = nuts_posterior(x, num_samples=20, warmup=10, seed=4, chains=2, toy=toy)
    assert np.random.random() == expected_np  # noqa: NPY002
    assert torch.equal(torch.rand(1), expected_torch)
    assert a.samples.shape == (40, 2)
    # the same seed gives the same chains; the first chain does not depend on how many follow
    b = nuts_posterior(x, num_samples=20, warmup=10, seed=4, chains=1, toy=toy)
    np.testing.assert_array_equal(a.samples[:20], b.samples)
    assert not np.array_equal(a.samples[:20], a.samples[20:])
    assert np.all((a.theta > 0.0) & (a.theta < 1.0))


def test_nuts_without_pyro_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyro", None)
    with pytest.raises(ImportError, match=r"pip install nsbi\[mcmc\]"):
        nuts_posterior(np.zeros(5), num_samples=2, warmup=1)
