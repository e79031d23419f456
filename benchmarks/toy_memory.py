"""Peak memory of pseudo-experiments through the CLI: 500 toys of an unbinned model with three
per-event shape systematics, against a memory budget (issue 24: under 4 GB).

The model: the signal-strength toy mu S + B (two observables, reference B) with
``--events`` simulated events per sample (default 60 000) and three weight-based ``shape``
modifiers (per-event factors 1 + 0.05 tanh(x1), 1 + 0.04 tanh(x2), 1 + 0.03 tanh(x1 + x2) and
their inverses; two on B, one on S): four parameters, per-event tables of the size of the
reference pool for each. Each command runs in its own process under ``/usr/bin/time -v``; its
maximum resident set size is printed beside the budget and beside the memory floor (the
per-event tables the model holds, reference pool and data):

- ``nsbi cls WS --calculator toys --toys 500`` (500 toys per hypothesis, batched fits);
- ``nsbi belt WS --poi-grid 0:2:3 --toys 500 --scheduler serial`` (500 toys per point).

    python benchmarks/toy_memory.py [--events 60000] [--toys 500] [--budget-gb 4] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import uproot

from nsbi.io import write_ntuple
from nsbi.simulators import InterferenceToy, write_toy_workspace

TRAINING = {"members": 1, "hidden_layers": [32, 32], "epochs": 5, "batch_size": 4096, "seed": 0}
FACTORS = {
    "a1": lambda x1, x2: 1 + 0.05 * np.tanh(x1),
    "a2": lambda x1, x2: 1 + 0.04 * np.tanh(x2),
    "a3": lambda x1, x2: 1 + 0.03 * np.tanh(x1 + x2),
}
ON = {"a1": 1, "a2": 1, "a3": 0}  # sample index (0: S, 1: B) of each modifier


def _workspace(directory: Path, events: int) -> Path:
    toy = InterferenceToy(d=2, nu_signal=100.0, nu_background=2000.0, interference=0.0)
    path = write_toy_workspace(toy, directory, events_per_sample=events, seed=1,
                               training=TRAINING, poi_bounds=(0.0, 5.0), samples=("S", "B"),
                               reference=("B",))  # fmt: skip
    for name in ("S", "B", "data"):
        file = directory / "ntuples" / f"{name}.root"
        with uproot.open(file) as root:
            branches = {k: np.asarray(v) for k, v in root["events"].arrays(library="np").items()}
        branches.setdefault("weight", np.ones(len(branches["x1"])))
        for key, factor in FACTORS.items():
            branches[f"w_{key}"] = factor(branches["x1"], branches["x2"])
        write_ntuple(file, {"events": branches})
    spec = json.loads(path.read_text())
    for key, sample in ON.items():
        spec["channels"][0]["samples"][sample]["modifiers"].append(
            {"name": key, "type": "shape", "data": {"hi": {"weight": f"weight * w_{key}"},
                                                    "lo": {"weight": f"weight / w_{key}"}}}
        )  # fmt: skip
    path.write_text(json.dumps(spec))
    return path


def _peak(command: list[str], threads: int) -> tuple[float, float, int]:
    """(peak resident GB, seconds, exit code) of ``command`` under ``/usr/bin/time -v``."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    seconds = time.perf_counter() - start
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-3000:], file=sys.stderr)
    return (int(found.group(1)) / 1024**2 if found else float("nan")), seconds, done.returncode


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--toys", type=int, default=500)
    parser.add_argument("--budget-gb", type=float, default=4.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    nsbi = [sys.executable, "-m", "nsbi"]
    with tempfile.TemporaryDirectory() as folder:
        path = _workspace(Path(folder), args.events)
        trained = subprocess.run([*nsbi, "train", str(path), "--quiet"], check=False)
        if trained.returncode:
            return trained.returncode
        # the floor: the model's per-event tables (float64), reference pool and data
        from nsbi.model import Model
        from nsbi.workspace import Workspace

        model = Model.from_workspace(Workspace.load(path))
        channel = model.unbinned[0]
        tables = [*channel.ratios.values(), *channel.weights.values()]
        if channel.shapes is not None:
            tables += [*channel.shapes.log_hi.values(), *channel.shapes.log_lo.values()]
        floor = sum(t.numel() * t.element_size() for t in tables) / 1024**3
        print(f"model: {len(model.parameters.names)} parameters {model.parameters.names}, "
              f"{channel.n_events('reference')} reference events, "
              f"{channel.n_events('observed')} observed; its per-event tables: {floor:.3f} GB")  # fmt: skip
        runs = {
            f"cls --calculator toys --toys {args.toys}": [
                "cls", str(path), "--calculator", "toys", "--toys", str(args.toys), "--quiet"],
            f"belt --poi-grid 0:2:3 --toys {args.toys} --scheduler serial": [
                "belt", str(path), "--poi-grid", "0:2:3", "--toys", str(args.toys),
                "--scheduler", "serial", "--quiet", "--checkpoints", f"{folder}/checkpoints"],
        }  # fmt: skip
        worst = 0.0
        for label, words in runs.items():
            peak, seconds, code = _peak([*nsbi, *words], args.threads)
            worst = max(worst, peak)
            print(f"nsbi {label}: peak {peak:.2f} GB of a {args.budget_gb:g} GB budget "
                  f"({peak / args.budget_gb:.0%}), {peak / max(floor, 1e-9):.1f}x the tables; "
                  f"{seconds:.0f} s; exit {code}")  # fmt: skip
        print(f"worst peak {worst:.2f} GB: {'within' if worst < args.budget_gb else 'OVER'} "
              f"the {args.budget_gb:g} GB budget")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
