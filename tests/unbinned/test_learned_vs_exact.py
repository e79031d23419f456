"""The learned unbinned model against the exact densities of the interference toy."""

import numpy as np
import pytest
import torch

from nsbi.infer import fit, scan
from nsbi.infer.profile import curve_of
from nsbi.model import Model
from nsbi.ratios import load_ensemble
from nsbi.workspace import Workspace
from nsbi.workspace.events import observed_events


@pytest.fixture(scope="module")
def model(trained_workspace):
    return Model.from_workspace(Workspace.load(trained_workspace))


@pytest.mark.parametrize("process", ["S", "SBI", "B"])
def test_ensemble_log_ratio_matches_exact(trained_workspace, toy, process):
    """RMSE of log r_j < 0.05 over fresh events of the reference pool (yield-weighted) whose
    exact log r_j lies between its 1st and 99th percentile."""
    ensemble = load_ensemble(trained_workspace.parent / "models" / "SR" / process)
    rng = np.random.default_rng(123)
    yields = toy.yields()
    x = np.concatenate([toy.sample(p, 20_000, rng) for p in toy.processes])
    w = np.repeat([yields[p] for p in toy.processes], 20_000)
    exact = toy.log_ratio(process, x, reference=toy.processes)
    lo, hi = np.percentile(exact, [1, 99])
    keep = (exact >= lo) & (exact <= hi)
    error = (ensemble.log_ratio(x) - exact)[keep]
    rmse = float(np.sqrt(np.average(error**2, weights=w[keep])))
    assert rmse < 0.05, f"{process}: RMSE {rmse:.4f}"


def _exact_scan(toy, x, weights, values):
    return curve_of(lambda mu: toy.nll(mu, x, weights), values, (0.0, 5.0))


def test_expected_profile_scan_matches_exact_scan(model, toy):
    """Asimov data at mu = 1: |t_learned(mu) - t_exact(mu)| < 0.2 wherever t_exact(mu) < 4
    (issue 3's target is 0.1; see below).

    The learned scan is nsbi's: the model's own Asimov data (reference events weighted by the
    learned intensity, yields from the sums of weights) fitted by nsbi. The exact scan has no
    Monte Carlo at all: the expected statistic integrated on a grid from the exact densities
    (``InterferenceToy.asimov_statistic``). (Measured on this fixture: 0.014. The same training
    on other simulated samples scatters more: 0.127 with the samples of seed 4, so at 100k events
    per sample the target holds for this fixture, not for every draw of the simulation; issue 3
    stays open for that. An earlier reference, the exact NLL of the reference events weighted to
    the exact intensity, carried the reference pool's Monte Carlo noise -- its weights do not
    sum to the analytic yields it was paired with -- and showed 0.07-0.10 that were not the
    ratios' error.)"""
    values = np.linspace(0.0, 2.5, 26)
    exact = toy.asimov_statistic(1.0, values)
    learned = scan(model.asimov(model.parameter_vector({"mu": 1.0})), values=values)
    inside = exact < 4.0
    assert inside.sum() >= 8
    difference = np.abs(learned.t - exact)[inside]
    assert difference.max() < 0.2, dict(zip(values[inside], difference.round(3), strict=True))


def test_observed_profile_scan_follows_exact_scan(model, trained_workspace, toy):
    """Observed data: the learned best fit agrees with the exact one to 0.05 (about 0.2 sigma)
    and the scans to |delta t| < 0.3 where t_exact < 4. (The target 0.1 is not reached on
    single datasets at this training size: over 30 datasets the median of max |delta t| is
    0.16-0.18, the 90% quantile 0.24-0.28 -- a tilt of the learned scan, i.e. a bias of the
    learned score of a few per cent.)"""
    ws = Workspace.load(trained_workspace)
    x = observed_events(ws, ws.channel("SR")).features
    values = np.linspace(0.0, 3.0, 31)
    learned = scan(model, values=values)
    exact, best = _exact_scan(toy, x, np.ones(len(x)), values)
    inside = exact < 4.0
    difference = np.abs(learned.t - exact)[inside]
    assert difference.max() < 0.3, dict(zip(values[inside], difference.round(3), strict=True))
    assert abs(learned.best_fit.value("mu") - best) < 0.05


@pytest.mark.parametrize("mu", [0.5, 1.0, 2.0])
def test_asimov_fit_returns_injected_mu(model, mu):
    result = fit(model.asimov(model.parameter_vector({"mu": mu})))
    assert result.valid
    assert abs(result.value("mu") - mu) < 1e-4


def test_asimov_weights_sum_to_expected_yield(model, toy):
    channel = model.unbinned[0]
    for mu in (0.3, 1.0, 2.5):
        pars = model.parameter_vector({"mu": mu})
        weights = channel.asimov_weights(pars)
        assert float(weights.sum()) == pytest.approx(float(toy.total_yield(mu)), rel=1e-9)


def test_nll_is_batched_over_weight_matrices(model):
    channel = model.unbinned[0]
    pars = model.parameter_vector({"mu": 1.3})
    n = channel.n_events("observed")
    weights = torch.stack([torch.ones(n, dtype=torch.float64), torch.full((n,), 2.0)])
    batched = model.nll(pars, weights)
    single = [model.nll(pars, weights[k]) for k in range(2)]
    assert torch.allclose(batched, torch.stack(single))


def test_fits_find_the_deeper_of_two_minima(model):
    """With sqrt(mu) coefficients a pseudo-experiment's NLL can have a minimum at mu = 0 and
    one inside (before the POI scan of the starting points, iminuit fits from mu = 1 stopped in
    the shallower one for 8 of 100 toys). Batched and iminuit fits of 100 toys at mu = 1 reach
    the global minimum of a fine grid of mu (the model's only parameter) to 1e-4 (the local
    minima lie 1e-3 to 1 above it)."""
    from nsbi.infer import minimize
    from nsbi.infer.batch_fit import fit_toys
    from nsbi.infer.toys import generate

    point = model.parameter_vector({"mu": 1.0}).numpy()
    toys = generate(model, point, range(100), (0,))
    grid = torch.linspace(0.0, 5.0, 20001, dtype=torch.float64)[:, None]
    floor, two_minima = np.empty(100), 0
    for row in range(100):  # the grid's minimum, and whether the toy has two minima
        with torch.no_grad():
            values = toys.bind(model, row).nll(grid).numpy()
        floor[row] = values.min()
        inner = (values[1:-1] < values[:-2]) & (values[1:-1] < values[2:])
        two_minima += int(inner.any() and values[0] < values[1])
    batched = fit_toys(model, toys, init=point).nll
    single = np.array([minimize(toys.bind(model, row), init=point, errors=False).nll
                       for row in range(100)])  # fmt: skip
    assert two_minima >= 5  # the case is exercised
    assert np.all(batched <= floor + 1e-4), np.max(batched - floor)
    assert np.all(single <= floor + 1e-4), np.max(single - floor)


def test_sparse_weights_over_other_events_name_the_channel(model):
    """Toy weights generated for another reference sample are refused, with the fix."""
    from nsbi.exceptions import FitError
    from nsbi.model.unbinned import SparseWeights

    other = SparseWeights.from_rows([(np.array([0, 2]), np.array([1.0, 1.0]))], n_events=3)
    bound = model.with_unbinned_data("SR", "reference", other)
    with pytest.raises(FitError, match="channel 'SR'.*generate the toys from this model"):
        bound.nll(model.parameter_vector({"mu": 1.0}))


def test_toy_weights_are_independent_poisson_of_the_asimov_weights(model):
    """The toys' weights, drawn as a Pois(nu) total shared multinomially, are independent
    Pois(w_i^A) (the splitting property): over 4000 toys at mu = 1 the total has the mean and
    variance of Pois(nu) within 4 standard errors, the counts of 20 groups of reference events
    (equal Asimov shares) pass Pearson's chi-square against T * sum_group w_i^A, the weights
    are integers, and toy 17 regenerated on its own is the same dataset."""
    from scipy import stats

    from nsbi.infer.toys import generate

    point = model.parameter_vector({"mu": 1.0})
    asimov = model.unbinned[0].asimov_weights(point).numpy()
    nu, t = asimov.sum(), 4000
    sparse = generate(model, point, t, key=(4,)).weights["SR"]
    index, weights = sparse.index.numpy(), sparse.weights.numpy()
    totals = weights.sum(1)
    assert abs(totals.mean() - nu) < 4 * np.sqrt(nu / t), (totals.mean(), nu)
    assert abs(totals.var() - nu) < 4 * nu * np.sqrt(2 / t), (totals.var(), nu)
    assert np.array_equal(weights, np.round(weights))
    per_event = np.bincount(index.ravel(), weights=weights.ravel(), minlength=len(asimov))
    groups = np.minimum((np.cumsum(asimov) / nu * 20).astype(int), 19)
    observed = np.bincount(groups, weights=per_event, minlength=20)
    expected = t * np.bincount(groups, weights=asimov, minlength=20)
    chi2 = np.sum((observed - expected) ** 2 / expected)
    assert stats.chi2.sf(chi2, 20) > 1e-3, chi2
    again = generate(model, point, [17], key=(4,)).weights["SR"]
    np.testing.assert_array_equal(again.to_dense()[0].numpy(), sparse[17].to_dense().numpy())


def test_toys_with_negative_asimov_weights_name_the_channel(model, monkeypatch):
    """Negative reference weights cannot be Poisson means: the error names the channel, the
    first bad event and the fix."""
    from nsbi.exceptions import FitError
    from nsbi.infer.toys import generate

    channel = model.unbinned[0]
    negative = channel.weights["reference"].clone()
    negative[5] = -negative[5]
    monkeypatch.setitem(channel.weights, "reference", negative)
    with pytest.raises(FitError, match=r"channel 'SR'.*event 5.*negative Monte Carlo"):
        generate(model, model.parameter_vector({"mu": 1.0}), 3, key=(0,))
