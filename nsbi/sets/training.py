"""The optimisation loop shared by the set estimators: fresh simulated batches every step, one
fixed validation batch, the best validated weights kept, optional cosine annealing and a
progress bar.

Drawing new datasets at every step (rather than cycling over a fixed training set) costs a
simulator call per step and removes over-fitting to a finite training set; the validation batch
is drawn once from its own seeded stream, so validation losses are comparable across steps.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch

__all__ = ["SetTrainingHistory", "Steps", "StepSchedule", "optimise"]


@dataclass
class SetTrainingHistory:
    """Validation loss per evaluation, the step of the best one, and the seconds taken."""

    steps: list[int]
    validation_loss: list[float]
    best_step: int
    seconds: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


class Steps(Protocol):
    """The schedule of a training: what every set model's training settings
    (``PosteriorTraining``, ``HierarchicalTraining``, ``StatisticTraining``) hold."""

    steps: int
    eval_every: int
    schedule: str


@dataclass(frozen=True)
class StepSchedule:
    """A :class:`Steps` on its own: ``steps`` optimiser steps, a validation every
    ``eval_every``, the learning rates ``"cosine"``-annealed or ``"constant"``."""

    steps: int
    eval_every: int
    schedule: str = "cosine"


def optimise(
    network: torch.nn.Module,
    optimiser: torch.optim.Optimizer,
    loss: Callable[[object], torch.Tensor],
    batch: Callable[[], object],
    validation: object,
    config: Steps,
    *,
    progress: str | None = None,
    callback: Callable[[int, float], None] | None = None,
) -> SetTrainingHistory:
    """Minimise ``loss(batch())`` for ``config.steps`` steps; every ``config.eval_every`` steps
    (and at the end) evaluate ``loss(validation)`` without gradients and keep the best weights,
    which ``network`` holds on return. ``config.schedule``: ``"cosine"`` (annealed to 1/20 of
    each group's rate) or ``"constant"``; ``progress``: the description of a tqdm bar, or
    ``None`` for none.

    Example:
        >>> net = torch.nn.Linear(1, 1)
        >>> data = (torch.randn(64, 1), None)
        >>> fit = lambda b: ((net(b[0]) - 2 * b[0]) ** 2).mean()
        >>> history = optimise(net, torch.optim.Adam(net.parameters(), 0.1), fit, lambda: data,
        ...                    data, StepSchedule(steps=200, eval_every=50))
        >>> history.steps, round(float(net.weight), 2)
        ([50, 100, 150, 200], 2.0)
    """
    steps, eval_every, schedule = config.steps, config.eval_every, config.schedule
    if schedule not in ("cosine", "constant"):
        raise ValueError(f"schedule {schedule!r}; expected 'cosine' or 'constant'")
    start = time.perf_counter()
    scheduler = None
    if schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimiser, lambda k: 0.05 + 0.475 * (1 + math.cos(math.pi * min(k / steps, 1.0)))
        )
    bar = None
    if progress:
        from nsbi.progress import progress_bar

        bar = progress_bar(total=steps, unit="step", desc=progress)
    history = SetTrainingHistory([], [], 0, 0.0)
    best_loss, best_state = math.inf, None
    network.train()
    try:
        for step in range(1, steps + 1):
            value = loss(batch())
            optimiser.zero_grad()
            value.backward()
            optimiser.step()
            if scheduler is not None:
                scheduler.step()
            if step % eval_every == 0 or step == steps:
                network.eval()
                with torch.no_grad():
                    validated = float(loss(validation))
                network.train()
                history.steps.append(step)
                history.validation_loss.append(validated)
                if validated < best_loss:
                    best_loss = validated
                    best_state = {k: v.clone() for k, v in network.state_dict().items()}
                    history.best_step = step
                if callback is not None:
                    callback(step, validated)
                if bar is not None:
                    bar.set_postfix(validation=f"{validated:.4f}")
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    history.seconds = time.perf_counter() - start
    return history
