"""Whole-workspace operations, above the spec (:mod:`nsbi.workspace`), the learning
(:mod:`nsbi.ratios`) and the model (:mod:`nsbi.model`): training every ratio ensemble a
workspace declares (``nsbi train``), diagnosing them (``nsbi diagnose``), the state of each
(``nsbi inspect``'s ratio models) and the summary of a workspace (``nsbi inspect``).
"""

from nsbi.workflows.diagnosis import Diagnosis, diagnose_workspace
from nsbi.workflows.ensembles import DEFAULT_MEMBERS, channel_settings
from nsbi.workflows.status import RatioModelStatus, ratio_model_statuses
from nsbi.workflows.summary import WorkspaceSummary, summarise
from nsbi.workflows.training import TrainingReport, train_workspace

__all__ = [
    "train_workspace",
    "TrainingReport",
    "diagnose_workspace",
    "Diagnosis",
    "summarise",
    "WorkspaceSummary",
    "ratio_model_statuses",
    "RatioModelStatus",
    "channel_settings",
    "DEFAULT_MEMBERS",
]
