"""Ratio classifiers, ensembles, storage and diagnostics against analytic densities."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import stats

from nsbi.ratios import (
    RatioClassifier,
    RatioEnsemble,
    RatioModelError,
    TrainingConfig,
    load_ensemble,
    read_metadata,
    save_ensemble,
    train_classifier,
    train_ensemble,
)
from nsbi.ratios.diagnostics import (
    calibration_curve,
    classifier_two_sample_test,
    reweighting_closure,
    weighted_auc,
)

SMALL = TrainingConfig(hidden_layers=(32, 32), epochs=40, batch_size=512, patience=8)


def gaussians(n, rng, shift=0.6):
    """Numerator N(shift, 1), denominator N(0, 1.2^2) in 1D; exact log-ratio."""
    num, den = stats.norm(shift, 1.0), stats.norm(0.0, 1.2)
    x1 = num.rvs(n, random_state=rng)[:, None]
    x0 = den.rvs(n, random_state=rng)[:, None]
    return x1, x0, (lambda x: num.logpdf(x[:, 0]) - den.logpdf(x[:, 0]))


def central(values, exact):
    lo, hi = np.percentile(exact, [1, 99])
    keep = (exact > lo) & (exact < hi)
    return np.sqrt(np.mean((values - exact)[keep] ** 2))


def test_classifier_logit_is_the_log_ratio():
    rng = np.random.default_rng(3)
    x1, x0, exact = gaussians(20000, rng)
    net, history = train_classifier(x1, None, x0, None, SMALL)
    test = np.concatenate([x1[:2000], x0[:2000]])
    with torch.no_grad():
        estimate = net(torch.tensor(test, dtype=torch.float32)).numpy()
    assert central(estimate, exact(test)) < 0.08
    assert history.best_epoch >= 0 and len(history.validation_loss) >= history.best_epoch + 1


def test_negative_weights_and_class_balance():
    """Numerator = 1.5 A - 0.5 B written with negative weights; its density is still exact."""
    rng = np.random.default_rng(5)
    a, b = stats.norm(0.5, 1.0), stats.norm(1.0, 1.0)
    xa = a.rvs(30000, random_state=rng)
    xb = b.rvs(10000, random_state=rng)
    numerator = np.concatenate([xa, xb])[:, None]
    weights = np.concatenate([np.full(30000, 1.5 / 30000), np.full(10000, -0.5 / 10000)])
    den = stats.norm(0.0, 1.5)
    x0 = den.rvs(25000, random_state=rng)[:, None]  # different size: classes balanced by sums
    net, _ = train_classifier(numerator, weights * 1e3, x0, None, SMALL)
    grid = np.linspace(-1.0, 2.0, 50)
    exact = np.log(1.5 * a.pdf(grid) - 0.5 * b.pdf(grid)) - den.logpdf(grid)
    with torch.no_grad():
        estimate = net(torch.tensor(grid[:, None], dtype=torch.float32)).numpy()
    assert np.sqrt(np.mean((estimate - exact) ** 2)) < 0.1


def test_training_is_reproducible_with_a_seed():
    rng = np.random.default_rng(0)
    x1, x0, _ = gaussians(3000, rng)
    config = TrainingConfig(hidden_layers=(8,), epochs=3, seed=11)
    a, _ = train_classifier(x1, None, x0, None, config)
    b, _ = train_classifier(x1, None, x0, None, config)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)


def test_ensemble_is_normalised_and_members_differ():
    rng = np.random.default_rng(1)
    x1, x0, exact = gaussians(8000, rng)
    ensemble = train_ensemble(x1, None, x0, None, ["x"], SMALL, members=3)
    assert np.mean(np.exp(ensemble.log_ratio(x0))) == pytest.approx(1.0, abs=1e-9)
    logs = ensemble.member_log_ratios(x0[:100])
    assert logs.shape == (3, 100) and np.all(ensemble.spread(x0[:100]) > 0)
    # the default aggregation is the geometric mean of the member ratios
    geometric = logs.mean(0) - ensemble.log_normalisation
    np.testing.assert_allclose(ensemble.log_ratio(x0[:100]), geometric, atol=1e-10)
    ensemble.aggregation = "mean_ratio"
    ensemble.normalise(x0, None)
    arithmetic = np.log(np.exp(logs).mean(0)) - ensemble.log_normalisation
    np.testing.assert_allclose(ensemble.log_ratio(x0[:100]), arithmetic, atol=1e-10)
    assert np.mean(np.exp(ensemble.log_ratio(x0))) == pytest.approx(1.0, abs=1e-9)


def test_save_load_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(2)
    x1, x0, _ = gaussians(2000, rng)
    ensemble = train_ensemble(
        x1, None, x0, None, ["x"], TrainingConfig(hidden_layers=(8,), epochs=2), members=2
    )
    path = save_ensemble(ensemble, tmp_path / "models" / "S")
    assert sorted(p.name for p in path.iterdir()) == ["ensemble.json", "members.safetensors"]
    assert (path / "members.safetensors").read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle
    metadata = json.loads((path / "ensemble.json").read_text())
    assert metadata["observables"] == ["x"] and metadata["n_members"] == 2
    assert len(metadata["checksum"]) == 64 and metadata["training"]["hidden_layers"] == [8]
    again = load_ensemble(path)
    np.testing.assert_allclose(again.log_ratio(x0[:50]), ensemble.log_ratio(x0[:50]), rtol=1e-6)
    # saving again replaces atomically, leaving no temporary folders behind
    save_ensemble(again, path)
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == ["S"]


def test_load_errors_name_the_fix(tmp_path):
    with pytest.raises(RatioModelError, match="nsbi train"):
        load_ensemble(tmp_path / "missing")
    broken = tmp_path / "broken"
    save_ensemble(RatioEnsemble([RatioClassifier(1, (4,))], ["x"]), broken)
    (broken / "ensemble.json").write_text("{not json")
    with pytest.raises(RatioModelError, match="line 1, column 2"):
        read_metadata(broken)
    save_ensemble(RatioEnsemble([RatioClassifier(1, (4,))], ["x"]), broken)
    metadata = json.loads((broken / "ensemble.json").read_text())
    metadata["architecture"]["hidden_layers"] = [5]
    (broken / "ensemble.json").write_text(json.dumps(metadata))
    with pytest.raises(RatioModelError, match="does not match its architecture"):
        load_ensemble(broken)


def test_weighted_auc_matches_mann_whitney():
    rng = np.random.default_rng(0)
    s1, s0 = rng.normal(0.4, 1, 300), rng.normal(0, 1, 400)
    scores = np.round(np.concatenate([s1, s0]), 1)  # with ties
    labels = np.concatenate([np.ones(300), np.zeros(400)])
    u = stats.mannwhitneyu(scores[:300], scores[300:]).statistic
    assert weighted_auc(scores, labels) == pytest.approx(u / (300 * 400), rel=1e-12)
    # integer weights are the same as repeated events
    w = rng.integers(1, 4, 700)
    repeated = weighted_auc(np.repeat(scores, w), np.repeat(labels, w))
    assert weighted_auc(scores, labels, w) == pytest.approx(repeated, rel=1e-12)


def test_diagnostics_tell_a_right_ratio_from_a_wrong_one():
    rng = np.random.default_rng(4)
    x1, x0, exact = gaussians(20000, rng)
    right, wrong = exact(x0), 0.5 * exact(x0)
    good = reweighting_closure(right, x0, None, x1, None, ["x"])[0]
    bad = reweighting_closure(wrong, x0, None, x1, None, ["x"])[0]
    assert good.chi2_per_ndf < 2.0 < 10.0 < bad.chi2_per_ndf
    config = TrainingConfig(hidden_layers=(16,), epochs=15)
    assert abs(classifier_two_sample_test(right, x0, None, x1, None, config).auc - 0.5) < 0.02
    assert classifier_two_sample_test(wrong, x0, None, x1, None, config).auc > 0.53
    calibrated = calibration_curve(None, x1, None, x0, None, log_ratios=(exact(x1), right))
    assert calibrated.max_deviation < 0.03
    off = calibration_curve(None, x1, None, x0, None, log_ratios=(2 * exact(x1), 2 * right))
    assert off.max_deviation > 0.1
