r"""Issue 6's p0 target: the asymptotic p0 and CLs of a learned (NSBI) signal-strength model
within 5% of the exact model's near 3 sigma, on four independent draws of the simulation (slow:
1M simulated events per sample, about 3.5 minutes of training per draw on one core;
``pytest -m slow``).

The model is the closure toy without interference, :math:`\mu S + B` (``closure_toy(0.0)``,
samples ``S`` and ``B``, the background as reference, so one ratio, S/B, is learned). p0 within
5% near 3 sigma asks |q0_A - 9| < 0.09 (d ln p0 / d q0 = -0.55 there), a 1% accuracy of the
Asimov discovery statistic. Both sides are computed without shortcuts: nsbi's side trains the
workspace through ``nsbi train`` and uses the model's own Asimov data (its reference events
reweighted) and fits; the exact side is the Monte-Carlo-free quadrature
``InterferenceToy.asimov_statistic`` and the exact likelihood ``InterferenceToy.nll``.

Measured (seeds 4-7, 5 members of 32x32, 20 epochs, two threads): q0_A 8.996, 9.017, 8.953,
9.009 (p0 ratio 1.003, 0.991, 1.026, 0.995); median expected CLs 0.0501, 0.0498, 0.0505, 0.0499
at the exact expected limit; observed CLs 0.0519, 0.0531, 0.0498, 0.0491 at the exact observed
limit (about 250 events: each event's ratio error counts, hence 10% there). At 100k events per sample
the same training spreads over 8.90-9.28 (p0 within 14%), so the default suite's 100k fixture
guards the scale, not this target. With the pooled reference S + B (two learned ratios) 1M
gives 9.021, 9.059 (p0 0.989, 0.968): the background's ratio to the pool adds an error of its
own. The interference model's p0 is harder still (docs/concepts.md, "How accurate must the
learned ratios be for a discovery p-value?").
"""

import numpy as np
import pytest
from scipy import optimize, stats

from nsbi.infer.hypotest import AsymptoticCalculator, asymptotic_pvalues
from nsbi.infer.likelihood_ratio import test_statistic
from nsbi.infer.limits import upper_limit
from nsbi.model import Model
from nsbi.simulators import closure_toy
from nsbi.workspace import Workspace
from nsbi.workspace.events import observed_events
from tests.unbinned.conftest import exact_minimum, train_toy_workspace


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4, 5, 6, 7])
def test_p0_and_cls_of_a_signal_strength_model_match_exact(tmp_path, seed):
    toy = closure_toy(0.0)
    path = train_toy_workspace(toy, tmp_path, 1_000_000, seed=seed, samples=("S", "B"),
                               reference=("B",))  # fmt: skip
    ws = Workspace.load(path)
    model = Model.from_workspace(ws)

    # p0 of the Asimov data at the mu' where the exact q0_A is 9 (3 sigma)
    mu3 = toy.discovery_mu(3.0)
    q0 = test_statistic(model.asimov(model.parameter_vector({"mu": mu3})), 0.0, "q0").value
    p0, exact_p0 = stats.norm.sf(np.sqrt(q0)), stats.norm.sf(3.0)

    # the median expected CLs (qtilde, background-only Asimov) at the exact expected 95% limit
    def exact_cls(mu):
        return asymptotic_pvalues(0.0, toy.asimov_statistic(0.0, mu), "qtilde", x=0.0)[2]

    limit = optimize.brentq(lambda mu: exact_cls(mu) - 0.05, 0.05, 5.0, xtol=1e-8)
    calculator = AsymptoticCalculator(model)
    cls_exp = calculator.hypotest(limit).cls_exp[2]

    # the observed CLs of the workspace's pseudo-data (drawn at mu = 1, about 250 events) at
    # the exact observed 95% limit
    x = observed_events(ws, ws.channel("SR")).features
    weights = np.ones(len(x))
    best, nll_best = exact_minimum(toy, x, weights)

    def exact_observed_cls(mu):
        q = 0.0 if best > mu else 2 * (toy.nll(mu, x, weights) - nll_best)
        return asymptotic_pvalues(q, toy.asimov_statistic(0.0, mu), "qtilde")[2]

    observed_limit = optimize.brentq(lambda mu: exact_observed_cls(mu) - 0.05, best + 1e-6,
                                     5.0, xtol=1e-8)  # fmt: skip
    cls_obs = calculator.hypotest(observed_limit).cls_obs
    # nsbi's own limits (TOMS 748 on CLs) against the exact ones
    limits = upper_limit(model, range=(0.05, 5.0))

    print(f"\nseed {seed}: q0_A {q0:.4f} at mu' {mu3:.4f}, p0 ratio {p0 / exact_p0:.4f}; "
          f"median CLs_exp {cls_exp:.5f} at the exact expected limit {limit:.4f}; "
          f"CLs_obs {cls_obs:.5f} at the exact observed limit {observed_limit:.4f}; limits "
          f"{limits.observed:.4f} observed, {limits.expected[2]:.4f} expected")  # fmt: skip
    assert abs(p0 / exact_p0 - 1) < 0.05, (mu3, q0, p0, exact_p0)
    assert abs(cls_exp / 0.05 - 1) < 0.05, (limit, cls_exp)
    assert abs(cls_obs / 0.05 - 1) < 0.10, (observed_limit, cls_obs)
    assert abs(limits.expected[2] / limit - 1) < 0.02, (limits, limit)
    assert abs(limits.observed / observed_limit - 1) < 0.02, (limits, observed_limit)
