"""Inference: fits, profile scans and Asimov data over nsbi models, with iminuit."""

from nsbi.infer.asimov import asimov_model, asimov_parameters
from nsbi.infer.minimize import DEFAULT_TOLERANCE, FitResult, minimize
from nsbi.infer.mle import fit, fixed_poi_fit
from nsbi.infer.profile import ProfileScan, scan
from nsbi.infer.ranking import Impact, pulls, ranking

__all__ = [
    "fit",
    "fixed_poi_fit",
    "minimize",
    "scan",
    "ranking",
    "pulls",
    "Impact",
    "FitResult",
    "ProfileScan",
    "asimov_model",
    "asimov_parameters",
    "DEFAULT_TOLERANCE",
]
