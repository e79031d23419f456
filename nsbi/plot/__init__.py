"""Figures in mplhep style: every result nsbi makes can be drawn here and saved as PNG and PDF."""

from nsbi.plot.belt import plot_belt, plot_toy_distributions
from nsbi.plot.diagnostics import plot_calibration, plot_closure
from nsbi.plot.fit import plot_correlation, plot_pulls
from nsbi.plot.hypotest import plot_test_statistic, plot_training_history
from nsbi.plot.limits import plot_brazil
from nsbi.plot.posterior import (
    plot_method_comparison,
    plot_posterior_evolution,
    plot_width_vs_size,
)
from nsbi.plot.ranking import plot_ranking
from nsbi.plot.scan import plot_scan
from nsbi.plot.statistic import plot_learned_statistic
from nsbi.plot.style import save_figure, set_style

__all__ = [
    "plot_brazil",
    "plot_pulls",
    "plot_correlation",
    "plot_test_statistic",
    "plot_training_history",
    "plot_belt",
    "plot_toy_distributions",
    "plot_scan",
    "plot_width_vs_size",
    "plot_posterior_evolution",
    "plot_method_comparison",
    "plot_learned_statistic",
    "plot_ranking",
    "plot_closure",
    "plot_calibration",
    "save_figure",
    "set_style",
]
