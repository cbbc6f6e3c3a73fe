"""Automatic tuning: hyperparameters and event weights searched on a validation split carved from
the training events by time, scored by NDCG@k; the session blend's ALS share, by HR@k. Never reads
test data: callers pass training data."""

from recsys.tuning.plan import DEFAULT_MINUTES, tune_config
from recsys.tuning.search import Budget, Trial, TuneResult, tune
from recsys.tuning.sessions import choose_session_share
from recsys.tuning.split import ValidationSplit, validation_split

__all__ = [
    "DEFAULT_MINUTES",
    "Budget",
    "Trial",
    "TuneResult",
    "ValidationSplit",
    "choose_session_share",
    "tune",
    "tune_config",
    "validation_split",
]
