"""Tuning a whole config: the event weighting of the matrix, then every model's hyperparameters, all
on one validation split carved from the given (training) events. `recsys train --tune` and
`recsys evaluate --tune` both call `tune_config`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from recsys.config import Config
from recsys.data.events import Events
from recsys.data.interactions import EventsConfig
from recsys.models import ModelConfig, model_class
from recsys.tuning.search import Budget, run_trial, tune
from recsys.tuning.space import draw_events, model_space, searches_events
from recsys.tuning.split import ValidationSplit, validation_split

Say = Callable[[str], None]
DEFAULT_MINUTES = 8.0  # a million interactions, every default model, on 2 cores: see README
MAX_VALID_USERS = 5_000


def tune_config(
    events: Events,
    config: Config,
    budget: Budget | None = None,
    k: int = 20,
    seed: int = 0,
    say: Say | None = None,
) -> tuple[Config, dict[str, Any]]:
    """The config with tuned event weights and model parameters, and the record of the search
    (split, trials, scores, budget, seconds) for the manifest. Only `events` are read: pass the
    training part when a test set exists."""
    say = say or (lambda _: None)
    budget = budget or Budget(seconds=DEFAULT_MINUTES * 60)
    started = time.perf_counter()
    split = validation_split(events, config.events.relevant, seed=seed)
    users = sample_users(split, seed)
    say(f"tuning on a {split.method} validation split: {len(users):,} users")
    tunable = [name for name, model in config.models.items() if has_space(name, model)]
    present = {events.event_types[code] for code in np.unique(events.event)}
    search_events = bool(tunable) and searches_events(config.events, present)
    events_budget = budget.share(len(tunable) + 1) if search_events else Budget(0)
    events_config, events_record = tune_events(split, config, tunable[:1], events_budget, k, users)
    train = split.matrix(events_config)
    models, results = {}, {}
    for number, (name, model_config) in enumerate(config.models.items()):
        left = len(tunable) - tunable.index(name) if name in tunable else 0
        spent = time.perf_counter() - started
        share = budget.share(left, spent) if left else Budget(1)
        result = tune(
            name, model_config, train, split.train_events, split.valid, share, k, seed + number,
            users,
        )  # fmt: skip
        say(f"tuned {name}: ndcg@{k} {result.score:.4f} after {len(result.trials)} trials")
        models[name], results[name] = result.best, result
    tuned = dataclasses.replace(config, events=events_config, models=models)
    record = {
        "metric": f"ndcg@{k}",
        "split": split.describe(),
        "budget": dataclasses.asdict(budget),
        "seconds": round(time.perf_counter() - started, 2),
        "events": events_record,
        "models": {name: result.to_dict() for name, result in results.items()},
    }
    return tuned, record


def tune_events(
    split: ValidationSplit,
    config: Config,
    judges: list[str],
    budget: Budget,
    k: int,
    users: np.ndarray,
) -> tuple[EventsConfig, dict[str, Any]]:
    """The event weights and damping under which the first tunable model (its configured
    parameters) scores best; the configured ones when there is nothing to choose."""
    if not judges or budget.trials < 1:
        return config.events, {"searched": False, "best": dataclasses.asdict(config.events)}
    name, rng = judges[0], np.random.default_rng(len(judges))
    best, best_score, trials = config.events, -1.0, []
    started = time.perf_counter()
    for number in range(max(budget.trials // 2, 2)):
        elapsed = time.perf_counter() - started
        if (
            budget.seconds is not None
            and number
            and elapsed * (number + 1) / number > budget.seconds
        ):
            break
        candidate = config.events if number == 0 else draw_events(config.events, rng)
        matrix = split.matrix(candidate)
        trial = run_trial(
            name, config.models[name], matrix, split.train_events, split.valid, k, users
        )
        trials.append(
            {
                "weights": candidate.weights,
                "damping": candidate.damping,
                "score": round(trial.score, 5),
                "seconds": round(trial.seconds, 2),
            }
        )
        if trial.score > best_score:
            best, best_score = candidate, trial.score
    record = {"searched": True, "judge": name, "best": dataclasses.asdict(best), "trials": trials}
    return best, record


def has_space(name: str, model: ModelConfig) -> bool:
    return bool(model_space(model.kind, model_class(name, model.kind).Params))


def sample_users(split: ValidationSplit, seed: int) -> np.ndarray:
    """The validation users, a seeded sample of them when there are very many."""
    users = split.users
    if len(users) <= MAX_VALID_USERS:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, MAX_VALID_USERS, replace=False))
