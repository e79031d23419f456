"""Hierarchical inference on strong-lensing images (section 3.4 of arXiv:2306.12584): a
convolutional per-image encoder inside a hierarchical deep set infers each image's local
parameters (theta_E, dx, dy, q) and the dataset-wide subhalo mass-function parameters
(alpha, beta) jointly.

    python examples/lensing_hierarchical.py               # reduced CPU settings (tens of minutes)
    NSBI_QUICK=1 python examples/lensing_hierarchical.py  # a smoke run
    NSBI_FULL=1 python examples/lensing_hierarchical.py   # the paper's: ResNet-18, 400 images a step

Datasets of N ~ U(1, 25) images are simulated afresh every step
(:class:`nsbi.simulators.LensingSource`). The network (:class:`nsbi.sets.HierarchicalPosterior`,
``element="image"``): a residual CNN gives each image 2 x F features; one half with the global
parameters conditions the local posterior of that image, the other half is summed over the
dataset and decoded with the cardinality into a normalising-flow posterior of (alpha, beta)
(eq. 7 of the paper). Then on 100 test datasets of 25 images: the correlation of the local
posterior means of theta_E with the truth, the median width of the alpha posterior as images
accumulate (N = 1, 5, 10, 25), and the expected coverage of the central 68% and 95% alpha
intervals. Figures (Fig. 5: images varying local and global parameters; Fig. 6: posteriors of
theta_E and alpha as images accumulate) under OUT (default lensing_out/).

Must show (issue 10): corr(theta_E mean, truth) >= 0.9; the alpha width shrinks with N (here:
monotonically and by 10% at least from 1 to 25 images); coverage within 5 points of nominal.
Measured with the reduced settings (2500 steps, 16 min on one core): corr 0.999, but the alpha
width stays at the prior's (2.63 at N = 1, 2.61 at N = 25, prior 2.60): the subhalo signal is not
learned at this training size, so the global must-show fails; the paper's settings need a GPU:
on one CPU core a step of NSBI_FULL (ResNet-18, 16 datasets of up to 25 images) takes 65 s,
so its 30000 steps would take about 23 days.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from nsbi.plot import save_figure
from nsbi.plot.style import set_style
from nsbi.sets import HierarchicalTraining, save_hierarchical, train_hierarchical
from nsbi.simulators import LensingSource


def settings() -> tuple[HierarchicalTraining, int]:
    network = {"features": 32, "decoder": [128, 128], "global_head": "flow",
               "local_head": "gaussian", "flow": {"context": 32, "transforms": 3},
               "image": {"widths": [16, 32, 64], "blocks": [1, 1, 1], "stem_stride": 2}}  # fmt: skip
    if os.environ.get("NSBI_QUICK"):
        return HierarchicalTraining(steps=30, batch=4, validation=16, eval_every=15,
                                    network=network), 10  # fmt: skip
    if os.environ.get("NSBI_FULL"):
        network["features"] = 64
        network["image"] = {"widths": [64, 128, 256, 512], "blocks": [2, 2, 2, 2]}
        return HierarchicalTraining(steps=30000, batch=16, learning_rate=3e-4, validation=256,
                                    eval_every=1000, network=network), 100  # fmt: skip
    return HierarchicalTraining(steps=2500, batch=8, learning_rate=1e-3, validation=96,
                                eval_every=250, network=network), 100  # fmt: skip


def central_coverage(draws: np.ndarray, truth: np.ndarray, levels=(0.68, 0.95)) -> dict:
    """Fraction of datasets whose truth lies in the central ``level`` interval of its draws
    (``draws`` ``(S, B)``, ``truth`` ``(B,)``), with the binomial error."""
    rank = (draws < truth[None]).mean(0)
    out = {}
    for level in levels:
        inside = np.abs(rank - 0.5) <= level / 2
        p = inside.mean()
        out[level] = (p, np.sqrt(p * (1 - p) / len(truth)))
    return out


def main(out: Path) -> int:
    torch.set_num_threads(int(os.environ.get("NSBI_THREADS", os.cpu_count() or 1)))
    config, n_test = settings()
    print(f"training: {config}")
    source = LensingSource()
    model, history = train_hierarchical(source, config, progress=True)
    print(f"trained in {history.seconds:.0f} s; best validation loss "
          f"{min(history.validation_loss):.3f} at step {history.best_step}")  # fmt: skip
    save_hierarchical(model, out / "posterior")

    sim = source.simulator
    rng = np.random.default_rng(2024)
    theta = sim.prior.sample_global(n_test, rng)
    images, local, mask = sim.simulate_datasets(theta, 25, rng)
    x = sim.normalise(images)
    ok = True
    sizes = (1, 5, 10, 25)
    widths, coverage_rows = [], []
    with torch.no_grad():
        for n in sizes:
            g, z = model.sample(x[:, :n], mask[:, :n], 1000, seed=n)
            alpha = g[..., 0].numpy()
            widths.append(np.median(alpha.std(0)))
            coverage_rows.append(central_coverage(alpha, theta[:, 0]))
            if n == 25:
                z_mean = z.mean(0).numpy()
                corr = np.corrcoef(z_mean[..., 0].ravel(), local[..., 0].ravel())[0, 1]
                alpha_draws = alpha
    print(f"local: corr(posterior mean of theta_E, truth) = {corr:.3f} "
          f"({'>=' if corr >= 0.9 else '<'} 0.9) on {n_test} x 25 images")  # fmt: skip
    ok &= corr >= 0.9
    prior_width = (sim.prior.alpha_range[1] - sim.prior.alpha_range[0]) / np.sqrt(12)
    print(
        f"global: median posterior std of alpha (prior {prior_width:.3f}) at N = "
        + ", ".join(f"{n}: {w:.3f}" for n, w in zip(sizes, widths, strict=True))
    )
    # shrinking means learning: monotone, and by a tenth at least from 1 to 25 images (a network
    # that learned nothing about alpha returns the prior at every N, narrowing by float noise)
    shrinks = all(b < a for a, b in zip(widths, widths[1:], strict=False))
    shrinks &= widths[-1] < 0.9 * widths[0]
    print(f"alpha width at N = 25 / N = 1: {widths[-1] / widths[0]:.3f} (must be < 0.9)")
    ok &= shrinks
    for n, row in zip(sizes, coverage_rows, strict=True):
        text = ", ".join(f"{level:.0%}: {p:.3f} +- {e:.3f}" for level, (p, e) in row.items())
        print(f"coverage of the central alpha intervals at N = {n}: {text}")
    for level, (p, _) in coverage_rows[-1].items():
        ok &= abs(p - level) <= 0.05

    paths = save_figure(figure_samples(sim), out, "lensing_samples")
    paths += save_figure(
        figure_accumulation(model, x[0], local[0], theta[0], alpha_draws[:, 0]),
        out,
        "lensing_posteriors",
    )
    print("wrote " + ", ".join(map(str, paths)))
    print("must-show (theta_E correlation >= 0.9, alpha width shrinking, coverage within 5 "
          "points):", "holds" if ok else "FAILS")  # fmt: skip
    return 0 if ok else 1


def figure_samples(sim):
    """Fig. 5: rows two local parameter choices, columns three global ones."""
    set_style()
    local = np.array([[1.8, 0.1, -0.05, 0.7], [2.2, -0.15, 0.1, 0.9]])
    global_ = np.array([[1.0, 2.0], [5.0, 2.0], [10.0, 1.6]])
    fig, axes = plt.subplots(2, 3, figsize=(10, 7))
    for i, loc in enumerate(local):
        for j, glob in enumerate(global_):
            rng = np.random.default_rng([i, j])
            params = np.concatenate([glob, loc])[None]
            image, subs = sim.simulate(params, rng, return_subhalos=True)
            ax = axes[i, j]
            half = sim.field_of_view / 2
            ax.imshow(image[0], origin="lower", extent=(-half, half, -half, half), cmap="magma")
            ax.scatter(subs.x[0][subs.mask[0]], subs.y[0][subs.mask[0]], s=8, c="cyan")
            ax.set_title(rf"$\alpha$={glob[0]:.0f}, $\beta$={glob[1]:.1f}, "
                         rf"$\theta_E$={loc[0]:.1f}", fontsize=9)  # fmt: skip
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    return fig


def figure_accumulation(model, images, local, theta, alpha_full):
    """Fig. 6: the theta_E posterior of the first image and the alpha posterior as the
    dataset's images accumulate."""
    set_style()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    for n, color in ((1, "C0"), (5, "C1"), (25, "C3")):
        g, z = model.sample(images[None, :n], np.ones((1, n)), 2000, seed=n)
        left.hist(z[:, 0, 0, 0].numpy(), bins=40, histtype="step", density=True, color=color,
                  label=f"N = {n}")  # fmt: skip
        right.hist(g[:, 0, 0].numpy(), bins=40, histtype="step", density=True, color=color,
                   label=f"N = {n}")  # fmt: skip
    left.axvline(local[0, 0], color="k", ls="--", label="truth")
    right.axvline(theta[0], color="k", ls="--", label="truth")
    left.set_xlabel(r"$\theta_E$ of image 1 [arcsec]")
    right.set_xlabel(r"$\alpha$")
    for ax in (left, right):
        ax.set_ylabel("posterior density")
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else "lensing_out")))
