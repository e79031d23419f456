"""A learned statistic trained on a workspace model (Poisson-reweighted reference events) and
used to order the toys of a Neyman belt: ``nsbi train-statistic`` and ``nsbi belt --statistic``
on the trained interference workspace."""

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from nsbi.cli.main import cli
from nsbi.exceptions import NSBIError
from nsbi.infer.toys import generate
from nsbi.sets import WorkspaceSource, load_statistic
from tests.conftest import simple_spec


def test_workspace_source_draws_the_exact_yield(trained_workspace, toy):
    """The datasets' cardinalities are Poisson with the exact toy yield at mu (within the
    accuracy of the learned ratios that weight the reference events, a few percent)."""
    source = WorkspaceSource.from_workspace(trained_workspace)
    assert source.observables == tuple(toy.observable_names) and source.poi == "mu"
    for mu in (0.5, 2.0):
        x, w = source.sample(torch.full((400,), mu), torch.Generator().manual_seed(1))
        assert x.shape == (source.channel.n_events("reference"), len(toy.observable_names))
        totals = w.sum(1).double().numpy()
        expected = float(toy.total_yield(mu))
        assert totals.mean() == pytest.approx(expected, rel=0.03)
        assert totals.var() == pytest.approx(expected, rel=0.25)  # Poisson
    assert source.observed is not None and source.observed.shape[1] == x.shape[1]


def test_train_statistic_and_belt_with_it(trained_workspace, tmp_path):
    runner = CliRunner()
    folder = tmp_path / "statistic"
    result = runner.invoke(
        cli,
        ["train-statistic", str(trained_workspace), "--output", str(folder), "--steps", "150",
         "--batch", "16", "--validation", "64", "--theta-range", "0.5", "3", "--quiet",
         "--report", str(tmp_path / "report.json"), "--plot", str(tmp_path / "training")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (tmp_path / "training" / "training.png").is_file()
    statistic = load_statistic(folder)
    assert statistic.observables and statistic.poi == "mu"
    assert json.loads((tmp_path / "report.json").read_text())["steps"][-1] == 150

    # it discriminates: toys at mu = 1 look more like mu = 1 than like mu = 3
    source = WorkspaceSource.from_workspace(trained_workspace)
    x, w = source.sample(torch.full((200,), 1.0), torch.Generator().manual_seed(2))
    t = statistic.on_grid(x, w, [1.0, 3.0])
    assert np.mean(t[:, 0] < t[:, 1]) > 0.8
    # the belt's toys reach the network as their nonzero weights only: same values as dense
    toys = generate(source.model, source.model.parameter_vector({"mu": 1.0}), 50, key=(3,))
    sparse = toys.weights[source.channel.name]
    np.testing.assert_allclose(statistic.on_grid(source.features, sparse, [1.0, 3.0]),
                               statistic.on_grid(source.features, sparse.to_dense(), [1.0, 3.0]),
                               rtol=1e-4, atol=1e-4)  # fmt: skip

    out = tmp_path / "belt.json"
    result = runner.invoke(
        cli,
        ["belt", str(trained_workspace), "--poi-grid", "0.5:3:6", "--toys", "60",
         "--statistic", str(folder), "--scheduler", "serial", "--output", str(out),
         "--plot", str(tmp_path / "plots"), "--quiet"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    belt = json.loads(out.read_text())
    assert belt["statistic"] == "learned" and belt["toys_per_point"] == 60
    assert len(belt["observed"]["t"]) == 6 and belt["fallbacks"] == 0
    assert (tmp_path / "plots" / "belt.png").exists()


def test_workspace_with_binned_channels_is_refused(write_spec):
    path = write_spec(simple_spec())
    with pytest.raises(NSBIError, match="exactly one unbinned channel"):
        WorkspaceSource.from_workspace(path)
    result = CliRunner().invoke(
        cli, ["train-statistic", str(path), "--output", "x", "--steps", "1"]
    )
    assert result.exit_code == 1 and "exactly one unbinned channel" in result.output
    result = CliRunner().invoke(cli, ["train-statistic", "--output", "x"])
    assert result.exit_code == 2 and "either WORKSPACE or --simulator" in result.output
