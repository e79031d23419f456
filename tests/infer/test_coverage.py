"""Coverage of belt intervals: the fraction of pseudo-observations whose interval contains the
truth is the confidence level, within two binomial standard errors."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest

from nsbi.infer.coverage import coverage
from nsbi.model import Model
from nsbi.workspace import Workspace


def test_coverage_counts_and_expected_value():
    """Bookkeeping on a one-bin counting model: covered means t_obs <= t_c, the binomial error
    is sqrt(p(1-p)/N), and a perfect construction's coverage is ceil(T CL)/(T+1)."""
    simple = pyhf.simplemodels.uncorrelated_background([10.0], [50.0], [7.0])
    ws = Workspace(
        {
            "channels": simple.spec["channels"],
            "observations": [{"name": "singlechannel", "data": [60]}],
            "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
            "version": "1.0.0",
        }
    )
    result = coverage(Model.from_workspace(ws), {"mu": 1.0}, 40, 60, seed=5)
    covered = result.t_observed[:, None] <= result.critical
    np.testing.assert_array_equal(result.covered, covered)
    p, error = result.fraction(0.6827)
    assert p == covered[:, 0].mean() and error == pytest.approx(np.sqrt(p * (1 - p) / 40))
    assert result.expected(0.6827) == pytest.approx(np.ceil(60 * 0.6827) / 61)
    assert set(result.to_dict()["coverage"]) == {"0.6827", "0.9545"}


@pytest.mark.slow
def test_unbinned_toy_belt_intervals_cover(tmp_path):
    """The interference toy (exact densities, learned ratios) with a 10% background
    normalisation NP, profile construction: 500 pseudo-observations at mu = 1, 100 toys each;
    the coverage at 68.27% and 95.45% CL is within 2 binomial standard errors of nominal.
    (About 15 minutes on two CPU cores; `python examples/belt_coverage.py` runs the same
    settings and draws it.)"""
    from examples.belt_coverage import coverage_workspace

    path = coverage_workspace(tmp_path, events_per_sample=1000, seed=11)
    model = Model.from_workspace(Workspace.load(path))
    assert "bkg_norm" in model.parameters.names
    result = coverage(model, {"mu": 1.0}, 500, 100, seed=11)
    print(result)
    for cl in (0.6827, 0.9545):
        p, error = result.fraction(cl)
        assert abs(p - cl) < 2 * error, (cl, p, error)
