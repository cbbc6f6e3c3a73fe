"""A/B experiments: deterministic assignment, variant routing (routing.py: the bundle, model and
parameters a variant is served from, shared by the server and the offline replay), attribution of
events to the responses that served them, reports with confidence intervals and tests, team-draft
interleaving, offline replay. Builds on recsys.service, which knows nothing of experiments."""

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
