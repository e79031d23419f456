"""Per-event density ratios learned by classifier ensembles, their diagnostics and storage."""

from nsbi.ratios.classifier import RatioClassifier
from nsbi.ratios.ensemble import AGGREGATIONS, RatioEnsemble, inputs_checksum, train_ensemble
from nsbi.ratios.serialization import (
    RatioModelError,
    load_ensemble,
    read_metadata,
    save_ensemble,
)
from nsbi.ratios.training import TrainingConfig, TrainingHistory, train_classifier

__all__ = [
    "RatioClassifier",
    "RatioEnsemble",
    "TrainingConfig",
    "TrainingHistory",
    "train_classifier",
    "train_ensemble",
    "inputs_checksum",
    "save_ensemble",
    "load_ensemble",
    "read_metadata",
    "RatioModelError",
    "AGGREGATIONS",
]
