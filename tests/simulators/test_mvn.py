"""The multivariate normal toy against analytic truth: a brute-force quadrature posterior built
from scipy.stats densities, and calibration over datasets drawn from the prior."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from nsbi.simulators.mvn import MultivariateNormalToy

TOY = MultivariateNormalToy()


def quadrature_posterior(x: np.ndarray, toy: MultivariateNormalToy) -> tuple[np.ndarray, ...]:
    """Mean and std of each dimension from the prior times the likelihood of all its draws on a
    fine grid (the posterior is separable since the covariance is diagonal)."""
    grid = np.linspace(-15.0, 15.0, 6001)
    draws = x.reshape(-1, toy.dim, toy.draws)
    means, stds = [], []
    for k in range(toy.dim):
        values = draws[:, k, :].ravel()
        log_post = stats.norm(0.0, toy.prior_std).logpdf(grid)
        log_post = log_post + stats.norm.logpdf(
            values[:, None], loc=grid, scale=np.sqrt(toy.sigma2[k])
        ).sum(axis=0)
        weight = np.exp(log_post - log_post.max())
        weight /= weight.sum()
        mean = np.sum(weight * grid)
        means.append(mean)
        stds.append(np.sqrt(np.sum(weight * (grid - mean) ** 2)))
    return np.array(means), np.array(stds)


@pytest.mark.parametrize("n", [1, 7, 40])
def test_posterior_matches_quadrature(n):
    theta = np.array([[1.5, -2.0, 0.3]])
    x, mask = TOY.simulate(theta, n, rng=n)
    mean, std = TOY.posterior(x, mask)
    ref_mean, ref_std = quadrature_posterior(x[0], TOY)
    np.testing.assert_allclose(mean[0], ref_mean, rtol=0, atol=1e-7)
    np.testing.assert_allclose(std[0], ref_std, rtol=1e-6)


def test_posterior_matches_paper_matrix_formula():
    """mu_post = (S0^-1 + M S^-1)^-1 (M S^-1 xbar), S_post = (S0^-1 + M S^-1)^-1 with M = 5N
    draws per dimension and the prior mean 0."""
    x, mask = TOY.simulate([[0.5, 1.0, -1.0]], 11, rng=3)
    m = TOY.draws * 11
    xbar = x[0].reshape(-1, 3, 5).mean(axis=(0, 2))
    inv_sigma = np.linalg.inv(np.diag(TOY.sigma2))
    cov = np.linalg.inv(np.eye(3) / TOY.prior_std**2 + m * inv_sigma)
    mean, std = TOY.posterior(x, mask)
    np.testing.assert_allclose(mean[0], cov @ (m * inv_sigma @ xbar), rtol=1e-12)
    np.testing.assert_allclose(std[0] ** 2, np.diag(cov), rtol=1e-12)


def test_calibration_over_the_prior():
    """z = (theta - mean) / std is standard normal when theta is drawn from the prior."""
    rng = np.random.default_rng(2024)
    batch = 2000
    theta = TOY.sample_prior(batch, rng)
    n = rng.integers(1, TOY.n_max + 1, size=batch)
    x, mask = TOY.simulate(theta, n, rng)
    mean, std = TOY.posterior(x, mask)
    z = ((theta - mean) / std).ravel()
    # 6000 z values: the sample mean has std 1/sqrt(6000) = 0.013, the sample std 0.009
    assert abs(z.mean()) < 4.0 / np.sqrt(z.size)
    assert abs(z.std() - 1.0) < 4.0 / np.sqrt(2 * z.size)
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_posterior_std_matches_issue_formula():
    n = np.arange(0, 201)
    expected = 1.0 / np.sqrt(1.0 / 9.0 + 5.0 * n[:, None] / np.array([2.0, 4.0, 6.0]))
    np.testing.assert_allclose(TOY.posterior_std(n), expected, rtol=1e-14)
    x, mask = TOY.simulate(np.zeros((3, 3)), [0, 1, 200], rng=0)
    np.testing.assert_allclose(TOY.posterior(x, mask)[1], TOY.posterior_std([0, 1, 200]))
    assert TOY.posterior_std(np.zeros((2, 4))).shape == (2, 4, 3)


def test_shapes_layout_and_mask():
    theta = np.array([[10.0, 20.0, 30.0], [-10.0, 0.0, 10.0]])
    x, mask = TOY.simulate(theta, [4, 9], rng=0)
    assert x.shape == (2, 9, 15) and mask.shape == (2, 9) and mask.dtype == bool
    assert mask.sum(axis=1).tolist() == [4, 9]
    assert np.all(x[0, 4:] == 0.0)
    # dimension-major layout: features 5k..5k+4 belong to dimension k
    per_dim = x[1].reshape(9, 3, 5).mean(axis=(0, 2))
    np.testing.assert_allclose(per_dim, theta[1], atol=1.5)
    # padding values are ignored by the posterior
    garbage = np.where(mask[:, :, None], x, 1e6)
    np.testing.assert_array_equal(TOY.posterior(garbage, mask)[0], TOY.posterior(x, mask)[0])
    x_padded, mask_padded = TOY.simulate(theta, 3, rng=0, pad_to=TOY.n_max)
    assert x_padded.shape == (2, 200, 15) and mask_padded.sum() == 6
    empty, empty_mask = TOY.simulate(theta, 0, rng=0)
    assert empty.shape == (2, 0, 15)
    mean, std = TOY.posterior(empty, empty_mask)
    assert np.all(mean == 0.0) and np.all(std == TOY.prior_std)


def test_seeded_draws_are_reproducible_and_nested():
    theta = TOY.sample_prior(3, rng=5)
    np.testing.assert_array_equal(theta, TOY.sample_prior(3, np.random.default_rng(5)))
    a = TOY.simulate(theta, [5, 6, 7], rng=1)
    b = TOY.simulate(theta, [5, 6, 7], rng=np.random.default_rng(1))
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], TOY.simulate(theta, [5, 6, 7], rng=2)[0])
    # with the same padded length the first elements do not depend on the set size
    short, _ = TOY.simulate(theta, 3, rng=1, pad_to=10)
    long, _ = TOY.simulate(theta, 10, rng=1, pad_to=10)
    np.testing.assert_array_equal(short[:, :3], long[:, :3])
    # and a longer padding extends the stream element by element
    longer, _ = TOY.simulate(theta, 12, rng=1)
    np.testing.assert_array_equal(longer[:, :10], long)


@pytest.mark.parametrize(
    ("n_events", "match"),
    [
        (-1, r"\[0, n_max=200\], got -1"),
        (201, r"\[0, n_max=200\], got 201"),
        ([3, 1000], r"got 1000"),
        (2.5, "expected integers"),
        ([1, 2, 3], r"one per dataset"),
    ],
)
def test_bad_set_sizes(n_events, match):
    with pytest.raises(ValueError, match=match):
        TOY.simulate(np.zeros((2, 3)), n_events, rng=0)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"theta: expected shape \(B, 3\)"):
        TOY.simulate(np.zeros(3), 2, rng=0)
    with pytest.raises(ValueError, match="pad_to"):
        TOY.simulate(np.zeros((1, 3)), 5, rng=0, pad_to=4)
    with pytest.raises(ValueError, match="non-negative set sizes"):
        TOY.posterior_std(-1)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, L, 15\)"):
        TOY.posterior(np.zeros((2, 3, 14)))
    with pytest.raises(ValueError, match="mask: expected shape"):
        TOY.posterior(np.zeros((2, 3, 15)), np.ones((2, 4), dtype=bool))
    with pytest.raises(ValueError, match="n_max=200"):
        TOY.posterior(np.zeros((1, 201, 15)))
    with pytest.raises(TypeError, match="rng"):
        TOY.sample_prior(2, rng=None)
    with pytest.raises(ValueError, match="sigma2"):
        MultivariateNormalToy(sigma2=(1.0, -1.0))
