r"""Asimov datasets: the data equal to their expectation at chosen parameters.

For binned channels the Asimov counts are :math:`n_b = \nu_b(\theta_A)` and the auxiliary data
are their values at :math:`\theta_A` (pyhf's ``expected_data``). For unbinned channels the
simulated reference events carry weights :math:`w_i = \omega_i \sum_j c_j(\theta_A) r_j(x_i)`,
which sum to :math:`\nu(\theta_A)` and reproduce the expected intensity. A fit to the Asimov
data returns :math:`\theta_A` exactly; the curvature there is the expected (Fisher) information.
"""

from __future__ import annotations

from nsbi.model import Model

__all__ = ["asimov_model", "asimov_parameters"]


def asimov_parameters(model: Model, values: dict[str, float] | None = None):
    """The init vector with ``values`` substituted (e.g. ``{"mu": 1.0}``)."""
    return model.parameter_vector(values)


def asimov_model(model: Model, values: dict[str, float] | None = None) -> Model:
    """The model bound to the Asimov data at the inits with ``values`` substituted.

    Example:
        >>> from nsbi.infer import fit
        >>> from nsbi.workspace.simplemodels import uncorrelated_background
        >>> ws = uncorrelated_background([10.0], [50.0], [7.0], observed=[70])
        >>> asimov = asimov_model(Model.from_workspace(ws), {"mu": 0.5})
        >>> round(fit(asimov).value("mu"), 6)
        0.5
    """
    return model.asimov(asimov_parameters(model, values))
