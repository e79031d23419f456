"""Statistical models: binned pyhf channels (through one adapter) and, beside them, unbinned
channels built from per-event ratio tables, in one differentiable negative log-likelihood."""

from nsbi.model.binned import pyhf_torch_backend
from nsbi.model.model import Model, ParameterSpace

__all__ = ["Model", "ParameterSpace", "pyhf_torch_backend"]
