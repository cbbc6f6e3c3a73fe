"""Offline evaluation a notebook can call on any Recommender: splits that never leak the future,
metrics as pure functions of arrays, bootstrap intervals and paired tests, and a written report.

    split = temporal_split(events)                     # or leave_last_split, user_split, ...
    train = Interactions.from_events(split.train, config.events)
    model = fit("als", config.models["als"], train, split.train)   # recsys.models.fit
    result = evaluate_model(model, train.matrix, split.test, ks=(10, 20))
    result.metrics["ndcg@20"], bootstrap_ci(result.per_user["ndcg@20"])
"""

from recsys.evaluation.evaluate import EvalResult, ItemFacts, evaluate_fold_in, evaluate_model
from recsys.evaluation.splits import (
    Split,
    given_test_split,
    leave_last_split,
    temporal_split,
    user_split,
)
from recsys.evaluation.stats import bootstrap_ci, paired_test

__all__ = [
    "EvalResult",
    "ItemFacts",
    "Split",
    "bootstrap_ci",
    "evaluate_fold_in",
    "evaluate_model",
    "given_test_split",
    "leave_last_split",
    "paired_test",
    "temporal_split",
    "user_split",
]
