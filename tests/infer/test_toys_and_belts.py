"""Pseudo-experiments, batched toy fits and Neyman belts, against iminuit fits, Poisson
statistics, and the Feldman-Cousins construction computed exactly from Poisson sums."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest
from scipy import stats

from nsbi.exceptions import FitError
from nsbi.infer import minimize
from nsbi.infer.batch_fit import fit_toys
from nsbi.infer.belt import critical_value, neyman_belt
from nsbi.infer.toys import generate
from nsbi.model import Model
from nsbi.workspace import Workspace


def _workspace(model: pyhf.Model, channel: str, data: list[float]) -> Workspace:
    return Workspace(
        {
            "channels": model.spec["channels"],
            "observations": [{"name": channel, "data": data}],
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
            "version": "1.0.0",
        }
    )


@pytest.fixture(scope="module")
def histosys_model():
    simple = pyhf.simplemodels.correlated_background(
        [5.0, 10.0, 3.0], [50.0, 60.0, 20.0], [55.0, 70.0, 22.0], [45.0, 50.0, 19.0]
    )
    return Model.from_workspace(_workspace(simple, "single_channel", [55, 70, 20]))


def test_toys_are_reproducible_per_index_and_poisson_distributed():
    simple = pyhf.simplemodels.uncorrelated_background([10.0], [50.0], [7.0])
    model = Model.from_workspace(_workspace(simple, "singlechannel", [60]))
    pars = model.parameter_vector({"mu": 1.0})
    toys = generate(model, pars, 4000, key=(5, 1))
    again = generate(model, pars, [17, 3999], key=(5, 1))
    np.testing.assert_array_equal(again.binned.numpy(), toys.binned.numpy()[[17, 3999]])
    other = generate(model, pars, 10, key=(5, 2))
    assert not np.array_equal(other.binned.numpy(), toys.binned.numpy()[:10])
    counts = toys.binned.numpy()[:, 0]
    # main count ~ Pois(60): mean and variance within 4 standard errors
    assert abs(counts.mean() - 60) < 4 * np.sqrt(60 / 4000)
    assert abs(counts.var() - 60) < 4 * 60 * np.sqrt(2 / 4000)
    # shapesys auxiliary datum ~ Pois(tau) with tau = (50/7)^2
    tau = (50 / 7) ** 2
    aux = toys.binned.numpy()[:, 1]
    assert abs(aux.mean() - tau) < 4 * np.sqrt(tau / 4000)
    assert np.all(aux == np.round(aux))


def test_batched_fits_equal_iminuit_fits(histosys_model):
    """The vectorised Newton minimiser reaches iminuit's minima (NLL within 1e-5, never
    higher by more than that), unconditional and with the POI fixed."""
    model = histosys_model
    toys = generate(model, model.parameter_vector({"mu": 1.0}), 40, key=(3,))
    for fix in (None, {"mu": 0.5}):
        batch = fit_toys(model, toys, fix=fix)
        assert batch.fallbacks == 0 and batch.converged.all()
        for row in range(len(toys)):
            single = minimize(toys.bind(model, row), fix=fix, errors=False, tolerance=1e-3)
            assert batch.nll[row] <= single.nll + 1e-5
            assert abs(batch.nll[row] - single.nll) < 1e-5


def test_critical_value_error_is_the_binomial_spread():
    """Over repeated samples, the quantile's spread matches the reported uncertainty."""
    rng = np.random.default_rng(2)
    values, errors = zip(
        *(critical_value(rng.chisquare(1, 2000), 0.9545) for _ in range(200)), strict=True
    )
    assert 0.75 < np.std(values) / np.mean(errors) < 1.3
    assert abs(np.mean(values) - stats.chi2.ppf(0.9545, 1)) < 3 * np.std(values) / np.sqrt(200)


def _fc_exact(s: float, b: float, mu: float, cl: float, n_max: int = 200):
    """Feldman-Cousins acceptance set {n} for n ~ Pois(mu s + b), mu >= 0, from Poisson sums:
    n ranked by R = P(n|mu)/P(n|mu_best), mu_best = max(0, (n - b)/s), summed until >= CL.
    Returns t(n) = -2 ln R for all n, the set, and the cumulative probabilities while ranking."""
    n = np.arange(n_max)
    best = np.clip((n - b) / s, 0.0, 10.0)
    t = -2 * (stats.poisson.logpmf(n, mu * s + b) - stats.poisson.logpmf(n, best * s + b))
    t = np.clip(t, 0.0, None)
    order = np.argsort(t, kind="stable")
    probability = stats.poisson.pmf(n[order], mu * s + b)
    cumulative = np.cumsum(probability)
    last = int(np.searchsorted(cumulative, cl))
    return t, set(order[: last + 1].tolist()), cumulative, last


def test_counting_belt_reproduces_feldman_cousins():
    """One bin, known background b = 3, signal s = 4 mu (mu >= 0): the toy belt with t_mu
    (likelihood-ratio ordering, POI bounded at 0) accepts exactly the Feldman-Cousins set of
    counts. Grid points are those of 0, 0.1, ..., 4 whose FC boundary is decidable with the
    toys: the exact cumulative probabilities on both sides of the boundary more than 3
    binomial standard errors from the confidence level (closer, finitely many toys cannot
    decide a discrete boundary); five of them, spread over the range."""
    s, b, toys, cl = 4.0, 3.0, 8000, 0.9
    spec = {
        "channels": [
            {
                "name": "count",
                "samples": [
                    {
                        "name": "signal",
                        "data": [s],
                        "modifiers": [{"name": "mu", "type": "normfactor", "data": None}],
                    },
                    {"name": "background", "data": [b], "modifiers": []},
                ],
            }
        ],
        "observations": [{"name": "count", "data": [5]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    model = Model.from_workspace(Workspace(spec))
    tolerance = 3 * np.sqrt(cl * (1 - cl) / toys)

    def decidable(mu):
        _, _, cumulative, last = _fc_exact(s, b, mu, cl)
        return not np.any(np.abs(cumulative[max(last - 1, 0) : last + 1] - cl) < tolerance)

    candidates = [mu for mu in np.round(np.linspace(0.0, 4.0, 41), 6) if decidable(mu)]
    assert len(candidates) >= 5
    grid = np.array(candidates)[np.linspace(0, len(candidates) - 1, 5).round().astype(int)]
    belt = neyman_belt(model, grid, toys, cl=[cl], seed=11, construction="fixed", observed=False)
    critical, _ = belt.critical_values(cl)
    for g, mu in enumerate(grid):
        t, fc_set, _, _ = _fc_exact(s, b, mu, cl)
        toy_set = set(np.flatnonzero(t <= critical[g] + 1e-6).tolist())
        assert toy_set == fc_set, (mu, sorted(toy_set ^ fc_set))


def test_belt_errors_name_the_fix():
    simple = pyhf.simplemodels.uncorrelated_background([10.0], [50.0], [7.0])
    model = Model.from_workspace(_workspace(simple, "singlechannel", [60]))
    with pytest.raises(FitError, match="unknown construction 'bayesian'; use 'profile' or 'fixed'"):
        neyman_belt(model, [0.0, 1.0], 10, construction="bayesian", observed=False)
    belt = neyman_belt(model, [0.0, 1.0], 50, construction="fixed", observed=False)
    with pytest.raises(FitError, match="no observed statistic"):
        belt.interval(0.6827)


def test_toys_fitted_in_memory_sized_batches_reach_the_same_minima(histosys_model, monkeypatch):
    """Batches of 7 (as a small memory budget would give) reach the minima of one batch of 40,
    and iminuit's (as above); the batch size follows the budget."""
    from nsbi.infer.batch_fit import TOY_MEMORY_VARIABLE, toy_batch_size

    model = histosys_model
    toys = generate(model, model.parameter_vector({"mu": 1.0}), 40, key=(4,))
    whole = fit_toys(model, toys)
    batched = fit_toys(model, toys, batch_size=7)
    np.testing.assert_allclose(batched.nll, whole.nll, atol=1e-6)
    np.testing.assert_allclose(batched.values, whole.values, atol=1e-3)
    assert batched.converged.all() and len(batched.failed) == 40
    for row in (0, 13, 39):
        single = minimize(toys.bind(model, row), errors=False, tolerance=1e-3)
        assert abs(batched.nll[row] - single.nll) < 1e-5
    monkeypatch.setenv(TOY_MEMORY_VARIABLE, "1e-6")  # about 1 kB: a few toys per batch
    small = toy_batch_size(model, 2)
    monkeypatch.setenv(TOY_MEMORY_VARIABLE, "2e-6")
    assert toy_batch_size(model, 2) in (2 * small - 1, 2 * small, 2 * small + 1)
    batched = fit_toys(model, toys)  # batches of `small` toys, from the environment
    np.testing.assert_allclose(batched.nll, whole.nll, atol=1e-6)
    monkeypatch.setenv(TOY_MEMORY_VARIABLE, "0")
    with pytest.raises(FitError, match=TOY_MEMORY_VARIABLE):
        fit_toys(model, toys)
