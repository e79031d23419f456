"""One trained interference workspace shared by the unbinned end-to-end tests.

The toy's densities are exact, so every learned quantity is compared with the truth. The ratio
ensembles are trained once per test session through ``nsbi train`` (small networks, 100k events
per sample, 5 members: about a minute on two CPU cores).
"""

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.special import logsumexp

from nsbi.cli.main import cli
from nsbi.simulators import InterferenceToy, write_toy_workspace

TRAINING = {
    "members": 5,
    "hidden_layers": [32, 32],
    "epochs": 20,
    "batch_size": 2048,
    "learning_rate": 0.005,
    "patience": 20,
    "seed": 0,
}


def make_toy() -> InterferenceToy:
    return InterferenceToy(
        d=2,
        nu_signal=50.0,
        nu_background=200.0,
        interference=0.3,
        signal_cov=np.diag([0.81, 0.81]),
        background_cov=np.eye(2),
    )


def exact_log_ratio(toy: InterferenceToy, process: str, x: np.ndarray) -> np.ndarray:
    """log p_j(x) - log p_ref(x), p_ref the yield-weighted pool of all three samples."""
    yields = toy.yields()
    total = sum(yields.values())
    log_ref = logsumexp(
        np.stack([toy.log_density(p, x) + np.log(yields[p] / total) for p in toy.processes]),
        axis=0,
    )
    return toy.log_density(process, x) - log_ref


@pytest.fixture(scope="session")
def exact_log_ratio_of():
    return exact_log_ratio


@pytest.fixture(scope="session")
def toy():
    return make_toy()


@pytest.fixture(scope="session")
def trained_workspace(tmp_path_factory, toy):
    directory = tmp_path_factory.mktemp("interference")
    path = write_toy_workspace(
        toy, directory, events_per_sample=100_000, seed=3, training=TRAINING, poi_bounds=(0, 5)
    )
    result = CliRunner().invoke(cli, ["train", str(path), "--quiet"])
    assert result.exit_code == 0, result.output
    return path
