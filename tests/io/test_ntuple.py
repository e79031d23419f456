"""Reading ntuples written by write_ntuple, against numpy computed on the arrays written."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from nsbi.io import EventSample, NtupleError, read_events, read_source, write_ntuple
from nsbi.io.branch_expressions import BranchExpressionError

N_EVENTS = 1000


@pytest.fixture(scope="module")
def truth():
    """The arrays written to the ntuple (the truth every read is compared with)."""
    rng = np.random.default_rng(2024)
    counts = rng.integers(0, 4, size=N_EVENTS)
    lep_pt = ak.unflatten(rng.uniform(10.0, 200.0, size=counts.sum()), counts)
    return {
        "x": rng.normal(size=N_EVENTS),
        "y": rng.uniform(0.0, 5.0, size=N_EVENTS),
        "w": rng.uniform(0.5, 1.5, size=N_EVENTS),
        "njet": rng.integers(0, 5, size=N_EVENTS).astype(np.int32),
        "lep_pt": lep_pt,
    }


@pytest.fixture(scope="module")
def folder(tmp_path_factory, truth):
    """A folder with ntuples/S.root (trees nominal and bad) as a workspace would have it."""
    folder = tmp_path_factory.mktemp("ws")
    bad = np.ones(20)
    bad[[3, 7, 11]] = [np.nan, np.inf, -np.inf]
    write_ntuple(
        folder / "ntuples" / "S.root",
        {"nominal": truth, "bad": {"bad": bad, "ok": np.arange(20.0)}},
    )
    return folder


def read(folder, observables, **options):
    return read_events("ntuples/S.root", "nominal", observables, base_dir=folder, **options)


def leading(truth, mask=None):
    """lep_pt[:, 0] of the events with at least one lepton (optionally also in ``mask``)."""
    lists = truth["lep_pt"].tolist()
    keep = np.array([len(p) > 0 for p in lists]) & (True if mask is None else mask)
    return np.array([p[0] for p, k in zip(lists, keep, strict=True) if k]), keep


def test_flat_branches_and_unit_weights(folder, truth):
    events = read(folder, ["x", "y"])
    assert isinstance(events, EventSample)
    np.testing.assert_array_equal(events.features, np.column_stack([truth["x"], truth["y"]]))
    np.testing.assert_array_equal(events.weights, np.ones(N_EVENTS))
    assert events.features.dtype == np.float64 and events.weights.dtype == np.float64
    assert events.observables == ["x", "y"]
    assert events.description == "ntuples/S.root:nominal"
    assert events.n_events == N_EVENTS
    assert events.sum_weights == pytest.approx(N_EVENTS)
    assert "1000 events" in repr(events)


def test_weight_and_selection(folder, truth):
    events = read(folder, ["x", "njet"], weight="w * 2", selection="(x > 0) & (njet >= 2)")
    mask = (truth["x"] > 0) & (truth["njet"] >= 2)
    np.testing.assert_array_equal(events.features[:, 0], truth["x"][mask])
    np.testing.assert_array_equal(events.features[:, 1], truth["njet"][mask])
    np.testing.assert_allclose(events.weights, 2 * truth["w"][mask])
    assert events.sum_weights == pytest.approx(2 * truth["w"][mask].sum())


def test_observable_objects_with_expressions_and_bounds(folder, truth):
    observables = [
        {"name": "r", "expression": "sqrt(x**2 + y**2)", "bounds": [0, 10]},
        {"name": "y"},
        "njet",
    ]
    events = read(folder, observables)
    assert events.observables == ["r", "y", "njet"]
    np.testing.assert_allclose(events.features[:, 0], np.hypot(truth["x"], truth["y"]))
    np.testing.assert_array_equal(events.features[:, 1], truth["y"])


def test_entry_range(folder, truth):
    events = read(folder, ["x"], weight="w", entry_start=100, entry_stop=400)
    np.testing.assert_array_equal(events.features[:, 0], truth["x"][100:400])
    np.testing.assert_array_equal(events.weights, truth["w"][100:400])
    tail = read(folder, ["x"], entry_start=900, selection="y > 2.5")
    np.testing.assert_array_equal(tail.features[:, 0], truth["x"][900:][truth["y"][900:] > 2.5])
    head = read(folder, ["x"], entry_stop=10)
    np.testing.assert_array_equal(head.features[:, 0], truth["x"][:10])


def test_jagged_observables(folder, truth):
    observables = [
        {"name": "pt1", "expression": "lep_pt[:, 0]"},
        {"name": "ht", "expression": "sum(lep_pt)"},
        {"name": "nlep", "expression": "num(lep_pt)"},
    ]
    events = read(folder, observables, selection="(num(lep_pt) > 0) & (x > -1)")
    pt1, keep = leading(truth, truth["x"] > -1)
    np.testing.assert_array_equal(events.features[:, 0], pt1)
    lists = [p for p, k in zip(truth["lep_pt"].tolist(), keep, strict=True) if k]
    np.testing.assert_allclose(events.features[:, 1], [sum(p) for p in lists])
    np.testing.assert_array_equal(events.features[:, 2], [len(p) for p in lists])


def test_missing_max_drops_the_event_in_a_selection(folder, truth):
    events = read(folder, ["x"], selection="max(lep_pt) > 100")
    lists = truth["lep_pt"].tolist()
    mask = np.array([bool(p) and max(p) > 100 for p in lists])
    np.testing.assert_array_equal(events.features[:, 0], truth["x"][mask])


@pytest.mark.parametrize("step_size", [100, 37])
def test_chunked_reading_gives_identical_results(folder, step_size):
    options = {
        "weight": "w * njet",
        "selection": "num(lep_pt) > 0",
        "entry_start": 5,
        "entry_stop": 990,
    }
    observables = ["x", {"name": "pt1", "expression": "lep_pt[:, 0]"}]
    chunked = read(folder, observables, step_size=step_size, **options)
    whole = read(folder, observables, step_size=N_EVENTS, **options)
    np.testing.assert_array_equal(chunked.features, whole.features)
    np.testing.assert_array_equal(chunked.weights, whole.weights)


def test_read_source_is_read_events(folder, truth):
    source = {"file": "ntuples/S.root", "tree": "nominal", "weight": "w", "selection": "y < 1"}
    events = read_source(source, ["x"], base_dir=folder)
    mask = truth["y"] < 1
    np.testing.assert_array_equal(events.features[:, 0], truth["x"][mask])
    np.testing.assert_array_equal(events.weights, truth["w"][mask])
    absolute = read_source({"file": str(folder / "ntuples" / "S.root"), "tree": "nominal"}, ["x"])
    np.testing.assert_array_equal(absolute.features[:, 0], truth["x"])


def test_read_source_refuses_unknown_keys(folder):
    with pytest.raises(NtupleError, match=r"unknown key\(s\) \['weights'\]"):
        read_source({"file": "f.root", "tree": "t", "weights": "w"}, ["x"], base_dir=folder)
    with pytest.raises(NtupleError, match=r"missing key\(s\) \['tree'\]"):
        read_source({"file": "f.root"}, ["x"], base_dir=folder)


def test_rntuple_reads_like_a_ttree(tmp_path, truth):
    with uproot.recreate(tmp_path / "r.root") as root_file:
        root_file["events"] = {"x": truth["x"], "lep_pt": truth["lep_pt"]}
    events = read_events(
        "r.root",
        "events",
        ["x", {"name": "pt1", "expression": "lep_pt[:, 0]"}],
        selection="num(lep_pt) > 0",
        base_dir=tmp_path,
        step_size=128,
    )
    pt1, keep = leading(truth)
    np.testing.assert_array_equal(events.features[:, 0], truth["x"][keep])
    np.testing.assert_array_equal(events.features[:, 1], pt1)


def test_write_ntuple_is_atomic_and_overwrites(tmp_path):
    path = tmp_path / "out.root"
    write_ntuple(path, {"t": {"a": [1.0, 2.0]}})
    write_ntuple(path, {"t": {"a": np.array([3.0, 4.0, 5.0])}, "u": {"b": [[1], [], [2, 3]]}})
    assert [p.name for p in tmp_path.iterdir()] == ["out.root"]
    with uproot.open(path) as root_file:
        assert root_file["t"]["a"].array(library="np").tolist() == [3.0, 4.0, 5.0]
        assert root_file["u"]["b"].array().tolist() == [[1], [], [2, 3]]


def test_write_ntuple_refuses_branches_of_different_lengths(tmp_path):
    with pytest.raises(NtupleError, match=r"tree 't'.*different numbers of entries"):
        write_ntuple(tmp_path / "out.root", {"t": {"a": np.ones(3), "b": np.ones(4)}})
    with pytest.raises(NtupleError, match="no branches"):
        write_ntuple(tmp_path / "out.root", {"t": {}})
    assert list(tmp_path.iterdir()) == []


# ---- errors: each names where (file, tree, branch, expression) and the fix ----


def test_missing_file(folder):
    with pytest.raises(NtupleError) as caught:
        read_events("ntuples/nope.root", "nominal", ["x"], base_dir=folder)
    message = str(caught.value)
    assert str(folder / "ntuples" / "nope.root") in message
    assert "does not exist" in message and "relative to the workspace file" in message


def test_not_a_root_file(tmp_path):
    (tmp_path / "text.root").write_text("not ROOT")
    with pytest.raises(NtupleError, match="cannot open as a ROOT file"):
        read_events("text.root", "t", ["x"], base_dir=tmp_path)


def test_missing_tree_lists_the_trees(folder):
    with pytest.raises(NtupleError) as caught:
        read_events("ntuples/S.root", "nominl", ["x"], base_dir=folder)
    message = str(caught.value)
    assert "no tree 'nominl'" in message and "S.root" in message
    assert "trees in it: bad, nominal" in message


def test_missing_branch_names_the_expression_and_lists_branches(folder):
    with pytest.raises(NtupleError) as caught:
        read(folder, ["x", {"name": "pt", "expression": "lep_ptt[:, 0]"}])
    message = str(caught.value)
    assert "no branch 'lep_ptt'" in message
    assert "observable 'pt' (expression 'lep_ptt[:, 0]')" in message
    assert "lep_pt, njet, nlep_pt, w, x, y" in message
    with pytest.raises(NtupleError, match=r"no branch 'weight' \(read by weight 'weight \* 2'\)"):
        read(folder, ["x"], weight="weight * 2")
    with pytest.raises(NtupleError, match=r"no branch 'z' \(read by selection 'z > 0'\)"):
        read(folder, ["x"], selection="z > 0")


def test_nan_or_inf_in_a_feature(folder):
    with pytest.raises(NtupleError) as caught:
        read_events("ntuples/S.root", "bad", ["ok", "bad"], base_dir=folder)
    message = str(caught.value)
    assert "observable 'bad' is NaN or infinite in 3 of 20 selected events" in message
    assert "first at entry 3" in message and "selection" in message
    events = read_events("ntuples/S.root", "bad", ["ok"], selection="ok > 11", base_dir=folder)
    assert events.n_events == 8


def test_nan_or_inf_from_an_expression(folder, truth):
    with pytest.raises(NtupleError) as caught:
        read(folder, [{"name": "lx", "expression": "log(x)"}])
    n_bad = int((truth["x"] <= 0).sum())
    assert f"observable 'lx' (expression 'log(x)') is NaN or infinite in {n_bad} of 1000" in str(
        caught.value
    )


def test_nan_or_inf_in_weights(folder):
    with pytest.raises(NtupleError, match=r"weight 'bad' is NaN or infinite in 3 of 20"):
        read_events("ntuples/S.root", "bad", ["ok"], weight="bad", base_dir=folder)


def test_selection_keeping_no_event(folder):
    with pytest.raises(NtupleError, match=r"selection 'x > 1e9' keeps no event of the 1000 read"):
        read(folder, ["x"], selection="x > 1e9")
    with pytest.raises(NtupleError, match="keeps no event of the 50 read"):
        read(folder, ["x"], selection="x > 1e9", entry_start=10, entry_stop=60)


def test_selection_that_is_not_boolean(folder):
    with pytest.raises(NtupleError, match=r"selection 'njet' gives int32 values, not true/false"):
        read(folder, ["x"], selection="njet")
    with pytest.raises(NtupleError, match="list of true/false per event"):
        read(folder, ["x"], selection="lep_pt > 20")


def test_jagged_observable_must_be_indexed(folder):
    with pytest.raises(NtupleError) as caught:
        read(folder, ["x", "lep_pt"])
    message = str(caught.value)
    assert "observable 'lep_pt' gives a list of values per event" in message
    assert "lep_pt[:, 0]" in message


def test_index_out_of_range_suggests_a_selection(folder):
    with pytest.raises(NtupleError) as caught:
        read(folder, [{"name": "pt1", "expression": "lep_pt[:, 0]"}])
    message = str(caught.value)
    assert "S.root:nominal" in message and "index out of range" in message
    assert "num(lep_pt) > 0" in message
    assert isinstance(caught.value.__cause__, BranchExpressionError)


def test_missing_values_in_an_observable(folder):
    with pytest.raises(NtupleError, match=r"has no value in \d+ of 1000 events"):
        read(folder, [{"name": "m", "expression": "max(lep_pt)"}])


def test_reduction_over_events_is_refused(folder):
    with pytest.raises(NtupleError, match="reduces over events"):
        read(folder, [{"name": "s", "expression": "sum(x)"}])


def test_refused_expression_is_an_ntuple_error(folder):
    with pytest.raises(
        NtupleError, match=r"weight '__import__\(\"os\"\)'.*not an allowed function"
    ):
        read(folder, ["x"], weight='__import__("os")')


def test_entry_range_errors(folder):
    with pytest.raises(NtupleError, match=r"entry_stop = 10 <= entry_start = 10"):
        read(folder, ["x"], entry_start=10, entry_stop=10)
    with pytest.raises(NtupleError, match=r"entry_start = -1; expected a non-negative integer"):
        read(folder, ["x"], entry_start=-1)
    with pytest.raises(
        NtupleError, match=r"the tree has 1000 entries and the range \[2000, 3000\)"
    ):
        read(folder, ["x"], entry_start=2000, entry_stop=3000)


def test_bad_observables(folder):
    with pytest.raises(NtupleError, match="non-empty list"):
        read(folder, "x")
    with pytest.raises(NtupleError, match=r"observables\[1\]"):
        read(folder, ["x", {"expression": "y"}])
    with pytest.raises(NtupleError, match=r"\['x'\] appear more than once"):
        read(folder, ["x", {"name": "x", "expression": "y"}])
