"""nsbi: neural simulation-based inference beside pyhf.

Binned channels are pyhf channels; unbinned channels are described by per-event likelihood
ratios learned by neural-network ensembles. Both live in one JSON workspace and one
differentiable likelihood, fitted with iminuit.
"""

from nsbi._version import __version__
from nsbi.exceptions import FitError, InvalidExpression, InvalidWorkspace, NSBIError
from nsbi.model import Model
from nsbi.workspace import Workspace

__all__ = [
    "Workspace",
    "Model",
    "NSBIError",
    "InvalidWorkspace",
    "InvalidExpression",
    "FitError",
    "__version__",
]
