"""nsbi's interpolation codes against pyhf's own interpolators, live."""

import numpy as np
import pyhf
import pytest
import torch

from nsbi.model.interpolation import additive_delta, interpolate

ALPHAS = np.array([-3.0, -1.7, -1.0, -0.999, -0.6, -0.2, 0.0, 0.1, 0.5, 0.999, 1.0, 1.3, 2.5])
# (lo, nominal, hi) triples, per bin: shapes up/down, one-sided, asymmetric, crossing
HISTOGRAMS = [
    [[8.0, 10.0, 13.0], [3.0, 2.5, 2.2], [1.0, 1.0, 1.4], [5.0, 6.0, 5.5], [0.5, 2.0, 9.0]]
]


def pyhf_values(code, alphas):
    """pyhf's interpolated values for HISTOGRAMS at each alpha: shape (alphas, bins)."""
    sets = [
        [
            [
                [h[0] for h in HISTOGRAMS[0]],
                [h[1] for h in HISTOGRAMS[0]],
                [h[2] for h in HISTOGRAMS[0]],
            ]
        ]
    ]
    pyhf.set_backend("numpy")
    interpolator = {
        "code0": pyhf.interpolators.code0,
        "code1": pyhf.interpolators.code1,
        "code2": pyhf.interpolators._slow_code2,
        "code4": pyhf.interpolators.code4,
        "code4p": pyhf.interpolators.code4p,
    }[code]
    if code == "code2":
        result = interpolator(sets)(np.array([alphas]))
    else:
        result = interpolator(sets, subscribe=False)(np.array([alphas]))
    return np.asarray(result)[0, 0]  # (alphas, bins)


@pytest.mark.parametrize("code", ["code0", "code2", "code4p"])
def test_additive_codes_equal_pyhf(code):
    truth = pyhf_values(code, ALPHAS)
    lo, nom, hi = (
        torch.tensor([h[k] for h in HISTOGRAMS[0]], dtype=torch.float64) for k in range(3)
    )
    alpha = torch.tensor(ALPHAS, dtype=torch.float64)[:, None]
    ours = additive_delta(code, alpha, hi, nom, lo).numpy()
    np.testing.assert_allclose(ours, truth, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("code", ["code0", "code2", "code4p", "code1", "code4"])
def test_factor_interpolation_equals_pyhf_on_relative_variations(code):
    """A factor with nominal 1: pyhf applied to (lo/nom, 1, hi/nom) against interpolate()."""
    rows = np.array(HISTOGRAMS[0])
    relative = rows / rows[:, 1:2]
    saved = HISTOGRAMS[0]
    HISTOGRAMS[0] = relative.tolist()
    try:
        truth = pyhf_values(code, ALPHAS)
    finally:
        HISTOGRAMS[0] = saved
    if code in ("code0", "code2", "code4p"):
        truth = 1.0 + truth  # pyhf returns the deltas of additive codes
    alpha = torch.tensor(ALPHAS, dtype=torch.float64)[:, None]
    hi = torch.tensor(relative[:, 2], dtype=torch.float64)
    lo = torch.tensor(relative[:, 0], dtype=torch.float64)
    ours = interpolate(code, alpha, hi, lo).numpy()
    np.testing.assert_allclose(ours, truth, rtol=1e-12, atol=1e-13)


def test_code2_is_discontinuous_at_one_as_pyhf_defines_it():
    t = lambda v: torch.tensor(v, dtype=torch.float64)  # noqa: E731
    inside = float(interpolate("code2", t(1.0), t(2.0), t(0.5)))
    outside = float(interpolate("code2", t(1.0 + 1e-9), t(2.0), t(0.5)))
    assert inside == pytest.approx(2.0) and outside == pytest.approx(1.0, abs=1e-6)


def test_per_event_factors_broadcast():
    """alpha (batch, 1) against per-event ratios (n,): one value per (point, event)."""
    hi = torch.tensor([1.1, 0.95, 1.3], dtype=torch.float64)
    lo = torch.tensor([0.9, 1.02, 0.8], dtype=torch.float64)
    alpha = torch.tensor([[-1.0], [0.0], [1.0]], dtype=torch.float64)
    for code in ("code0", "code1", "code2", "code4", "code4p"):
        out = interpolate(code, alpha, hi, lo)
        assert out.shape == (3, 3)
        torch.testing.assert_close(out[0], lo)
        torch.testing.assert_close(out[1], torch.ones(3, dtype=torch.float64))
        torch.testing.assert_close(out[2], hi)


def test_unknown_code_names_the_choices():
    t = torch.tensor(0.0)
    with pytest.raises(ValueError, match="code0, code1, code2, code4, code4p"):
        interpolate("code3", t, t, t)
