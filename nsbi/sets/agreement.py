r"""How well a learned statistic agrees with the exact profile likelihood ratio.

A test statistic matters only through its ordering of datasets (critical values come from toys),
so the agreement is measured by ranks: for each tested :math:`\theta`, the Spearman correlation
over datasets between :math:`t_\text{ML}(\theta)` and :math:`t_\text{PLR}(\theta)`; and, for the
point estimates, the Pearson correlation of :math:`\hat\theta_\text{ML}` with
:math:`\hat\theta_\text{PLR}`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["StatisticAgreement", "agreement"]


@dataclass(frozen=True)
class StatisticAgreement:
    """Spearman correlation per grid point and the correlation of the estimates."""

    grid: np.ndarray
    spearman: np.ndarray
    theta_hat_correlation: float

    def __repr__(self) -> str:
        return (
            f"StatisticAgreement(spearman min {self.spearman.min():.4f} at "
            f"{self.grid[np.argmin(self.spearman)]:g}, median {np.median(self.spearman):.4f}; "
            f"theta_hat correlation {self.theta_hat_correlation:.4f})"
        )


def agreement(
    grid: np.ndarray,
    t_learned: np.ndarray,
    t_profile: np.ndarray,
    theta_hat_learned: np.ndarray,
    theta_hat_profile: np.ndarray,
) -> StatisticAgreement:
    """Rank agreement of ``t_learned`` with ``t_profile`` (both ``(B, G)``) per grid point,
    and the correlation of the estimates ``(B,)``.

    Example:
        >>> grid = np.linspace(0, 1, 3)
        >>> hat = np.array([0.1, 0.5, 0.9, 0.3])
        >>> t = (grid[None] - hat[:, None]) ** 2
        >>> agreement(grid, np.sqrt(t), t, hat, hat).spearman.tolist()
        [1.0, 1.0, 1.0]
    """
    spearman = np.array(
        [stats.spearmanr(t_learned[:, g], t_profile[:, g]).statistic for g in range(len(grid))]
    )
    correlation = float(np.corrcoef(theta_hat_learned, theta_hat_profile)[0, 1])
    return StatisticAgreement(np.asarray(grid), spearman, correlation)
