"""Comparing models on one split: train each on the training part, score, segment, test
differences."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recsys.data import Catalogue, Events, Interactions, events_matrix
from recsys.errors import ParameterError
from recsys.evaluation.evaluate import (
    EvalResult,
    ItemFacts,
    Progress,
    evaluate_fold_in,
    evaluate_model,
)
from recsys.evaluation.splits import Split
from recsys.evaluation.stats import bootstrap_ci, paired_test
from recsys.models import KINDS, ModelConfig, Recommender, fit
from recsys.models.base import FoldIn

if TYPE_CHECKING:  # annotations only: the evaluation never needs the config module at run time
    from recsys.config import Config

Say = Callable[[str], None]


@dataclass
class Comparison:
    """Everything a report shows: results per model, models skipped and why, segment masks over
    the split's test rows, seconds per stage and paired tests against the best model."""

    split: Split
    ks: list[int]
    results: dict[str, EvalResult] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    configs: dict[str, ModelConfig] = field(default_factory=dict)
    seconds: dict[str, dict[str, float]] = field(default_factory=dict)
    segments: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def primary(self) -> str:
        return f"ndcg@{self.ks[-1]}"

    def best(self) -> str | None:
        if not self.results:
            return None
        return max(self.results, key=lambda name: self.results[name].metrics[self.primary])

    def intervals(self, resamples: int = 1000) -> dict[str, dict[str, list[float]]]:
        """95% bootstrap intervals over users of every per-user metric."""
        return {
            name: {
                metric: list(bootstrap_ci(values, resamples=resamples))
                for metric, values in result.per_user.items()
            }
            for name, result in self.results.items()
        }

    def segment_metrics(self) -> dict[str, dict[str, dict[str, float]]]:
        """model -> segment -> {"users": n, metric: mean}."""
        table: dict[str, dict[str, dict[str, float]]] = {}
        for name, result in self.results.items():
            table[name] = {}
            for segment, rows in self.segments.items():
                mask = rows[result.users]
                table[name][segment] = {"users": int(mask.sum()), **result.subset(mask)}
        return table

    def paired(self, metrics: Sequence[str] = ()) -> dict[str, dict[str, dict[str, Any]]]:
        """Each model against the best one on the same users: other minus best."""
        best = self.best()
        metrics = metrics or (self.primary, f"recall@{self.ks[-1]}")
        if best is None:
            return {}
        reference = self.results[best]
        return {
            name: {
                metric: paired_test(reference.per_user[metric], result.per_user[metric]).to_dict()
                for metric in metrics
            }
            for name, result in self.results.items()
            if name != best
        }


def resolve_models(names: Sequence[str] | None, config: Config) -> dict[str, ModelConfig]:
    """`[models.NAME]` tables of the config, or kind names with default parameters."""
    if not names:
        return dict(config.models)
    chosen = {}
    for name in names:
        if name in config.models:
            chosen[name] = config.models[name]
        elif name in KINDS:
            chosen[name] = ModelConfig(name)
        else:
            known = sorted(set(config.models) | set(KINDS))
            raise ParameterError("models", f"unknown model {name!r} (known: {', '.join(known)})")
    return chosen


def compare(
    split: Split,
    config: Config,
    models: dict[str, ModelConfig],
    ks: Sequence[int] = (10, 20),
    items: ItemFacts | None = None,
    say: Say | None = None,
    progress: Progress | None = None,
    exclude: str = "relevant",
    train: Interactions | None = None,
    allowed: np.ndarray | None = None,
) -> Comparison:
    """Fits every model on `split.train` and scores it on `split.test`. Never recommended: items
    of each user's earlier relevant events (`exclude="relevant"`: a shop's purchases; viewed items
    are what people buy next) or of all their earlier events (`"seen"`: e.g. rated films).
    `train`: the split's training interactions when the caller has built them already. `allowed`
    (per training item): only those are recommended (`recsys evaluate --filter`)."""
    if exclude not in ("relevant", "seen"):
        raise ValueError(f"exclude must be 'relevant' or 'seen', got {exclude!r}")
    say = say or (lambda _: None)
    if train is None:
        train = Interactions.from_events(split.train, config.events)
    items = items or ItemFacts.from_train(train.matrix)
    past = split.history if split.history is not None else split.train
    types = config.events.relevant if exclude == "relevant" else past.event_types
    bought = events_matrix(past, past.is_type(*types), len(split.train.items))
    split.info["excluded_from_lists"] = f"items of the user's earlier {'/'.join(types)} events"
    split.info["test_pairs_relevant_before"] = int(
        split.test[:, : bought.shape[1]].multiply(bought).nnz
    )
    history = None
    if split.history is not None:
        history = Interactions.from_events(split.history, config.events, split.train.items).matrix
    comparison = Comparison(split, sorted(set(ks)))
    comparison.segments = segments(split, config.events.relevant)
    steps = progress(models.items(), len(models), "models") if progress else models.items()
    for name, model_config in steps:
        seconds = comparison.seconds.setdefault(name, {})
        comparison.configs[name] = model_config
        say(f"fitting {name}")
        start = time.perf_counter()
        model = fit(name, model_config, train, split.train)
        seconds["fit"] = round(time.perf_counter() - start, 3)
        start = time.perf_counter()
        result = score(
            model, train.matrix, split.test, history, bought, ks, items, progress, allowed
        )
        if result is None:
            comparison.skipped[name] = "cannot fold in unseen users (no fold_in): users split"
            continue
        seconds["score"] = round(time.perf_counter() - start, 3)
        comparison.results[name] = result
    return comparison


def score(
    model: Recommender,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    history: sp.csr_matrix | None,
    bought: sp.csr_matrix,
    ks: Sequence[int],
    items: ItemFacts,
    progress: Progress | None,
    allowed: np.ndarray | None = None,
) -> EvalResult | None:
    """Scores one model, never recommending the items in `bought` (rows aligned to the test rows).
    None when the split needs fold-in and the model has none."""
    if history is None:
        return evaluate_model(
            model, train, test, ks, items=items, progress=progress, exclude=bought,
            allowed=allowed,
        )  # fmt: skip
    if not isinstance(model, FoldIn):
        return None
    return evaluate_fold_in(
        model, train, history, test, ks, items=items, progress=progress, exclude=bought,
        allowed=allowed,
    )  # fmt: skip


def segments(split: Split, relevant: Sequence[str]) -> dict[str, np.ndarray]:
    """Masks over test rows: new (no relevant event before the test) vs returning customers, and
    returning ones as light (up to the median count of earlier relevant events) vs heavy."""
    past = split.history if split.history is not None else split.train
    counts = np.bincount(past.user[past.is_type(*relevant)], minlength=len(split.rows))
    counts = counts[: len(split.rows)]
    returning = counts > 0
    scored = np.diff(split.test.indptr) > 0
    median = float(np.median(counts[returning & scored])) if (returning & scored).any() else 0.0
    return {
        "new": ~returning,
        "returning": returning,
        "light": returning & (counts <= median),
        "heavy": counts > median,
    }


def item_facts(train: Events, matrix: sp.csr_matrix, catalogue: Catalogue | None) -> ItemFacts:
    """Popularity from training; categories from the catalogue; prices from the catalogue, else the
    mean price paid in training events."""
    categories = prices = None
    if catalogue is not None:
        aligned = catalogue.aligned(train.items)
        if aligned.has_categories and aligned.categories.known:
            categories = aligned.categories.known_codes
        if "price" in catalogue.given:
            prices = aligned.table.column("price").to_numpy(zero_copy_only=False).astype(float)
    if prices is None and "price" in train.extra.column_names:
        paid = train.extra.column("price").to_numpy(zero_copy_only=False).astype(float)
        seen = ~np.isnan(paid)
        total = np.bincount(train.item[seen], weights=paid[seen], minlength=len(train.items))
        count = np.bincount(train.item[seen], minlength=len(train.items))
        prices = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    facts = ItemFacts.from_train(matrix)
    return ItemFacts(facts.popularity, facts.n_users, categories, prices)
