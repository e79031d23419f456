"""The section 3.2 mixture: its simulator against its definition and its iminuit profile
likelihood ratio against brute-force minimisation on a dense grid."""

import numpy as np
import pytest
import torch
from scipy import optimize, stats

from nsbi.simulators.signal_background import SignalBackgroundMixture


def test_simulated_counts_and_shapes_follow_the_definition():
    toy = SignalBackgroundMixture()
    generator = torch.Generator().manual_seed(3)
    theta, nu = 5.0, 1.5
    x, mask = toy.simulate(torch.full((4000,), theta), torch.full((4000,), nu), generator)
    counts = mask.sum(1).numpy()
    rate = 10 * theta + 100 * nu
    # Poisson mean and variance of the cardinality
    assert abs(counts.mean() - rate) < 4 * np.sqrt(rate / len(counts))
    assert counts.var() == pytest.approx(rate, rel=0.08)
    events = x[..., 0][mask > 0].numpy()
    fraction = 10 * theta / rate
    cdf = lambda v: fraction * stats.norm.cdf(v, -7, 2) + (1 - fraction) * stats.norm.cdf(v, 0, 3)  # noqa: E731
    assert stats.kstest(events, cdf).pvalue > 1e-3
    assert (x[..., 0][mask == 0] == 0).all()


def test_nll_equals_the_extended_mixture_likelihood():
    toy = SignalBackgroundMixture()
    events = np.array([-8.0, -1.0, 0.5, 2.0])
    theta, nu = 3.0, 0.8
    density = 10 * theta * stats.norm.pdf(events, -7, 2) + 100 * nu * stats.norm.pdf(events, 0, 3)
    rate = 10 * theta + 100 * nu
    exact = -stats.poisson.logpmf(4, rate) - np.sum(np.log(density / rate))
    # the two differ by log(N!), free of the parameters
    assert toy.nll(theta, nu, events) == pytest.approx(exact - np.log(24.0), rel=1e-12)


def test_profile_likelihood_ratio_equals_scipy():
    """iminuit's profile against scipy's bounded scalar minimiser (conditional fits) and
    Nelder-Mead (free fit), on datasets with theta_hat inside and at the boundary."""
    toy = SignalBackgroundMixture()
    x, mask = toy.simulate(torch.tensor([4.0, 6.0, 0.3]), torch.tensor([1.0, 0.7, 1.8]),
                           torch.Generator().manual_seed(5))  # fmt: skip
    grid = np.array([0.0, 1.0, 3.0, 5.0, 7.0])
    plr = toy.profile_likelihood_ratio(x, mask, grid)
    for b in range(3):
        events = x[b, mask[b] > 0, 0].numpy().astype(np.float64)
        s = 10 * stats.norm.pdf(events, -7, 2)
        bkg = 100 * stats.norm.pdf(events, 0, 3)

        def nll(theta, nu, s=s, bkg=bkg):
            return 10 * theta + 100 * nu - np.sum(np.log(theta * s + nu * bkg))

        def profiled(theta):
            return optimize.minimize_scalar(
                lambda nu: nll(theta, nu), bounds=(1e-6, 10), method="bounded",
                options={"xatol": 1e-10},
            ).fun  # fmt: skip

        free = optimize.minimize(
            lambda p: nll(*p), [max(plr.theta_hat[b], 0.5), plr.nu_hat[b]], method="Nelder-Mead",
            bounds=[(0, 50), (1e-6, 10)], options={"xatol": 1e-10, "fatol": 1e-12},
        )  # fmt: skip
        minimum = min(free.fun, profiled(0.0))
        np.testing.assert_allclose(
            plr.t[b], [2 * (profiled(v) - minimum) for v in grid], atol=1e-4, rtol=1e-5
        )
        if free.fun < profiled(0.0):
            assert plr.theta_hat[b] == pytest.approx(free.x[0], abs=1e-3)
    assert plr.theta_hat[2] < 1.0 and np.all(plr.t >= 0)


def test_negative_parameters_are_refused():
    with pytest.raises(ValueError, match="non-negative"):
        SignalBackgroundMixture().simulate(
            torch.tensor([-1.0]), torch.tensor([1.0]), torch.Generator()
        )
