"""The deep set's invariances (permutation, padding, weights as multiplicities, shared events)
and its training: every weight gets gradient and moves, at its group's learning rate."""

import pytest
import torch

from nsbi.sets import DeepSet, sum_pool


@pytest.fixture
def net():
    torch.manual_seed(0)
    return DeepSet(n_features=2, n_outputs=3, n_context=1, encoder=(16, 16), embedding=8,
                   head=(16,), scale=10.0)  # fmt: skip


def test_permutation_and_padding_invariance(net):
    x = torch.randn(4, 7, 2)
    mask = torch.ones(4, 7)
    context = torch.randn(4, 1)
    out = net(x, mask, context)
    assert out.shape == (4, 3)
    permuted = net(x[:, torch.randperm(7)], mask, context)
    torch.testing.assert_close(permuted, out)
    padded_x = torch.cat([x, torch.randn(4, 5, 2) * 100], 1)  # padding content must not matter
    padded_mask = torch.cat([mask, torch.zeros(4, 5)], 1)
    torch.testing.assert_close(net(padded_x, padded_mask, context), out)


def test_weights_are_multiplicities_and_shared_events_equal_padded_sets(net):
    events = torch.randn(6, 2)
    weights = torch.tensor([[2.0, 0.0, 1.0, 0.0, 3.0, 1.0], [0.0, 1.0, 0.0, 0.0, 0.0, 2.0]])
    context = torch.tensor([[0.5], [-1.0]])
    shared = net(events, weights, context)
    for b in range(2):  # the same datasets with events repeated, as padded sets
        repeated = events.repeat_interleave(weights[b].long(), dim=0)
        single = net(repeated[None], torch.ones(1, len(repeated)), context[b : b + 1])
        torch.testing.assert_close(single[0], shared[b], rtol=1e-5, atol=1e-5)


def test_cardinality_is_an_argument(net):
    x, mask, context = torch.randn(2, 5, 2), torch.ones(2, 5), torch.zeros(2, 1)
    default = net(x, mask, context)
    torch.testing.assert_close(net(x, mask, context, cardinality=mask.sum(-1)), default)
    assert not torch.allclose(net(x, mask, context, cardinality=torch.tensor([50.0, 50.0])),
                              default)  # fmt: skip


def test_sum_pool_shapes():
    phi = torch.randn(3, 5, 4)
    w = torch.rand(3, 5)
    torch.testing.assert_close(sum_pool(phi, w), (w[..., None] * phi).sum(1))


def test_every_weight_gets_gradient_and_changes(net):
    groups = net.parameter_groups()
    assert len(groups["element"]) + len(groups["set"]) == len(list(net.parameters()))
    optimiser = torch.optim.Adam(
        [{"params": groups["element"], "lr": 1e-4}, {"params": groups["set"], "lr": 1e-2}]
    )
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    x, mask = torch.randn(8, 6, 2), (torch.rand(8, 6) > 0.3).float()
    context, target = torch.randn(8, 1), torch.randn(8, 3)
    for _ in range(3):
        loss = ((net(x, mask, context) - target) ** 2).mean()
        optimiser.zero_grad()
        loss.backward()
        for name, parameter in net.named_parameters():
            assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name
        optimiser.step()
    element = {f"encoder.{n}" for n, _ in net.encoder.named_parameters()}
    for name, parameter in net.named_parameters():
        change = (parameter - before[name]).abs().max()
        # Adam moves each weight by about its learning rate per step (3 steps)
        limit = 3.5e-4 if name in element else 3.5e-2
        assert 0 < change <= limit, (name, float(change))


def test_needs_context_when_declared(net):
    with pytest.raises(ValueError, match="needs a context"):
        net(torch.randn(2, 3, 2), torch.ones(2, 3))
    with pytest.raises(ValueError, match="activation"):
        DeepSet(1, activation="sigmoid")
