r"""Analytic toy simulators with exact densities, the truth that learned likelihood ratios are
tested against.

:class:`InterferenceToy` is an off-shell-Higgs-style model: a signal ``S``, a background ``B`` and
their destructive interference, combined into the samples ``S``, ``SBI`` and ``B`` with the
coefficients :math:`\mu - \sqrt\mu`, :math:`\sqrt\mu` and :math:`1 - \sqrt\mu`.
:func:`write_toy_workspace` writes one as ROOT ntuples and an nsbi workspace.

:class:`SystematicsToy` has a background whose mean and width move with a nuisance parameter
and a yield systematic, exact for every :math:`\alpha` (:func:`write_systematics_workspace`).

The hierarchical NSBI paper's (arXiv:2306.12584) experiments, each with its exact reference:
:class:`SignalBackgroundMixture` (section 3.2, exact profile likelihood ratio by iminuit),
:class:`MultivariateNormalToy` (section 3.1, conjugate posterior) and :class:`BumpHuntToy`
(section 3.3, posterior by quadrature in :mod:`nsbi.simulators.bump_hunt`, NUTS as a second
reference, and the summary-statistic baselines).
"""

from nsbi.simulators.bump_hunt import BumpHuntToy
from nsbi.simulators.export import write_toy_workspace
from nsbi.simulators.interference import (
    InterferenceToy,
    bhattacharyya_coefficient,
    closure_toy,
)
from nsbi.simulators.lensing import LensingSimulator
from nsbi.simulators.mvn import MultivariateNormalToy
from nsbi.simulators.signal_background import SignalBackgroundMixture
from nsbi.simulators.sources import (
    BumpHuntSource,
    HierarchicalNormalSource,
    LensingSource,
    MultivariateNormalSource,
    SimulatorSource,
)
from nsbi.simulators.systematics import SystematicsToy, write_systematics_workspace

__all__ = [
    "SimulatorSource",
    "MultivariateNormalSource",
    "BumpHuntSource",
    "HierarchicalNormalSource",
    "LensingSource",
    "BumpHuntToy",
    "LensingSimulator",
    "MultivariateNormalToy",
    "SignalBackgroundMixture",
    "InterferenceToy",
    "SystematicsToy",
    "write_systematics_workspace",
    "bhattacharyya_coefficient",
    "closure_toy",
    "write_toy_workspace",
]
