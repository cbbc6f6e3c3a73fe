"""A/B experiments: deterministic assignment, attribution of events to the responses that served
them, reports with confidence intervals and tests, team-draft interleaving, offline replay."""

from recsys.experiments.assign import BUCKETS, Assignment, Experiments, Visitor, bucket
from recsys.experiments.config import ExperimentConfig, VariantConfig

__all__ = [
    "BUCKETS",
    "Assignment",
    "ExperimentConfig",
    "Experiments",
    "VariantConfig",
    "Visitor",
    "bucket",
]
