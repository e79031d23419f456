# %% [markdown]
# # An off-shell Higgs analysis with nsbi, from ntuples to intervals
#
# This notebook walks through an analysis the way an analyser lives it, on a toy that looks like
# the off-shell $H^* \to ZZ$ measurement: gluon-fusion signal `S`, background `B` and their
# destructive interference (sample `SBI`), mixed with the coefficients $\mu - \sqrt\mu$,
# $\sqrt\mu$ and $1 - \sqrt\mu$, beside a `qqZZ` background; a gluon-fusion K-factor, a `qqZZ`
# cross-section and a `qqZZ` shape systematic (written as separate up/down trees, as
# experiments write them).
#
# 1. write the simulated samples, their systematic variations and one observed dataset as ROOT
#    ntuples, and look into them with uproot;
# 2. the workspace JSON, `nsbi validate`, `nsbi train` (the per-event ratio ensembles) and
#    `nsbi diagnose` (do the learned ratios reweight one sample into another?);
# 3. fit, profile-likelihood scan of $\mu$, ranking of the nuisance parameters, pulls;
# 4. a Neyman confidence belt for $\mu$ from pseudo-experiments (`nsbi belt`);
# 5. the same analysis as a binned pyhf model of histograms of the same samples, side by side;
# 6. checks that fail loudly if a key result is off.
#
# The default settings are reduced: the notebook runs in two to three minutes on two CPU cores,
# and the tests execute it so. `NSBI_FULL=1` selects the full ones: more simulated events, larger
# ensembles, the two-sample test, and a real belt (500 toys on each of 11 points, spread over the
# cores by Dask: hours on a laptop, minutes on a batch cluster). `NSBI_SEED` seeds the
# simulation, the training and the toys; `NSBI_THREADS` limits torch's threads. Outputs
# (ntuples, models, figures) go to `$NSBI_OFFSHELL_OUT` (default `offshell_out/`).

# %%
import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
import uproot
from IPython import get_ipython
from IPython.display import Image, display
from scipy import stats

from nsbi.infer import asimov_model, fit, pulls, ranking, scan
from nsbi.infer.baseline import HistogramBaseline, histogram_baseline
from nsbi.infer.profile import crossings
from nsbi.model import Model
from nsbi.plot import plot_closure, plot_ranking, plot_scan, save_figure, set_style
from nsbi.simulators.offshell import OffShellToy, write_offshell_workspace
from nsbi.workflows import diagnose_workspace
from nsbi.workspace import Workspace
from nsbi.workspace.events import variation_events

if get_ipython() is not None:  # nsbi.plot selects matplotlib's Agg backend; draw inline here
    get_ipython().run_line_magic("matplotlib", "inline")

FULL = os.environ.get("NSBI_FULL", "0") not in ("", "0")
SEED = int(os.environ.get("NSBI_SEED", "1"))
OUT = Path(os.environ.get("NSBI_OFFSHELL_OUT", "offshell_out")).resolve()
THREADS = int(os.environ.get("NSBI_THREADS", str(os.cpu_count() if FULL else 1)))
MU_INJECTED = 1.0  # the signal strength of the observed pseudo-dataset and of the Asimov data

if FULL:
    EVENTS = 100_000  # simulated events per sample and per variation tree
    TRAINING = {"members": 5, "hidden_layers": [64, 64], "epochs": 60, "batch_size": 2048}
    BELT_GRID, BELT_TOYS, BELT_CHUNK = "0.1:2.6:11", 500, 50  # LO:HI:N, toys per point, per task
    BELT_SCHEDULER = "local"  # a Dask cluster on this machine; or a scheduler address
    SCAN = np.linspace(0.0, 4.0, 81)
else:
    EVENTS = 40_000
    TRAINING = {"members": 3, "hidden_layers": [32, 32], "epochs": 10, "batch_size": 1024}
    BELT_GRID, BELT_TOYS, BELT_CHUNK = "0.5:2.5:5", 10, 10  # a demonstration, not a belt
    BELT_SCHEDULER = "serial"  # in this process
    SCAN = np.linspace(0.0, 4.0, 17)
# the profile scans start just inside mu = 0: there sqrt(mu) has an infinite slope, and a fit
# with mu fixed exactly at 0 fails in this version of nsbi when nuisance parameters are profiled
SCAN[0] = 0.01
TRAINING |= {"learning_rate": 0.005, "patience": 10, "seed": SEED}
BINS = 5  # bins per observable of the binned (pyhf) analysis

torch.set_num_threads(THREADS)
ENV = {**os.environ, "OMP_NUM_THREADS": str(THREADS)}  # for the nsbi commands below
NSBI = shutil.which("nsbi") or str(Path(sys.executable).with_name("nsbi"))
FIGURES = OUT / "figures"
print(f"{'full' if FULL else 'reduced'} settings, seed {SEED}, {THREADS} thread(s), output {OUT}")


def nsbi(*args) -> None:
    """Run an ``nsbi`` command as in a terminal; print its output, fail loudly."""
    words = [str(a) for a in args]
    print("$ nsbi " + " ".join(words))
    done = subprocess.run([NSBI, *words], capture_output=True, text=True, env=ENV)
    print(done.stdout, end="")
    if done.returncode != 0:
        raise RuntimeError(f"nsbi {words[0]} failed ({done.returncode}):\n{done.stderr}")


# %% [markdown]
# ## 1. Ntuples with systematic variations
#
# `write_offshell_workspace` plays the role of the production: one ROOT file per process, with
# weighted events in the observables `x1` (think of $m_{4\ell}$) and `x2` (a kinematic
# discriminant); the `qqZZ` file also holds the trees `qqZZ_up` and `qqZZ_down` (the shape
# systematic at $\pm1\sigma$); `data.root` is the observed dataset, drawn at $\mu = 1$. It also
# writes the workspace that describes them.

# %%
toy = OffShellToy()
print(toy)
workspace_path = write_offshell_workspace(
    toy,
    OUT,
    events_per_sample=EVENTS,
    seed=SEED,
    training=TRAINING,
    observed_mu=MU_INJECTED,
    observed_seed=0,  # the "experiment's" data: the same dataset whatever the simulation seed
)
sorted(str(p.relative_to(OUT)) for p in (OUT / "ntuples").iterdir())

# %% [markdown]
# The ntuples are plain ROOT files: open them with uproot, as you would your own.

# %%
with uproot.open(OUT / "ntuples" / "qqZZ.root") as root_file:
    print(root_file.keys())
    root_file["events"].show()
    qqzz = {
        tree: root_file[tree].arrays(["x1", "x2", "weight"], library="np")
        for tree in ("events", "qqZZ_up", "qqZZ_down")
    }
with uproot.open(OUT / "ntuples" / "data.root") as root_file:
    data_x1 = root_file["events"]["x1"].array(library="np")
print(f"{len(data_x1)} observed events; qqZZ sum of weights {qqzz['events']['weight'].sum():.1f}")

# %%
set_style()
fig, (ax, ax_ratio) = plt.subplots(1, 2, figsize=(13, 5))
edges = np.linspace(-4, 4, 33)
centres = 0.5 * (edges[1:] + edges[:-1])
x1 = {}
for name in toy.processes:
    with uproot.open(OUT / "ntuples" / f"{name}.root") as root_file:
        arrays = root_file["events"].arrays(["x1", "weight"], library="np")
    x1[name] = np.histogram(arrays["x1"], edges, weights=arrays["weight"])[0]
# at mu = 1 the gluon-fusion expectation is the SBI sample, at mu = 0 it is B
ax.stairs(x1["qqZZ"], edges, fill=True, alpha=0.5, label="qqZZ")
ax.stairs(x1["qqZZ"] + x1["SBI"], edges, baseline=x1["qqZZ"], fill=True, alpha=0.5,
          label=r"+ ggZZ at $\mu = 1$ (SBI)")  # fmt: skip
ax.stairs(x1["qqZZ"] + x1["B"], edges, color="k", ls="--", label=r"qqZZ + ggZZ at $\mu = 0$ (B)")
ax.stairs(x1["S"], edges, color="crimson", label="signal S alone")
counts = np.histogram(data_x1, edges)[0]
ax.errorbar(centres, counts, np.sqrt(counts), fmt="ko", ms=3, label="data")
ax.set_xlabel("x1")
ax.set_ylabel("events / bin")
ax.set_ylim(0, 1.5 * counts.max())
ax.legend(fontsize="small", ncol=2)
nominal = np.histogram(qqzz["events"]["x1"], edges, weights=qqzz["events"]["weight"])[0]
for tree in ("qqZZ_up", "qqZZ_down"):
    varied = np.histogram(qqzz[tree]["x1"], edges, weights=qqzz[tree]["weight"])[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        ax_ratio.step(centres, varied / nominal, where="mid", label=tree)
ax_ratio.axhline(1.0, color="grey", lw=1)
ax_ratio.set_xlim(-3, 3)
ax_ratio.set_ylim(0.5, 1.5)
ax_ratio.set_xlabel("x1")
ax_ratio.set_ylabel("varied / nominal (qqZZ)")
ax_ratio.legend()
save_figure(fig, FIGURES, "samples")
display(fig)

# %% [markdown]
# ## 2. Workspace, training, diagnostics
#
# The workspace is a pyhf workspace whose channel `SR` is unbinned: its samples name the ntuples,
# the analytic coefficients, and the modifiers. `qqZZ_shape` is a `shape` modifier whose
# variations are other trees: `nsbi train` learns the per-event ratios
# $p(x|\alpha=\pm1)/p(x|0)$ for it, beside the ratio $p_j/p_\mathrm{ref}$ of every sample.

# %%
spec = json.loads(workspace_path.read_text())
print(json.dumps(spec["channels"][0]["samples"][3], indent=1))
print(json.dumps(spec["measurements"], indent=1))
nsbi("validate", workspace_path)

# %%
nsbi("train", workspace_path)

# %% [markdown]
# The diagnostics reweight the reference (here the background `B`) with each learned ratio and
# compare it with the sample (closure), check the calibration, and with the full settings run a
# classifier two-sample test. This is what `nsbi diagnose WORKSPACE --plot DIR` prints and draws;
# from Python it is `diagnose_workspace`. Below: the closure of the signal `S`, the sample most
# unlike the reference.

# %%
workspace = Workspace.load(workspace_path)
diagnoses = diagnose_workspace(workspace, two_sample=FULL)
for diagnosis in diagnoses:
    print("\n".join(diagnosis.lines()))
for closure in next(d for d in diagnoses if d.sample == "S").closure:
    fig = plot_closure(closure, "SR/S")
    display(fig)
    plt.close(fig)

# %% [markdown]
# ## 3. Fit, profile scan, ranking, pulls
#
# The model tabulates the learned log-ratios on the simulated events once; from then on the
# likelihood is a torch function of the parameters and iminuit minimises it with exact
# gradients. First the expected result (the Asimov dataset at $\mu = 1$), then the observed one.
#
# The profile scans are not parabolas: the interference term $\sqrt\mu\, I(x)$ vanishes at
# $\mu = 0$ as the signal does, so $t_\mu$ rises from the minimum towards small $\mu$ and can
# fall again before $\mu = 0$.

# %%
model = Model.from_workspace(workspace)
asimov = asimov_model(model, {"mu": MU_INJECTED})
expected_fit = fit(asimov, minos=["mu"])
print("expected (Asimov, mu = 1):")
print(expected_fit)
observed_fit = fit(model, minos=["mu"])
display(observed_fit)

# %%
expected_scan = scan(asimov, "mu", SCAN, best_fit=expected_fit)
observed_scan = scan(model, "mu", SCAN, best_fit=observed_fit)
for name, profile in (("expected", expected_scan), ("observed", observed_scan)):
    lo, hi = profile.interval(1.0)
    print(f"{name}: mu = {profile.best_fit.value('mu'):.3f}, 68% CL [{lo:.3f}, {hi:.3f}]")

# %% [markdown]
# The ranking refits with each nuisance parameter fixed at its best fit $\pm$ its pre-fit and
# post-fit uncertainty (the impact on $\hat\mu$); the pulls say how far the data moved each one.

# %%
impacts = ranking(model, observed_fit)
pull_table = pulls(model, observed_fit)
print(f"{'parameter':<14}{'pull':>8}{'constr.':>9}{'post +':>9}{'post -':>9}")
for impact in impacts:
    pull, constraint = pull_table[impact.name]
    print(
        f"{impact.name:<14}{pull:>8.3f}{constraint:>9.3f}"
        f"{impact.postfit_up:>+9.3f}{impact.postfit_down:>+9.3f}"
    )
fig = plot_ranking(impacts, pull_table)
save_figure(fig, FIGURES, "ranking")
display(fig)

# %% [markdown]
# ## 4. A Neyman belt for $\mu$
#
# Wilks' theorem says $t_\mu$ follows a $\chi^2_1$; near the boundary $\mu = 0$ and with the
# $\sqrt\mu$ coefficients it need not. `nsbi belt` throws pseudo-experiments (Poisson
# reweightings of the simulated events) at each $\mu$ of a grid, fits each twice and takes the
# critical values of $t_\mu$; the observed interval is where the observed $t_\mu$ lies below
# them. With `--scheduler local` the toys are spread over a Dask cluster on this machine, with a
# scheduler address over a batch system; the reduced run keeps them in this process, and its ten
# toys per point only show the machinery: critical values need hundreds.

# %%
belt_file = OUT / "belt.json"
shutil.rmtree(OUT / "belt.checkpoints", ignore_errors=True)  # a fresh belt on every run
nsbi(
    "belt", workspace_path, "--poi-grid", BELT_GRID, "--toys", BELT_TOYS, "--seed", SEED,
    "--chunk-size", BELT_CHUNK, "--scheduler", BELT_SCHEDULER,
    "--checkpoints", OUT / "belt.checkpoints", "--output", belt_file, "--plot", FIGURES,
)  # fmt: skip
belt = json.loads(belt_file.read_text())
display(Image(filename=str(FIGURES / "belt.png"), width=520))

# %% [markdown]
# ## 5. The same analysis with histograms (pyhf)
#
# The binned analysis of the same samples: each sample histogrammed in `x1` and `x2`
# (`BINS` x `BINS` bins), as pyhf samples with the same yield modifiers and a `normfactor` that
# stands for the coefficient $f_j(\mu)$. `histogram_baseline` translates the yield modifiers
# only, so the shape systematic is added by hand: a pyhf `histosys` made from the histograms of
# the `qqZZ_up` and `qqZZ_down` trees in the same bins. The profile scan of $\mu$ fixes the normfactors at
# $f_j(\mu)$ and profiles the nuisance parameters, exactly as for the unbinned model.

# %%
without_shapes = copy.deepcopy(workspace.spec)
for sample in without_shapes["channels"][0]["samples"]:
    sample["modifiers"] = [m for m in sample["modifiers"] if m["type"] != "shape"]
yields_only = histogram_baseline(Workspace(without_shapes, path=workspace_path), "SR", bins=BINS)


def histogram(events, edges):
    """Events in the baseline's bins, flattened as it flattens them (overflow in edge bins)."""
    columns = [
        np.clip(events.features[:, k], e[0], np.nextafter(e[-1], -np.inf))
        for k, e in enumerate(edges)
    ]
    return np.histogramdd(np.column_stack(columns), bins=edges, weights=events.weights)[0].ravel()


binned_spec = copy.deepcopy(yields_only.workspace.spec)
channel = workspace.channel("SR")
for sample in channel["samples"]:
    target = next(s for s in binned_spec["channels"][0]["samples"] if s["name"] == sample["name"])
    assert len(target["data"]) == BINS ** len(toy.observable_names), "a bin was left empty"
    for modifier in (m for m in sample["modifiers"] if m["type"] == "shape"):
        varied = {
            side: histogram(
                variation_events(workspace, channel, sample, modifier, side),
                list(yields_only.edges.values()),
            ).tolist()
            for side in ("hi", "lo")
        }
        target["modifiers"].append(
            {
                "name": modifier["name"],
                "type": "histosys",
                "data": {"hi_data": varied["hi"], "lo_data": varied["lo"]},
            }
        )
binned = HistogramBaseline(
    Workspace(binned_spec),
    yields_only.coefficients,
    yields_only.poi,
    yields_only.poi_bounds,
    yields_only.edges,
    yields_only.templates,
)
(OUT / "binned_workspace.json").write_text(json.dumps(binned_spec, indent=1))
print(f"binned model: {len(binned_spec['observations'][0]['data'])} bins; modifiers of qqZZ:")
print([m["name"] for m in binned_spec["channels"][0]["samples"][3]["modifiers"]])

# %%
_, binned_expected_t, binned_expected_best = binned.scan(SCAN, asimov_poi=MU_INJECTED)
_, binned_observed_t, binned_observed_best = binned.scan(SCAN)

fig, axes = plt.subplots(1, 2, figsize=(14, 5.5))
for ax, title, curves in (
    (
        axes[0],
        "expected (Asimov, $\\mu = 1$)",
        [("NSBI", SCAN, expected_scan.t), (f"pyhf {BINS}x{BINS} bins", SCAN, binned_expected_t)],
    ),
    (
        axes[1],
        "observed",
        [("NSBI", SCAN, observed_scan.t), (f"pyhf {BINS}x{BINS} bins", SCAN, binned_observed_t)],
    ),
):
    plot_scan(curves, "mu", ax=ax)
    ax.set_title(title, fontsize=14, loc="right")
    ax.set_xlim(0, 3)
    ax.set_ylim(0, 12)  # the region of the intervals
save_figure(fig, FIGURES, "scans_nsbi_vs_binned")
display(fig)

# %%
T95 = float(stats.chi2.ppf(0.95, 1))


def interval(t, level):
    """Where the scan ``t`` on ``SCAN`` crosses ``level`` on either side of its minimum; the
    lower end is the bound mu = 0 when ``t`` stays below the level down to the first point."""
    lo, hi = crossings(SCAN, t, level)
    return (0.0 if np.isnan(lo) else lo), hi


rows = {}
for dataset, nsbi_scan, binned_t, binned_best in (
    ("expected", expected_scan, binned_expected_t, binned_expected_best),
    ("observed", observed_scan, binned_observed_t, binned_observed_best),
):
    rows[dataset, "NSBI"] = (
        nsbi_scan.best_fit.value("mu"),
        interval(nsbi_scan.t, 1.0),
        interval(nsbi_scan.t, T95),
    )
    rows[dataset, "binned"] = (
        binned_best,
        interval(binned_t, 1.0),
        interval(binned_t, T95),
    )
print(f"{'':20s}{'mu_hat':>8s}{'68% CL':>18s}{'width':>7s}{'95% CL':>18s}{'width':>7s}")
for (dataset, method), (best, (lo68, hi68), (lo95, hi95)) in rows.items():
    print(
        f"{dataset + ' ' + method:20s}{best:8.3f}  [{lo68:5.3f}, {hi68:5.3f}]{hi68 - lo68:7.3f}"
        f"  [{lo95:5.3f}, {hi95:5.3f}]{hi95 - lo95:7.3f}"
    )
neyman = {cl: [float("nan") if v is None else v for v in ends] for cl, ends in
          belt["observed"]["interval"].items()}  # fmt: skip
print(
    f"{'observed Neyman':28s}[{neyman['0.6827'][0]:5.3f}, {neyman['0.6827'][1]:5.3f}]"
    f"{neyman['0.6827'][1] - neyman['0.6827'][0]:7.3f}  [{neyman['0.9545'][0]:5.3f}, "
    f"{neyman['0.9545'][1]:5.3f}]{neyman['0.9545'][1] - neyman['0.9545'][0]:7.3f}"
    f"   (NSBI, {BELT_TOYS} toys per point; 68.27% and 95.45% CL)"
)

# %% [markdown]
# ## 6. Checks
#
# Each check fails loudly if the analysis went wrong; none compares with a number copied from a
# previous run.

# %%
# The Asimov dataset is the model's own expectation at mu = 1, so its fit returns mu = 1 up to
# the minimiser's tolerance: a converged fit (EDM < 1e-3) lies within sqrt(2 EDM) < 0.045
# standard deviations of the minimum.
assert expected_fit.valid and observed_fit.valid
assert abs(expected_fit.value("mu") - MU_INJECTED) < 0.05 * expected_fit.error("mu"), expected_fit
# The observed data were drawn at mu = 1: the fit is within 3 standard deviations (fails for
# 0.3% of datasets) and each nuisance parameter, nominal in the data, is pulled by less than 3.
assert abs(observed_fit.value("mu") - MU_INJECTED) < 3 * observed_fit.error("mu"), observed_fit
assert all(abs(pull) < 3 for pull, _ in pull_table.values()), pull_table
# The ranking covers every nuisance parameter and the ensembles reweight the reference into each
# sample (closure chi2/ndf far from the tens to hundreds a wrong ratio gives).
assert {i.name for i in impacts} == {"ggZZ_kfactor", "qqZZ_xsec", "qqZZ_shape"}, impacts
for diagnosis in diagnoses:
    for closure in diagnosis.closure:
        assert closure.chi2_per_ndf < 5, (diagnosis.sample, closure.observable, closure.chi2)

# %%
# Both analyses see the same expected data; NSBI uses the full (x1, x2) information, the
# histograms only its binned version, so its expected 68% interval is narrower, and both contain
# the injected value.
nsbi_lo, nsbi_hi = rows["expected", "NSBI"][1]
binned_lo, binned_hi = rows["expected", "binned"][1]
assert nsbi_lo < MU_INJECTED < nsbi_hi and binned_lo < MU_INJECTED < binned_hi, rows
assert nsbi_hi - nsbi_lo < binned_hi - binned_lo, rows
# The observed data were drawn at mu = 1: NSBI's 95% CL profile interval contains it (a check
# that fails for 5% of datasets; this dataset is fixed, whatever the simulation seed).
assert rows["observed", "NSBI"][2][0] < MU_INJECTED < rows["observed", "NSBI"][2][1], rows

# %%
# The belt's observed t_mu is the profile scan's at the same mu (same data, same model; the grid
# points are points of the scan), up to the fits' tolerance.
grid = np.array(belt["grid"])
on_scan = np.interp(grid, SCAN, observed_scan.t)
assert np.allclose(belt["observed"]["t"], on_scan, atol=0.05), (belt["observed"], on_scan)
# The Neyman 95.45% interval agrees with Wilks' (t_mu < 4) within one grid step at each end: with
# the reduced settings' handful of toys its critical values are rough, but a belt that accepts
# everything, nothing, or the wrong side of the minimum fails this.
step = grid[1] - grid[0]
wilks = interval(observed_scan.t, float(stats.chi2.ppf(0.9545, 1)))
assert np.allclose(neyman["0.9545"], wilks, atol=step), (neyman, wilks)
print("all checks passed")
