"""One trained interference workspace shared by the unbinned end-to-end tests.

The toy's densities are exact, so every learned quantity is compared with the truth. The ratio
ensembles are trained once per test session through ``nsbi train`` (small networks, 100k events
per sample, 5 members: about a minute on two CPU cores).
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import optimize

from nsbi.cli.main import cli
from nsbi.io import write_ntuple
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


# --- an exact-density unbinned workspace: one weighted sample, weight-based shape systematics ---

SLOPE = 0.2  # w_up / w = exp(+SLOPE x), w_down / w = exp(-SLOPE x)
N_SIM, N_DATA_EXPECTED = 20_000, 500.0


def _branches(x, weight):
    return {
        "x": x,
        "w": np.full(len(x), weight),
        "w_up": weight * np.exp(SLOPE * x),
        "w_down": weight * np.exp(-SLOPE * x),
    }


def weighted_shape_channel() -> dict:
    """An unbinned SR: one sample B (x ~ N(0, 1)), a normfactor k_B and a weight-based shape
    'jes' with w_up / w = exp(+SLOPE x), w_down / w = exp(-SLOPE x)."""
    return {
        "name": "SR",
        "type": "unbinned",
        "observables": ["x"],
        "reference": {"samples": ["B"]},
        "samples": [
            {
                "name": "B",
                "source": {"file": "B.root", "tree": "events", "weight": "w"},
                "modifiers": [
                    {"name": "k_B", "type": "normfactor", "data": None},
                    {
                        "name": "jes",
                        "type": "shape",
                        "data": {"hi": {"weight": "w_up"}, "lo": {"weight": "w_down"}},
                    },
                ],
            }
        ],
    }


#: a binned CR sharing k_B and jes with the SR
CONTROL_REGION = {
    "name": "CR",
    "samples": [
        {
            "name": "B",
            "data": [300.0, 200.0],
            "modifiers": [
                {"name": "k_B", "type": "normfactor", "data": None},
                {
                    "name": "jes",
                    "type": "histosys",
                    "data": {"hi_data": [330.0, 185.0], "lo_data": [272.0, 214.0]},
                },
            ],
        }
    ],
}


def write_weighted_shape_workspace(directory, channels, data_has_weights=True):
    """Write B.root (N_SIM events), data.root (Poisson(N_DATA_EXPECTED) events of the same
    density) and a workspace of ``channels`` with POI k_B; return its path."""
    rng = np.random.default_rng(5)
    write_ntuple(
        directory / "B.root",
        {"events": _branches(rng.normal(0, 1, N_SIM), N_DATA_EXPECTED / N_SIM)},
    )
    x = rng.normal(0, 1, rng.poisson(N_DATA_EXPECTED))
    data = _branches(x, 1.0) if data_has_weights else {"x": x}
    write_ntuple(directory / "data.root", {"events": data})
    observations = []
    for channel in channels:
        if channel.get("type") == "unbinned":
            observations.append(
                {"name": channel["name"], "source": {"file": "data.root", "tree": "events"}}
            )
        else:
            observations.append({"name": channel["name"], "data": [300, 200]})
    spec = {
        "version": "1.0.0",
        "channels": channels,
        "observations": observations,
        "measurements": [{"name": "m", "config": {"poi": "k_B", "parameters": []}}],
    }
    path = directory / f"ws_{'_'.join(c['name'] for c in channels)}.json"
    path.write_text(json.dumps(spec))
    return path
