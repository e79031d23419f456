"""Hierarchical (global + local) set posteriors against the exact posteriors of the two-level
normal model (nsbi.simulators.hierarchical_normal)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nsbi.sets import HierarchicalPosterior, HierarchicalTraining, train_hierarchical
from nsbi.simulators import HierarchicalNormalSource
from nsbi.simulators.hierarchical_normal import HierarchicalNormalToy


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(2)
    config = HierarchicalTraining(steps=1000, batch=64, learning_rate=2e-3, validation=512,
                                  eval_every=250,
                                  network={"features": 16, "encoder": [64, 64],
                                           "decoder": [64, 64]})  # fmt: skip
    source = HierarchicalNormalSource()
    model, _ = train_hierarchical(source, config)
    return model, source.toy


@pytest.mark.parametrize("n", [1, 5, 20])
def test_global_and_local_posteriors_match_the_exact_ones(trained, n):
    """Reduced training (1000 steps, 64-wide): global and local posterior widths within 10% of
    the exact ones (median over 400 datasets), means within a fraction of the exact width, and
    the local posterior given the true theta (the conditional the local head learns)."""
    model, toy = trained
    rng = np.random.default_rng(100 + n)
    theta = toy.sample_prior(400, rng)
    _, z, x, mask = toy.simulate(theta, np.full(400, n), rng)
    draws_global, draws_local = model.sample(x, mask, 2000, seed=1)

    mean, std = toy.global_posterior(x, mask)
    g_mean, g_std = draws_global.mean(0)[:, 0].numpy(), draws_global.std(0)[:, 0].numpy()
    assert abs(np.median(g_std / std) - 1) < 0.10
    assert np.sqrt(np.mean(((g_mean - mean) / std) ** 2)) < 0.3

    local_mean, local_std = toy.local_posterior(x, mask)
    l_mean, l_std = draws_local.mean(0)[..., 0].numpy(), draws_local.std(0)[..., 0].numpy()
    assert abs(np.median(l_std / local_std) - 1) < 0.10
    assert np.sqrt(np.mean(((l_mean - local_mean) / local_std) ** 2)) < 0.2
    assert np.corrcoef(l_mean.ravel(), z[..., 0].ravel())[0, 1] > 0.9

    # the conditional p(z_i | x_i, theta) at the true theta: its mean, in exact widths
    given = model.sample_local(x, mask, torch.as_tensor(theta, dtype=torch.float32), 2000, seed=2)
    c_mean, c_std = toy.local_posterior(x, mask, theta[:, 0])
    assert np.sqrt(np.mean(((given.mean(0)[..., 0].numpy() - c_mean) / c_std) ** 2)) < 0.15
    assert abs(np.median(given.std(0)[..., 0].numpy() / c_std) - 1) < 0.10


def test_local_posteriors_narrow_as_the_dataset_grows(trained):
    """Partial pooling: the same element's local posterior narrows when more elements of its
    dataset constrain theta, as the exact one does."""
    model, toy = trained
    rng = np.random.default_rng(7)
    theta = toy.sample_prior(200, rng)
    _, _, x, mask = toy.simulate(theta, np.full(200, 20), rng)
    alone = model.sample(x[:, :1], mask[:, :1], 2000, seed=3)[1].std(0)[:, 0, 0].numpy()
    pooled = model.sample(x, mask, 2000, seed=3)[1].std(0)[:, 0, 0].numpy()
    exact_alone = toy.local_posterior(x[:, :1], mask[:, :1])[1][:, 0]
    exact_pooled = toy.local_posterior(x, mask)[1][:, 0]
    ratio, exact_ratio = np.median(pooled / alone), np.median(exact_pooled / exact_alone)
    assert ratio < 0.95
    assert abs(ratio - exact_ratio) < 0.05


def test_padding_order_and_seed():
    torch.manual_seed(0)
    model = HierarchicalPosterior(1, 2, n_features=3, features=4, encoder=(8,), decoder=(8,))
    x, mask = torch.randn(2, 5, 3), torch.tensor([[1.0] * 5, [1.0, 1.0, 1.0, 0.0, 0.0]])
    theta, z = torch.zeros(2, 1), torch.zeros(2, 5, 2)
    g, local = model.log_prob(theta, z, x, mask)
    padded = x.clone()
    padded[1, 3:] = 99.0  # padding never matters
    g2, local2 = model.log_prob(theta, z, padded, mask)
    assert torch.allclose(g, g2) and torch.equal(local[1, 3:], torch.zeros(2))
    perm = torch.tensor([4, 2, 0, 1, 3])
    g3, _ = model.log_prob(theta[:1], z[:1], x[:1, perm], mask[:1])
    assert torch.allclose(g[:1], g3, atol=1e-5)  # permutation invariant
    a = model.sample(x, mask, 5, seed=4)
    b = model.sample(x, mask, 5, seed=4)
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))


def test_image_elements():
    """Images through the residual CNN encoder: shapes, and the global term ignores padding."""
    torch.manual_seed(0)
    model = HierarchicalPosterior(2, 4, element="image", features=8, decoder=(16,),
                                  image={"widths": [4, 8], "blocks": [1, 1]})  # fmt: skip
    images, mask = torch.randn(2, 3, 32, 32), torch.tensor([[1.0, 1.0, 1.0], [1.0, 1.0, 0.0]])
    g, local = model.log_prob(torch.zeros(2, 2), torch.zeros(2, 3, 4), images, mask)
    assert g.shape == (2,) and local.shape == (2, 3)
    theta, z = model.sample(images, mask, 7)
    assert theta.shape == (7, 2, 2) and z.shape == (7, 2, 3, 4)


def test_toy_exact_posterior_is_the_conjugate_update():
    """The exact global posterior of the toy equals the normal-normal update on the element
    means computed by brute force on a grid."""
    toy = HierarchicalNormalToy()
    _, _, x, mask = toy.simulate(np.array([1.0]), np.array([6]), rng=3)
    grid = np.linspace(-8, 8, 40001)
    xbar = x[0].mean(-1)
    var = toy.tau**2 + toy.sigma**2 / toy.measurements
    log_post = -0.5 * grid**2 / toy.prior_std**2 - 0.5 * ((xbar[:, None] - grid) ** 2).sum(0) / var
    w = np.exp(log_post - log_post.max())
    w /= w.sum()
    mean, std = toy.global_posterior(x, mask)
    assert np.isclose((w * grid).sum(), mean[0], atol=1e-6)
    assert np.isclose(np.sqrt((w * (grid - mean[0]) ** 2).sum()), std[0], rtol=1e-5)


def test_load_errors_name_the_file(tmp_path):
    from nsbi.sets import SetModelError, load_hierarchical, save_posterior
    from nsbi.sets.posterior import SetPosterior

    with pytest.raises(SetModelError, match="no hierarchical posterior .*hierarchical.json"):
        load_hierarchical(tmp_path / "missing")
    folder = save_posterior(SetPosterior(1, 1, encoder=(4,), embedding=2, decoder=(4,)),
                            tmp_path / "posterior")  # fmt: skip
    (folder / "hierarchical.json").write_text((folder / "posterior.json").read_text())
    with pytest.raises(SetModelError, match="not a hierarchical posterior .*kind 'set_posterior'"):
        load_hierarchical(folder)
