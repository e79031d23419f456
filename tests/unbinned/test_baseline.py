"""The histogram baseline: pyhf models of histograms of the unbinned samples."""

import numpy as np
import pytest
from scipy.stats import poisson

from nsbi.exceptions import FitError, InvalidWorkspace
from nsbi.infer.baseline import histogram_baseline
from nsbi.simulators import InterferenceToy, write_toy_workspace
from nsbi.workspace import Workspace
from nsbi.workspace.events import observed_events, sample_events


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    toy = InterferenceToy(nu_signal=50.0, nu_background=200.0, interference=0.3)
    path = write_toy_workspace(toy, tmp_path_factory.mktemp("baseline"), events_per_sample=5000)
    return Workspace.load(path)


def test_nll_is_the_poisson_likelihood_of_numpy_histograms(workspace):
    baseline = histogram_baseline(workspace, "SR", bins={"x1": [-3, -1, 0, 1, 3], "x2": 3})
    channel = workspace.channel("SR")
    edges = [baseline.edges["x1"], baseline.edges["x2"]]
    assert np.allclose(edges[0], [-3, -1, 0, 1, 3]) and len(edges[1]) == 4

    def histogram(x, w):
        clipped = np.column_stack(
            [np.clip(x[:, k], e[0], np.nextafter(e[-1], -np.inf)) for k, e in enumerate(edges)]
        )
        return np.histogramdd(clipped, bins=edges, weights=w)[0].ravel()

    mu = 1.7
    f = {"S": mu - np.sqrt(mu), "SBI": np.sqrt(mu), "B": 1 - np.sqrt(mu)}
    expected = 0.0
    for sample in channel["samples"]:
        events = sample_events(workspace, channel, sample)
        expected = expected + f[sample["name"]] * histogram(events.features, events.weights)
    data = histogram(observed_events(workspace, channel).features, None)
    truth = -poisson.logpmf(data, expected).sum()
    model = baseline.model()
    assert baseline.profile_nll(model, mu) == pytest.approx(truth, rel=1e-10)


def test_asimov_scan_returns_the_injected_poi(workspace):
    baseline = histogram_baseline(workspace, "SR", bins=4)
    values, t, best = baseline.scan(np.linspace(0.0, 3.0, 13), asimov_poi=1.4)
    assert best == pytest.approx(1.4, abs=1e-4)
    assert t.min() >= 0 and np.all(np.isfinite(t))


def test_negative_expected_counts_are_reported(workspace):
    baseline = histogram_baseline(workspace, "SR", bins=40)
    with pytest.raises(FitError, match="fewer bins"):
        baseline.scan(np.linspace(0.0, 5.0, 11))


def test_bad_binning_and_channel_kinds_are_named(workspace):
    with pytest.raises(FitError, match="increase strictly"):
        histogram_baseline(workspace, "SR", bins={"x1": [0, 0, 1], "x2": 3})
    with pytest.raises(FitError, match=r"no binning for observables \['x2'\]"):
        histogram_baseline(workspace, "SR", bins={"x1": 3})
    with pytest.raises(InvalidWorkspace, match="no channel named 'nope'; channels are: SR"):
        histogram_baseline(workspace, "nope", bins=3)


def test_toy_workspace_needs_events(tmp_path):
    with pytest.raises(ValueError, match="events_per_sample"):
        write_toy_workspace(InterferenceToy(), tmp_path, events_per_sample=0)
