"""The Asimov p0 at 3 sigma of a learned signal-strength model against the exact one, per draw.

Writes the closure toy without interference, mu S + B (``closure_toy(0.0)``, samples S and B),
as a workspace with ``--events`` simulated events per sample and the reference ``--reference``,
trains it through ``nsbi train`` (the tests' settings: 5 members of 32x32, 20 epochs), and
prints, per ``--seeds`` draw, one JSON line: q0_A of the model's own Asimov data at the mu'
where the exact (quadrature) q0_A is 9, its p0 over the exact p0, and the median expected CLs
at the exact expected 95% limit (exact: 0.05). Nothing is asserted; the slow test
``tests/unbinned/test_p0_at_scale.py`` asserts the 1M case.

    python benchmarks/p0_signal_strength.py --events 300000 --reference B --seeds 4 5 6 7 8
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np
import torch
from click.testing import CliRunner
from scipy import optimize, stats

from nsbi.cli.main import cli
from nsbi.infer.hypotest import AsymptoticCalculator, asymptotic_pvalues
from nsbi.infer.likelihood_ratio import test_statistic
from nsbi.model import Model
from nsbi.simulators import closure_toy, write_toy_workspace
from nsbi.workspace import Workspace

#: the ratio ensembles' settings (those of the unbinned tests' shared workspace)
TRAINING = {
    "members": 5,
    "hidden_layers": [32, 32],
    "epochs": 20,
    "batch_size": 2048,
    "learning_rate": 0.005,
    "patience": 20,
    "seed": 0,
}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--reference", nargs="+", default=["B"], choices=["S", "B"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[4, 5, 6, 7])
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    toy = closure_toy(0.0)
    mu3 = toy.discovery_mu(3.0)

    def exact_cls(mu):
        return asymptotic_pvalues(0.0, toy.asimov_statistic(0.0, mu), "qtilde", x=0.0)[2]

    limit = optimize.brentq(lambda mu: exact_cls(mu) - 0.05, 0.05, 5.0, xtol=1e-8)
    for seed in args.seeds:
        with tempfile.TemporaryDirectory() as directory:
            start = time.perf_counter()
            path = write_toy_workspace(toy, directory, events_per_sample=args.events, seed=seed,
                                       training=TRAINING, poi_bounds=(0, 5), samples=("S", "B"),
                                       reference=tuple(args.reference))  # fmt: skip
            result = CliRunner().invoke(cli, ["train", str(path), "--quiet"])
            if result.exit_code != 0:
                print(result.output, file=sys.stderr)
                return 1
            trained = time.perf_counter() - start
            model = Model.from_workspace(Workspace.load(path))
            q0 = test_statistic(model.asimov(model.parameter_vector({"mu": mu3})), 0.0, "q0").value
            cls = AsymptoticCalculator(model).hypotest(limit).cls_exp[2]
        ratio = stats.norm.sf(np.sqrt(q0)) / stats.norm.sf(3.0)
        print(json.dumps({"events": args.events, "reference": args.reference, "seed": seed,
                          "mu_3sigma": round(mu3, 4), "q0A": round(q0, 4),
                          "p0_ratio": round(ratio, 4), "exact_expected_limit": round(limit, 4),
                          "cls_exp_median": round(cls, 5), "train_seconds": round(trained)}),
              flush=True)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
