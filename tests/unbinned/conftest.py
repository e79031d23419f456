"""One trained interference workspace shared by the unbinned end-to-end tests.

The toy's densities are exact, so every learned quantity is compared with the truth. The ratio
ensembles are trained once per test session through ``nsbi train`` (small networks, 100k events
per sample, 5 members: about a minute on two CPU cores).
"""

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import optimize

from nsbi.cli.main import cli
from nsbi.simulators import closure_toy, write_toy_workspace

TRAINING = {
    "members": 5,
    "hidden_layers": [32, 32],
    "epochs": 20,
    "batch_size": 2048,
    "learning_rate": 0.005,
    "patience": 20,
    "seed": 0,
}


@pytest.fixture(scope="session")
def toy():
    return closure_toy()


def train_toy_workspace(toy, directory, events_per_sample: int, seed: int, **options):
    """Write the toy's workspace (``TRAINING``, mu in [0, 5]; ``options`` such as ``samples``
    and ``reference`` go to ``write_toy_workspace``) and train it with ``nsbi train``; return
    the JSON path. The slow tests call it with more events per sample."""
    path = write_toy_workspace(
        toy, directory, events_per_sample=events_per_sample, seed=seed, training=TRAINING,
        poi_bounds=(0, 5), **options,
    )  # fmt: skip
    result = CliRunner().invoke(cli, ["train", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    return path


def exact_minimum(toy, x, weights, mu_max=5.0):
    """(mu_hat, NLL) of events ``x`` under the exact model, minimised over kappa = sqrt(mu) in
    [0, sqrt(mu_max)] (smooth in kappa; in mu the sqrt leaves Brent's bounded search short of
    a minimum near 0)."""
    result = optimize.minimize_scalar(
        lambda kappa: toy.nll(kappa**2, x, weights),
        bounds=(0.0, np.sqrt(mu_max)),
        method="bounded",
        options={"xatol": 1e-9},
    )
    return result.x**2, result.fun


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory, toy):
    return train_toy_workspace(toy, tmp_path_factory.mktemp("interference"), 100_000, seed=3)
