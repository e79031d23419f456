"""Issue 3's closure targets at the training size where they hold for every draw (slow: about
12 minutes of training on one core; run with ``pytest -m slow``).

The default tests train on 100k events per sample and guard |delta t| < 0.2: at that size the
expected scan's difference from the exact one scatters over draws of the simulation from 0.01 to
0.19 (``benchmarks/ratio_closure.py``, seeds 3-6). The error falls as 1/sqrt(N): with 1M events
per sample the benchmark measured max |delta t| (t < 4, on each model's own Asimov data) of
0.048, 0.055 and 0.010 for seeds 4, 5, 6 (0.16, 0.19 and 0.12 with 100k). This test trains the
workspace of seed 4 (the worst draw at 100k) at 1M events through ``nsbi train`` and checks the
issue's targets against the exact, Monte-Carlo-free statistic.
"""

import numpy as np
import pytest

from nsbi.infer import scan
from nsbi.model import Model
from nsbi.workspace import Workspace
from tests.unbinned.conftest import train_toy_workspace


@pytest.mark.slow
def test_expected_scan_matches_exact_within_a_tenth_at_one_million_events(tmp_path, toy):
    path = train_toy_workspace(toy, tmp_path, 1_000_000, seed=4)
    model = Model.from_workspace(Workspace.load(path))
    values = np.linspace(0.0, 2.5, 26)
    exact = toy.asimov_statistic(1.0, values)
    learned = scan(model.asimov(model.parameter_vector({"mu": 1.0})), values=values)
    inside = exact < 4.0
    difference = np.abs(learned.t - exact)[inside]
    assert difference.max() < 0.1, dict(zip(values[inside], difference.round(3), strict=True))
