"""Tuning a whole config on one validation split carved from the given (training) events:

1. the kind of the first tunable `[models]` table, chosen among its own kind and `[tuning] kinds`
   (those the catalogue fits), each kind searched with its own budget, its defaults first;
2. the event weighting of the matrix, judged by that table's best model (the configured weights
   first);
3. every other model's hyperparameters under those weights, each with its own budget.

Each search's first trial is what was configured, so the chosen model never scores below the
configured one on the validation split. `recsys train --tune` and `recsys evaluate --tune` both
call `tune_config`."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from recsys.config import Config
from recsys.data.events import Events
from recsys.data.interactions import EventsConfig, Interactions
from recsys.models import ModelConfig, model_class, model_params
from recsys.tuning.search import Budget, TuneResult, run_trial, tune
from recsys.tuning.space import draw_events, model_space, searches_events
from recsys.tuning.split import ValidationSplit, validation_split

Say = Callable[[str], None]
DEFAULT_MINUTES = 2.0  # per model: see docs/models.md#automatic-tuning
MAX_VALID_USERS = 5_000


@dataclasses.dataclass
class Search:
    """What every search of one tune_config call shares."""

    split: ValidationSplit
    users: np.ndarray
    budget: Budget
    k: int
    seed: int

    def tune(self, name: str, model: ModelConfig, train: Interactions, number: int) -> TuneResult:
        split = self.split
        return tune(
            name, model, train, split.train_events, split.valid, self.budget, self.k,
            self.seed + number, self.users,
        )  # fmt: skip


def tune_config(
    events: Events,
    config: Config,
    budget: Budget | None = None,
    k: int = 20,
    seed: int = 0,
    say: Say | None = None,
) -> tuple[Config, dict[str, Any]]:
    """The config with the chosen kind, tuned event weights and model parameters, and the record
    of the search (split, candidates, trials, scores, budget, seconds) for the manifest. `budget`
    is each search's own (default: 20 trials, DEFAULT_MINUTES). Only `events` are read: pass the
    training part when a test set exists."""
    say = say or (lambda _: None)
    budget = budget or Budget(seconds=DEFAULT_MINUTES * 60)
    started = time.perf_counter()
    split = validation_split(events, config.events.relevant, seed=seed)
    search = Search(split, sample_users(split, seed), budget, k, seed)
    say(f"tuning on a {split.method} validation split: {len(search.users):,} users")
    tunable = [name for name, model in config.models.items() if has_space(name, model)]
    train = split.matrix(config.events)
    models, results = dict(config.models), {}
    choice = None
    if tunable:
        name = tunable[0]
        results[name], choice = choose_kind(search, name, config, train, say)
        models[name] = results[name].best
    present = {events.event_types[code] for code in np.unique(events.event)}
    events_config, events_record = config.events, {"searched": False}
    if tunable and searches_events(config.events, present):
        judge = tunable[0]
        events_config, events_record, score = tune_events(search, judge, models[judge], config)
        results[judge].score = max(results[judge].score, score)
        train = split.matrix(events_config)
    events_record["best"] = dataclasses.asdict(events_config)
    for number, (name, model_config) in enumerate(config.models.items(), start=1):
        if name not in results:
            results[name] = search.tune(name, model_config, train, number)
            models[name] = results[name].best
        say(f"tuned {name}: {results[name].best.kind}, ndcg@{k} {results[name].score:.4f}")
    tuned = dataclasses.replace(config, events=events_config, models=models)
    record = {
        "metric": f"ndcg@{k}",
        "split": split.describe(),
        "budget": {"per_model": dataclasses.asdict(budget)},
        "seconds": round(time.perf_counter() - started, 2),
        "kind": choice,
        "events": events_record,
        "models": {name: result.to_dict() for name, result in results.items()},
    }
    return tuned, record


def choose_kind(
    search: Search, name: str, config: Config, train: Interactions, say: Say
) -> tuple[TuneResult, dict[str, Any]]:
    """The best of table `name`'s own kind and the `[tuning] kinds` the catalogue fits, each
    searched with its own budget from its configured parameters (see configured_kind)."""
    own = config.models[name]
    n_items = train.matrix.shape[1]
    candidates, skipped = {}, {}
    for number, kind in enumerate(dict.fromkeys([own.kind, *config.tuning.kinds])):
        model = own if kind == own.kind else configured_kind(config, kind)
        limit = getattr(model_params(name, model), "max_items", None)
        if kind != own.kind and limit is not None and n_items > limit:
            skipped[kind] = f"{n_items:,} items, above its max_items {limit:,}"
            continue
        if not has_space(name, model):
            skipped[kind] = "nothing to search"
            continue
        candidates[kind] = search.tune(name, model, train, 100 * number)
        say(f"tuned {name} as {kind}: ndcg@{search.k} {candidates[kind].score:.4f}")
    chosen = max(candidates, key=lambda kind: candidates[kind].score)  # ties: the own kind
    scores = {kind: round(result.score, 5) for kind, result in candidates.items()}
    configured = candidates[own.kind].trials[0].score
    record = {
        "model": name,
        "configured": {"kind": own.kind, "score": round(configured, 5)},
        "candidates": {kind: result.to_dict() for kind, result in candidates.items()},
        "skipped": skipped,
        "chosen": chosen,
        "why": f"best {candidates[chosen].metric} on the validation split: "
        + ", ".join(f"{kind} {score:.4f}" for kind, score in scores.items()),
    }
    return candidates[chosen], record


def configured_kind(config: Config, kind: str) -> ModelConfig:
    """The parameters of the config's first table of `kind`, else the kind's defaults."""
    return next((m for m in config.models.values() if m.kind == kind), ModelConfig(kind, {}))


def tune_events(
    search: Search, name: str, model: ModelConfig, config: Config
) -> tuple[EventsConfig, dict[str, Any], float]:
    """The event weights and damping under which model `name` (as `model`) scores best, the
    configured ones first; with its own budget (half the trials)."""
    split, budget, rng = search.split, search.budget, np.random.default_rng(search.seed + 1)
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
            name, model, matrix, split.train_events, split.valid, search.k, search.users
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
    return best, {"searched": True, "judge": name, "trials": trials}, best_score


def has_space(name: str, model: ModelConfig) -> bool:
    return bool(model_space(model.kind, model_class(name, model.kind).Params))


def sample_users(split: ValidationSplit, seed: int) -> np.ndarray:
    """The validation users, a seeded sample of them when there are very many."""
    users = split.users
    if len(users) <= MAX_VALID_USERS:
        return users
    return np.sort(np.random.default_rng(seed).choice(users, MAX_VALID_USERS, replace=False))
