"""Amortised posteriors of the multivariate normal of section 3.1 of the hierarchical NSBI paper
(arXiv:2306.12584), against the analytic conjugate posterior.

    python examples/mvn_posterior.py               # default settings (minutes on a CPU)
    NSBI_QUICK=1 python examples/mvn_posterior.py  # a smoke run
    NSBI_FULL=1 python examples/mvn_posterior.py   # appendix A.1 widths (512/256), 20000 steps
    NSBI_MODEL=OUT/posterior python examples/mvn_posterior.py  # evaluate a saved model again

Trains a deep set with a full-covariance Gaussian head on datasets of N ~ U(1, 200) elements
(15 features each), then on 200 test datasets per size: the median ratio of learned to analytic
posterior standard deviations at N = 1, 10, 50, 200; on 2000 more per size the spread of the
z-scores (theta - mean) / std, and the expected coverage of the 68% and 95% credible regions; draws the
width against N (Fig. 2) and one dataset's posterior as its elements arrive one by one
(streaming updates). Figures and the model under OUT (default mvn_posterior_out/).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import torch

from nsbi.plot import plot_posterior_evolution, plot_width_vs_size, save_figure
from nsbi.sets import (
    PosteriorTraining,
    expected_coverage,
    load_posterior,
    save_posterior,
    train_posterior,
)
from nsbi.simulators import MultivariateNormalSource

Z_DATASETS = 2000  # test datasets per N for the z-scores and the coverage


def main(out: Path) -> int:
    torch.set_num_threads(int(os.environ.get("NSBI_THREADS", os.cpu_count() or 1)))
    if os.environ.get("NSBI_QUICK"):
        config = PosteriorTraining(steps=500, batch=64, validation=256, eval_every=100,
                                   network={"encoder": [64, 64], "embedding": 32,
                                            "decoder": [64, 64]})  # fmt: skip
    elif os.environ.get("NSBI_FULL"):
        config = PosteriorTraining(steps=20000, learning_rate=3e-4, network={
            "encoder": [512, 512, 512], "embedding": 256, "decoder": [512, 512, 512]})  # fmt: skip
    else:
        config = PosteriorTraining()
    # Bayesian context aggregation (nsbi.sets.posterior): per-element Gaussian factors set the
    # location and width the head corrects; NSBI_AGGREGATION=sum gives the plain deep set
    config.network["aggregation"] = os.environ.get("NSBI_AGGREGATION", "bayesian")
    source = MultivariateNormalSource()
    if os.environ.get("NSBI_MODEL"):  # evaluate a model this script saved before
        model = load_posterior(os.environ["NSBI_MODEL"])
        print(f"loaded {os.environ['NSBI_MODEL']}: {model.config}")
    else:
        print(f"training: {config}")
        model, history = train_posterior(source, config, progress=True)
        print(f"trained in {history.seconds:.0f} s; best validation loss "
              f"{min(history.validation_loss):.4f} at step {history.best_step}")  # fmt: skip
        save_posterior(model, out / "posterior")

    toy = source.toy
    rng = np.random.default_rng(2024)
    theta = toy.sample_prior(200, rng)
    ok = True
    credibility = []
    for n in (1, 10, 50, 200):
        x, mask = toy.simulate(theta, n, rng)
        post = model.posterior(x, mask)
        exact_mean, exact_std = toy.posterior(x, mask)
        ratio = np.median(post.std.numpy() / exact_std, axis=0)
        # the z-scores and the coverage on 10x more datasets: the standard deviation of 200
        # z-scores scatters by 1/sqrt(400) = 5%, half the tolerance
        many = toy.sample_prior(Z_DATASETS, rng)
        x_many, mask_many = toy.simulate(many, n, rng)
        post_many = model.posterior(x_many, mask_many)
        z = (many - post_many.mean.numpy()) / post_many.std.numpy()
        credibility.append(post_many.credibility(torch.as_tensor(many, dtype=torch.float32)))
        good = bool(np.all(np.abs(ratio - 1) <= 0.10) and np.all(np.abs(z.std(0) - 1) <= 0.10))
        ok &= good
        print(f"N = {n:3d}: median sigma/sigma_exact {np.round(ratio, 3)}, z-score std "
              f"{np.round(z.std(0), 3)}{'' if good else '  (outside 10%)'}")  # fmt: skip
    coverage = expected_coverage(np.concatenate(credibility))
    for level, (value, error) in coverage.items():
        good = abs(value - level) <= 0.03
        ok &= good
        print(f"expected coverage of the {level:.0%} regions: {value:.3f} +- {error:.3f}")

    sizes = np.unique(np.geomspace(1, 200, 25).astype(int))
    widths = []
    x, mask = toy.simulate(theta, 200, rng)
    for n in sizes:
        widths.append(model.posterior(x[:, :n], mask[:, :n]).std.numpy())
    fig = plot_width_vs_size(sizes, np.stack(widths, 1), toy.posterior_std(sizes))
    paths = save_figure(fig, out, "mvn_width_vs_n")

    stream = model.posterior(x[:1, :1], mask[:1, :1])  # one dataset, element by element
    means, stds, exact_means, exact_stds = [], [], [], []
    for n in range(1, 201):
        if n > 1:
            stream.update(x[:1, n - 1 : n])
        means.append(stream.mean.numpy()[0])
        stds.append(stream.std.numpy()[0])
        m, s = toy.posterior(x[:1, :n], mask[:1, :n])
        exact_means.append(m[0])
        exact_stds.append(s[0])
    fig = plot_posterior_evolution(np.arange(1, 201), np.array(means), np.array(stds), theta[0],
                                   np.array(exact_means), np.array(exact_stds))  # fmt: skip
    paths += save_figure(fig, out, "mvn_streaming")
    print("wrote " + ", ".join(map(str, paths)))
    print("must-show (widths and z-scores within 10%, coverage within 3 points):",
          "holds" if ok else "FAILS")  # fmt: skip
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "mvn_posterior_out")))
