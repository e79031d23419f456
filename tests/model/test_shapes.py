"""Per-event shape systematics (nsbi.model.shapes) against the interpolation codes, which are
tested against pyhf live, and against the exact densities of an exponential-tilt toy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nsbi.infer.minimize import Objective
from nsbi.model.interpolation import additive_delta, interpolate
from nsbi.model.shapes import ShapeSystematics
from nsbi.model.unbinned import UnbinnedChannel, UnbinnedSample, YieldModifier
from nsbi.simulators import SystematicsToy
from nsbi.workspace import parse

PAIRS = [(0, 1), (1, 1), (1, 2), (2, 3), (0, 3), (2, 2)]
ALPHAS = ([0.3, -0.5, 1.7], [-1.2, 0.0, 0.99], [1.0, -1.0, 2.0], [-2.5, 0.5, -0.01])


def _tables(seed=0, n=3000):
    rng = np.random.default_rng(seed)
    hi = {d: rng.normal(0, 0.15, (n, len(PAIRS))) for d in ("observed", "reference")}
    lo = {d: -0.8 * v + rng.normal(0, 0.03, v.shape) for d, v in hi.items()}
    # what the class stores: float32
    hi = {d: v.astype(np.float32) for d, v in hi.items()}
    lo = {d: v.astype(np.float32) for d, v in lo.items()}
    return hi, lo


@pytest.mark.parametrize("code", ["code0", "code1", "code2", "code4", "code4p"])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_log_factors_follow_the_interpolation_codes(code, alpha):
    """ln g_j = sum_k ln I_code(alpha_k; g+, g-) (multiplicative), ln(1 + sum_k Delta_k)
    (additive), per event, with the per-pair functions that equal pyhf's."""
    hi, lo = _tables()
    shapes = ShapeSystematics(PAIRS, hi, lo, n_samples=3, code=code)
    pars = torch.tensor([1.0, *alpha], dtype=torch.float64)
    got = shapes.log_factors(pars, "observed").numpy()
    g_hi = torch.exp(torch.as_tensor(hi["observed"], dtype=torch.float64))
    g_lo = torch.exp(torch.as_tensor(lo["observed"], dtype=torch.float64))
    expected = np.zeros_like(got)
    if code in ("code1", "code4"):
        for p, (j, k) in enumerate(PAIRS):
            a = torch.tensor(float(pars[k]), dtype=torch.float64)
            expected[:, j] += np.log(interpolate(code, a, g_hi[:, p], g_lo[:, p]).numpy())
    else:
        total = np.ones_like(got)
        for p, (j, k) in enumerate(PAIRS):
            a = torch.tensor(float(pars[k]), dtype=torch.float64)
            one = torch.ones_like(g_hi[:, p])
            total[:, j] += additive_delta(code, a, g_hi[:, p], one, g_lo[:, p]).numpy()
        expected = np.log(total)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("code", ["code1", "code4"])
@pytest.mark.parametrize("alpha", ALPHAS)
def test_fused_pass_equals_plain_torch(code, alpha):
    """The fused pass (one parameter point) gives the values and gradients of the plain torch
    computation (a batch of one point), to float32 storage of the derivative."""
    hi, lo = _tables(1)
    shapes = ShapeSystematics(PAIRS, hi, lo, n_samples=3, code=code)
    weights = torch.as_tensor(np.random.default_rng(2).normal(size=(3000, 3)))
    pars = torch.tensor([1.0, *alpha], dtype=torch.float64, requires_grad=True)
    fused = (shapes.log_factors(pars, "observed") * weights).sum()
    (grad_fused,) = torch.autograd.grad(fused, pars)
    batch = pars.detach()[None].clone().requires_grad_()
    plain = (shapes.log_factors(batch, "observed")[0] * weights).sum()
    (grad_plain,) = torch.autograd.grad(plain, batch)
    assert float(fused) == pytest.approx(float(plain), abs=1e-10)
    np.testing.assert_allclose(grad_fused.numpy(), grad_plain[0].numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("alpha", ALPHAS[:2])
def test_compiled_code4_pass_equals_the_eager_one(alpha):
    """torch.compile of the code4 pass (used for large tables) changes nothing but speed."""
    hi, lo = _tables(3)
    pars = torch.tensor([1.0, *alpha], dtype=torch.float64)
    results = []
    for compile in (False, True):
        shapes = ShapeSystematics(PAIRS, hi, lo, n_samples=3, code="code4", compile=compile)
        p = pars.clone().requires_grad_()
        value = shapes.log_factors(p, "reference")
        (grad,) = torch.autograd.grad(value.sum(), p)
        results.append((value.detach().numpy(), grad.numpy()))
    np.testing.assert_allclose(results[1][0], results[0][0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(results[1][1], results[0][1], rtol=1e-12, atol=1e-9)


def test_products_out_of_range_fall_back_to_sums_of_logarithms():
    """ln prod_p I_p is taken as one logarithm per process; where the product overflows (huge
    variations, many pairs) the chunk is summed in logarithms and still equals the codes."""
    n, pairs = 50, [(0, 1 + k) for k in range(40)]
    hi = {"observed": np.full((n, 40), 60.0, np.float32)}
    lo = {"observed": np.full((n, 40), -60.0, np.float32)}
    shapes = ShapeSystematics(pairs, hi, lo, n_samples=1, code="code4")
    pars = torch.tensor([1.0, *([0.9] * 40)], dtype=torch.float64)
    got = shapes.log_factors(pars, "observed")
    assert torch.isfinite(got).all()
    plain = shapes.log_factors(pars[None], "observed")[0]
    np.testing.assert_allclose(got.numpy(), plain.numpy(), rtol=1e-12)


def test_code1_is_exact_for_an_exponential_tilt():
    """For the toy's background family p(x|a) = p(x|0) g+(x)^a / Z(a), per-event code1 gives the
    exact density ratio between any two events at any alpha (the normalisation cancels)."""
    toy = SystematicsToy()
    x = np.linspace(-4, 5, 50)
    log_g = {a: toy.log_density("B", x, a) - toy.log_density("B", x) for a in (1.0, -1.0)}
    tables_hi = {"observed": log_g[1.0][:, None], "reference": log_g[1.0][:, None]}
    tables_lo = {"observed": log_g[-1.0][:, None], "reference": log_g[-1.0][:, None]}
    shapes = ShapeSystematics([(0, 1)], tables_hi, tables_lo, n_samples=1, code="code1")
    for alpha in (-1.7, -0.4, 0.6, 2.3):
        model = shapes.log_factors(torch.tensor([1.0, alpha], dtype=torch.float64), "observed")
        model = model[:, 0].numpy()
        exact = toy.log_density("B", x, alpha) - toy.log_density("B", x)
        # equal up to the constant -ln Z(alpha), to float32 table precision
        np.testing.assert_allclose(model - model[0], exact - exact[0], atol=2e-5)


def _toy_channel(code: str, n_reference: int = 100_000, seed: int = 0):
    """The SystematicsToy as an UnbinnedChannel with EXACT ratio and shape tables."""
    toy = SystematicsToy()
    rng = np.random.default_rng(seed)
    reference = np.concatenate(
        [toy.sample("S", n_reference, rng), toy.sample("B", n_reference, rng)]
    )[:, 0]
    omega = np.concatenate([np.full(n_reference, toy.nu_s), np.full(n_reference, toy.nu_b)]) / (
        n_reference * (toy.nu_s + toy.nu_b)
    )

    def log_ref(z):
        return np.logaddexp(
            np.log(toy.nu_s) + toy.log_density("S", z), np.log(toy.nu_b) + toy.log_density("B", z)
        ) - np.log(toy.nu_s + toy.nu_b)

    def log_r(z):
        return np.stack([toy.log_density(p, z) - log_ref(z) for p in ("S", "B")], 1)

    def log_g(z, a):
        return (toy.log_density("B", z, a) - toy.log_density("B", z))[:, None]

    shapes = ShapeSystematics(
        [(1, 1)],
        {"reference": log_g(reference, 1.0), "observed": log_g(reference, 1.0)},
        {"reference": log_g(reference, -1.0), "observed": log_g(reference, -1.0)},
        n_samples=2,
        code=code,
    )
    samples = [
        UnbinnedSample("S", parse("mu"), toy.nu_s, []),
        UnbinnedSample(
            "B",
            parse("1"),
            toy.nu_b,
            [
                YieldModifier("alpha_shape", "shape", 1.0, 1.0),
                YieldModifier("alpha_norm", "normsys", toy.kappa_hi, toy.kappa_lo),
            ],
        ),
    ]
    channel = UnbinnedChannel(
        "SR",
        samples,
        {"observed": log_r(reference), "reference": log_r(reference)},
        {"observed": np.ones(len(reference)), "reference": omega},
        {"mu": 0, "alpha_shape": 1, "alpha_norm": 2},
        shapes=shapes,
    )
    return toy, channel


@pytest.mark.parametrize("code", ["code1", "code4"])
def test_asimov_fit_returns_the_injected_parameters(code):
    """On the Asimov dataset at (mu, alpha_s, alpha_n), the renormalised per-event model's
    best fit is the injected point (with the alphas' constraint terms centred there)."""
    from scipy.optimize import minimize

    toy, channel = _toy_channel(code)
    truth = torch.tensor([1.3, 0.7, -0.4], dtype=torch.float64)
    weights = channel.asimov_weights(truth).detach()
    assert float(weights.sum()) == pytest.approx(
        1.3 * toy.nu_s + toy.nu_b * float(toy.yield_factor(-0.4)), rel=1e-9
    )

    def nll(p):
        return channel.nll(p, "reference", weights) + 0.5 * ((p[1:] - truth[1:]) ** 2).sum()

    objective = Objective(nll, twice_differentiable=False)
    result = minimize(
        objective.value,
        np.array([1.0, 0.0, 0.0]),
        jac=objective.grad,
        method="BFGS",
        options={"gtol": 1e-9},
    )
    np.testing.assert_allclose(result.x, truth.numpy(), atol=2e-4)


def test_gradient_difference_hessian_matches_autograd():
    """Models with the fused (once-differentiable) pass get their Hessian from differences of
    the exact gradient; it equals torch's exact Hessian of the plain computation."""
    _, channel = _toy_channel("code4", n_reference=20_000)
    point = np.array([1.1, 0.4, -0.2])

    def plain(p):  # a batch of one point takes the plain, twice-differentiable path
        return channel.nll(p[None], "reference")[0] + 0.5 * (p[1:] ** 2).sum()

    exact = torch.autograd.functional.hessian(plain, torch.tensor(point)).numpy()
    fused = Objective(
        lambda p: channel.nll(p, "reference") + 0.5 * (p[1:] ** 2).sum(),
        twice_differentiable=False,
    ).hessian(point)
    np.testing.assert_allclose(fused, exact, rtol=1e-5, atol=1e-7)
    # and autograd's double backward through the fused pass would NOT be exact: guard it
    assert not channel.twice_differentiable


def test_failed_compilation_warns_and_runs_eagerly(monkeypatch):
    """Without a working compiler the code4 pass warns once and gives the eager results."""
    from nsbi.model import shape_kernels

    def broken():
        def chunk(*args):
            raise RuntimeError("no C++ compiler")

        return chunk

    monkeypatch.setattr(shape_kernels, "_compiled_chunk", broken)
    monkeypatch.setattr(shape_kernels, "_COMPILE_FAILED", [])
    hi, lo = _tables(4)
    pars = torch.tensor([1.0, 0.3, -0.5, 0.2], dtype=torch.float64)
    eager = ShapeSystematics(PAIRS, hi, lo, n_samples=3, code="code4", compile=False)
    forced = ShapeSystematics(PAIRS, hi, lo, n_samples=3, code="code4", compile=True)
    with pytest.warns(RuntimeWarning, match="torch.compile of the shape-systematics pass failed"):
        got = forced.log_factors(pars, "observed")
    np.testing.assert_array_equal(got.numpy(), eager.log_factors(pars, "observed").numpy())
    assert shape_kernels._COMPILE_FAILED  # later passes skip the attempt
