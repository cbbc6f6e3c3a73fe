"""Seeded hyperparameter search for one model on a fixed training matrix and validation pairs.

The first trial is the configured parameters (so tuning never picks something worse than them on
validation); then random draws, and in the second half of the trials draws near the best so far.
The search stops at `trials`, or before a trial that would not finish within `seconds` (judged by
the slowest trial so far).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.data.events import Events
from recsys.data.interactions import Interactions
from recsys.evaluation.evaluate import evaluate_model
from recsys.models import ModelConfig, fit, model_class
from recsys.tuning.space import draw_near, draw_params, model_space


@dataclass(frozen=True)
class Budget:
    """At most `trials` trials and, when set, about `seconds` of wall time."""

    trials: int = 20
    seconds: float | None = None

    def share(self, parts: int, spent: float = 0.0) -> Budget:
        """An equal share for one of `parts` searches, after `spent` seconds are gone."""
        seconds = None if self.seconds is None else max(self.seconds - spent, 0.0) / max(parts, 1)
        return Budget(self.trials, seconds)


@dataclass
class Trial:
    params: dict[str, Any]
    score: float
    seconds: float


@dataclass
class TuneResult:
    """The search for one model: the best config found and every trial, for the manifest."""

    name: str
    best: ModelConfig
    score: float
    metric: str
    trials: list[Trial] = field(default_factory=list)
    budget: Budget = field(default_factory=Budget)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.best.kind,
            "best": self.best.params,
            "metric": self.metric,
            "score": round(self.score, 5),
            "budget": asdict(self.budget),
            "seconds": round(self.seconds, 2),
            "trials": [
                {"params": t.params, "score": round(t.score, 5), "seconds": round(t.seconds, 2)}
                for t in self.trials
            ],
        }


def tune(
    name: str,
    model_config: ModelConfig,
    train: Interactions,
    events: Events,
    valid: sp.csr_matrix,
    budget: Budget | None = None,
    k: int = 20,
    seed: int = 0,
    users: np.ndarray | None = None,
) -> TuneResult:
    """Searches the main hyperparameters of model `name` (fitted on `train` and the `events` it
    was built from, scored by NDCG@k on the `valid` pairs of `users`, training items excluded);
    never sees any other data."""
    budget = budget or Budget()
    params_class = model_class(name, model_config.kind).Params
    space = model_space(model_config.kind, params_class)
    defaults = {key: getattr(params_class(), key) for key in space}
    model_config = ModelConfig(model_config.kind, {**defaults, **model_config.params})
    rng = np.random.default_rng(seed)
    result = TuneResult(name, model_config, -1.0, f"ndcg@{k}", budget=budget)
    started = time.perf_counter()
    slowest = 0.0
    for number in range(budget.trials if space else 1):
        elapsed = time.perf_counter() - started
        if number and budget.seconds is not None and elapsed + slowest > budget.seconds:
            break
        params = next_params(number, budget.trials, model_config, result, space, rng)
        config = ModelConfig(model_config.kind, params)
        trial = run_trial(name, config, train, events, valid, k, users)
        slowest = max(slowest, trial.seconds)
        result.trials.append(trial)
        if trial.score > result.score:
            result.best, result.score = ModelConfig(model_config.kind, params), trial.score
    result.seconds = time.perf_counter() - started
    return result


def next_params(
    number: int,
    trials: int,
    base: ModelConfig,
    result: TuneResult,
    space: dict[str, Any],
    rng: np.random.Generator,
) -> dict[str, Any]:
    if number == 0:
        return dict(base.params)
    if number < max(2, trials // 2):
        return {**base.params, **draw_params(space, rng)}
    return {**result.best.params, **draw_near(space, result.best.params, rng)}


def run_trial(
    name: str,
    config: ModelConfig,
    train: Interactions,
    events: Events,
    valid: sp.csr_matrix,
    k: int,
    users: np.ndarray | None,
) -> Trial:
    start = time.perf_counter()
    model = fit(name, config, train, events)
    result = evaluate_model(model, train.matrix, valid, (k,), exclude_train=True, users=users)
    return Trial(dict(config.params), result.metrics[f"ndcg@{k}"], time.perf_counter() - start)
