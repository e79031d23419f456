r"""Diagnostics of a learned ratio (the checks of the ATLAS NSBI method).

Reweighting closure
    Reference events reweighted by :math:`\hat r(x)` must reproduce the target process in every
    observable: per observable, normalised weighted histograms of the reweighted reference and of
    the target, with :math:`\chi^2 = \sum_b (h^{\text{rw}}_b - h^{\text{t}}_b)^2 /
    (\sigma^{\text{rw}\,2}_b + \sigma^{\text{t}\,2}_b)` (:math:`\sigma^2 = \sum w^2`) over ``ndf``
    = non-empty bins - 1.

Classifier two-sample test (C2ST)
    A fresh classifier is trained to separate the target from the reweighted reference; on held
    out events its weighted AUC is 0.5 when :math:`\hat r` is right. The AUC of the same test
    without reweighting shows how different the two samples were to begin with.

Calibration (reliability) curve
    With balanced classes the ensemble's score is :math:`\hat s = \hat r/(1+\hat r)`; in bins of
    :math:`\hat s` the observed fraction of numerator weight should equal the mean score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nsbi.ratios.ensemble import RatioEnsemble
from nsbi.ratios.training import TrainingConfig, train_classifier

__all__ = [
    "ClosureHistogram",
    "reweighting_closure",
    "weighted_auc",
    "TwoSampleTest",
    "classifier_two_sample_test",
    "CalibrationCurve",
    "calibration_curve",
]


@dataclass
class ClosureHistogram:
    """Reweighted-reference and target histograms of one observable (normalised to 1)."""

    observable: str
    edges: np.ndarray
    reweighted: np.ndarray
    reweighted_error: np.ndarray
    target: np.ndarray
    target_error: np.ndarray
    reference: np.ndarray
    chi2: float
    ndf: int

    @property
    def chi2_per_ndf(self) -> float:
        return self.chi2 / max(self.ndf, 1)


def _histogram(x, w, edges):
    h, _ = np.histogram(x, edges, weights=w)
    e2, _ = np.histogram(x, edges, weights=w**2)
    total = w.sum()
    return h / total, np.sqrt(e2) / abs(total)


def reweighting_closure(
    log_ratio: np.ndarray,
    reference: np.ndarray,
    reference_weights: np.ndarray | None,
    target: np.ndarray,
    target_weights: np.ndarray | None,
    observables: list[str],
    bins: int = 20,
) -> list[ClosureHistogram]:
    r"""Closure of reference events reweighted by :math:`\exp(\log\hat r)` against the target.

    Bin edges span the 0.5% to 99.5% quantiles of the target in each observable.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref, tgt = rng.normal(0, 1, (20000, 1)), rng.normal(0.5, 1, (20000, 1))
        >>> exact = 0.5 * ref[:, 0] - 0.125          # log N(x|0.5,1)/N(x|0,1)
        >>> [h] = reweighting_closure(exact, ref, None, tgt, None, ["x"])
        >>> bool(h.chi2_per_ndf < 2.0)
        True
    """
    w_ref = np.ones(len(reference)) if reference_weights is None else np.asarray(reference_weights)
    w_tgt = np.ones(len(target)) if target_weights is None else np.asarray(target_weights)
    w_rw = w_ref * np.exp(log_ratio)
    results = []
    for k, name in enumerate(observables):
        lo, hi = np.quantile(target[:, k], [0.005, 0.995])
        edges = np.linspace(lo, hi, bins + 1)
        rw, rw_err = _histogram(reference[:, k], w_rw, edges)
        tg, tg_err = _histogram(target[:, k], w_tgt, edges)
        ref_h, _ = _histogram(reference[:, k], w_ref, edges)
        variance = rw_err**2 + tg_err**2
        used = variance > 0
        chi2 = float(np.sum((rw - tg)[used] ** 2 / variance[used]))
        results.append(
            ClosureHistogram(name, edges, rw, rw_err, tg, tg_err, ref_h, chi2, int(used.sum()) - 1)
        )
    return results


def weighted_auc(
    scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None
) -> float:
    r"""Area under the ROC curve with event weights (ties count one half).

    :math:`\mathrm{AUC} = \sum_{i \in 1} \sum_{k \in 0} w_i w_k
    ([s_i > s_k] + \tfrac12 [s_i = s_k]) / (W_1 W_0)`, computed by sorting.

    Example:
        >>> weighted_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
        0.75
    """
    scores = np.asarray(scores, dtype=float)
    labels = np.asarray(labels).astype(bool)
    weights = np.ones(len(scores)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(scores, kind="mergesort")
    s, y, w = scores[order], labels[order], weights[order]
    unique, start = np.unique(s, return_index=True)
    w1 = np.add.reduceat(np.where(y, w, 0.0), start)
    w0 = np.add.reduceat(np.where(~y, w, 0.0), start)
    below0 = np.cumsum(w0) - w0  # weight of class 0 strictly below each distinct score
    total = np.sum(w1 * (below0 + 0.5 * w0))
    return float(total / (w1.sum() * w0.sum()))


@dataclass
class TwoSampleTest:
    """Result of the classifier two-sample test."""

    auc: float
    auc_unweighted_reference: float
    n_test: int


def classifier_two_sample_test(
    log_ratio: np.ndarray,
    reference: np.ndarray,
    reference_weights: np.ndarray | None,
    target: np.ndarray,
    target_weights: np.ndarray | None,
    config: TrainingConfig | None = None,
    test_fraction: float = 0.5,
    seed: int = 0,
) -> TwoSampleTest:
    """AUC of a fresh classifier separating the target from the reweighted reference
    (0.5 when the ratio is right), and without reweighting (for scale).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> ref, tgt = rng.normal(0, 1, (6000, 1)), rng.normal(0.5, 1, (6000, 1))
        >>> exact = 0.5 * ref[:, 0] - 0.125
        >>> test = classifier_two_sample_test(exact, ref, None, tgt, None,
        ...                                   TrainingConfig(hidden_layers=(16,), epochs=15))
        >>> bool(abs(test.auc - 0.5) < 0.03 and test.auc_unweighted_reference > 0.6)
        True
    """
    import torch

    config = config or TrainingConfig(hidden_layers=(32, 32), epochs=30, seed=seed)
    rng = np.random.default_rng(seed)
    w_ref = np.ones(len(reference)) if reference_weights is None else np.asarray(reference_weights)
    w_tgt = np.ones(len(target)) if target_weights is None else np.asarray(target_weights)
    ref_test = rng.random(len(reference)) < test_fraction
    tgt_test = rng.random(len(target)) < test_fraction

    def auc_for(w_reference):
        net, _ = train_classifier(
            target[~tgt_test],
            w_tgt[~tgt_test],
            reference[~ref_test],
            w_reference[~ref_test],
            config,
        )
        x = np.concatenate([target[tgt_test], reference[ref_test]]).astype(np.float32)
        with torch.no_grad():
            scores = net(torch.from_numpy(x)).numpy()
        labels = np.concatenate([np.ones(tgt_test.sum()), np.zeros(ref_test.sum())])
        w_t = w_tgt[tgt_test] / w_tgt[tgt_test].sum()
        w_r = w_reference[ref_test] / w_reference[ref_test].sum()
        return weighted_auc(scores, labels, np.concatenate([w_t, w_r]))

    return TwoSampleTest(
        auc_for(w_ref * np.exp(log_ratio)), auc_for(w_ref), int(tgt_test.sum() + ref_test.sum())
    )


@dataclass
class CalibrationCurve:
    """Mean predicted score against the observed numerator fraction, in bins of the score."""

    predicted: np.ndarray
    observed: np.ndarray
    observed_error: np.ndarray
    counts: np.ndarray

    @property
    def max_deviation(self) -> float:
        return float(np.nanmax(np.abs(self.predicted - self.observed)))


def calibration_curve(
    ensemble: RatioEnsemble | None,
    numerator: np.ndarray,
    numerator_weights: np.ndarray | None,
    denominator: np.ndarray,
    denominator_weights: np.ndarray | None,
    bins: int = 10,
    log_ratios: tuple[np.ndarray, np.ndarray] | None = None,
) -> CalibrationCurve:
    r"""Reliability curve of :math:`\hat s = \hat r/(1+\hat r)` with classes weighted to 1 each.

    Pass ``log_ratios=(on_numerator, on_denominator)`` to skip evaluating ``ensemble``.
    """
    if log_ratios is None:
        log_ratios = (ensemble.log_ratio(numerator), ensemble.log_ratio(denominator))
    w1 = np.ones(len(numerator)) if numerator_weights is None else np.asarray(numerator_weights)
    w0 = (
        np.ones(len(denominator))
        if denominator_weights is None
        else np.asarray(denominator_weights)
    )
    w1, w0 = w1 / w1.sum(), w0 / w0.sum()
    s1 = 1 / (1 + np.exp(-log_ratios[0]))
    s0 = 1 / (1 + np.exp(-log_ratios[1]))
    edges = np.linspace(0, 1, bins + 1)
    predicted, observed, error, counts = [], [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in1 = (s1 >= lo) & (s1 < hi)
        in0 = (s0 >= lo) & (s0 < hi)
        a, b = w1[in1].sum(), w0[in0].sum()
        n = int(in1.sum() + in0.sum())
        counts.append(n)
        if n == 0 or a + b <= 0:
            predicted.append(np.nan)
            observed.append(np.nan)
            error.append(np.nan)
            continue
        predicted.append(float((np.sum(w1[in1] * s1[in1]) + np.sum(w0[in0] * s0[in0])) / (a + b)))
        fraction = a / (a + b)
        observed.append(float(fraction))
        error.append(float(np.sqrt(max(fraction * (1 - fraction), 0.0) / n)))
    return CalibrationCurve(
        np.array(predicted), np.array(observed), np.array(error), np.array(counts)
    )
