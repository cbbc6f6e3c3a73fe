"""Scoring a Recommender on held-out data in batches: per-user metric arrays and their means."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

from recsys.evaluation import metrics
from recsys.models.base import FoldIn, Recommender

Progress = Callable[[Iterable[Any], int, str], Iterable[Any]]  # (items, total, description)


@dataclass
class EvalResult:
    """`metrics` are means over `users` (test users with >= 1 relevant item); `per_user[name]` holds
    the value of each of those users, aligned to `users`, for intervals, paired tests and segments.
    `ranked` is each user's list (len(users) x max k)."""

    metrics: dict[str, float]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
    ranked: np.ndarray
    n_relevant: np.ndarray
    extra: dict[str, float] = field(default_factory=dict)

    def subset(self, mask: np.ndarray) -> dict[str, float]:
        """Means of every per-user metric over the users where `mask` is True."""
        if not mask.any():
            return {name: float("nan") for name in self.per_user}
        return {name: float(values[mask].mean()) for name, values in self.per_user.items()}


@dataclass(frozen=True)
class ItemFacts:
    """What beyond-accuracy metrics need about items: `popularity` (training users per item, of
    `n_users`), a category code per item (-1 unknown) and a price per item (NaN unknown)."""

    popularity: np.ndarray
    n_users: int
    categories: np.ndarray | None = None
    prices: np.ndarray | None = None

    @classmethod
    def from_train(
        cls,
        train: sp.csr_matrix,
        categories: np.ndarray | None = None,
        prices: np.ndarray | None = None,
    ) -> ItemFacts:
        item_users = np.bincount(train.indices, minlength=train.shape[1]).astype(np.float64)
        return cls(item_users, train.shape[0], categories, prices)


def evaluate_model(
    model: Recommender,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    ks: Sequence[int] = (10, 20),
    exclude_train: bool = True,
    users: np.ndarray | None = None,
    batch: int = 1000,
    items: ItemFacts | None = None,
    progress: Progress | None = None,
    exclude: sp.csr_matrix | None = None,
    allowed: np.ndarray | None = None,
) -> EvalResult:
    """Ranks the top max(ks) items for each test user (known to the model: rows of `train`) and
    scores them against the rows of `test` (binary relevance; `test` may have extra columns for
    items the model never saw, which count as relevant but can never be found).

    With `exclude_train`, what a user had in `train` is never recommended (as implicit does), or
    what they have in `exclude` (rows aligned to `train`) when given: in a shop, what they bought,
    since what they only viewed is what they are likely to buy next. `allowed` (per item): only
    those items are recommended (a filter, as the server's filter=).
    """
    excluded = (train if exclude is None else exclude) if exclude_train else None

    def rank(rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        return model.recommend(rows, n, None if excluded is None else excluded[rows])

    return evaluate_ranker(only(rank, allowed), train, test, ks, users, batch, items, progress)


def evaluate_fold_in(
    model: FoldIn,
    train: sp.csr_matrix,
    history: sp.csr_matrix,
    test: sp.csr_matrix,
    ks: Sequence[int] = (10, 20),
    exclude_history: bool = True,
    batch: int = 1000,
    items: ItemFacts | None = None,
    progress: Progress | None = None,
    exclude: sp.csr_matrix | None = None,
    allowed: np.ndarray | None = None,
) -> EvalResult:
    """Strong generalisation: users the model never saw, placed by folding in their earlier events
    (`history`, rows aligned to `test`), then ranked. `train` gives the item facts only. Excluded:
    the history itself, or `exclude` (rows aligned to `history`) when given; `allowed` as in
    evaluate_model."""
    excluded = (history if exclude is None else exclude) if exclude_history else None

    def rank(rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        vectors = model.fold_in(history[rows])
        return model.recommend_vectors(vectors, n, None if excluded is None else excluded[rows])

    items = items or ItemFacts.from_train(train)
    return evaluate_ranker(only(rank, allowed), train, test, ks, None, batch, items, progress)


Ranker = Callable[[np.ndarray, int], tuple[np.ndarray, np.ndarray]]


def only(rank: Ranker, allowed: np.ndarray | None) -> Ranker:
    """`rank` keeping the items `allowed` lets through (None: all), in order: it asks for enough
    that each row finds n of them at the mask's share, and twice as many until every row does or
    the model ranked every item."""
    if allowed is None:
        return rank
    share = max(float(allowed.mean()), 1.0 / max(len(allowed), 1))

    def ranked(rows: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        fetch = min(len(allowed), int(n / share * 1.2) + 10)
        while True:
            ids, scores = rank(rows, fetch)
            ok = (ids >= 0) & allowed[np.maximum(ids, 0)]
            if fetch >= len(allowed) or ok.sum(axis=1).min(initial=n) >= n:
                break
            fetch = min(len(allowed), fetch * 2)
        order = np.argsort(~ok, axis=1, kind="stable")[:, :n]  # the allowed ones first, in order
        kept = np.take_along_axis(ok, order, axis=1)
        found = np.where(kept, np.take_along_axis(ids, order, axis=1), -1)
        return found, np.where(kept, np.take_along_axis(scores, order, axis=1), -np.inf)

    return ranked


def evaluate_ranker(
    rank: Ranker,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    ks: Sequence[int],
    users: np.ndarray | None = None,
    batch: int = 1000,
    items: ItemFacts | None = None,
    progress: Progress | None = None,
) -> EvalResult:
    """The shared scoring loop: `rank(user rows, n) -> (ids, scores)` in batches, then metrics."""
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise ValueError(f"ks must be integers >= 1, got {ks}")
    test = sp.csr_matrix(test)
    users = scored_users(test, users)
    n = ks[-1]
    ranked = np.full((len(users), n), -1, np.int64)
    starts = range(0, len(users), batch)
    steps = progress(starts, len(starts), f"users ({batch} a step)") if progress else starts
    for start in steps:
        rows = users[start : start + batch]
        ids, _ = rank(rows, n)
        ranked[start : start + len(rows), : ids.shape[1]] = ids[:, :n]
    hits = lookup_hits(ranked, users, test)
    n_relevant = np.diff(test.indptr)[users]
    per_user = {
        f"{name}@{k}": function(hits, n_relevant, k).astype(np.float64)
        for k in ks
        for name, function in metrics.BATCH.items()
    }
    items = items or ItemFacts.from_train(train)
    if items.prices is not None:
        prices = np.nan_to_num(items.prices[: train.shape[1]], nan=0.0)
        for k in ks:
            per_user[f"revenue@{k}"] = metrics.revenue_at_k(hits, ranked, prices, k)
    means = {
        name: float(values.mean()) if len(values) else 0.0 for name, values in per_user.items()
    }
    means.update(beyond_accuracy(ranked, ks, items, train.shape[1]))
    return EvalResult(means, per_user, users, ranked, n_relevant)


def scored_users(test: sp.csr_matrix, users: np.ndarray | None) -> np.ndarray:
    """The users to score: those given (or all rows), keeping only those with a relevant item."""
    has_relevant = np.diff(test.indptr) > 0
    if users is None:
        return np.flatnonzero(has_relevant)
    users = np.asarray(users, dtype=np.int64)
    return users[has_relevant[users]]


def lookup_hits(ranked: np.ndarray, users: np.ndarray, test: sp.csr_matrix) -> np.ndarray:
    """hits[r, j] = test[users[r], ranked[r, j]] != 0, vectorised through sorted pair keys."""
    test = test.copy()
    test.sort_indices()
    width = np.int64(test.shape[1])
    rows = np.repeat(np.arange(test.shape[0], dtype=np.int64), np.diff(test.indptr))
    keys = rows * width + test.indices.astype(np.int64)
    wanted = users[:, None].astype(np.int64) * width + ranked
    if len(keys) == 0:
        return np.zeros(ranked.shape, bool)
    found = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return (ranked >= 0) & (keys[found] == wanted)


def beyond_accuracy(
    ranked: np.ndarray, ks: Sequence[int], items: ItemFacts, n_items: int
) -> dict[str, float]:
    values: dict[str, float] = {}
    for k in ks:
        top = ranked[:, :k]
        values[f"coverage@{k}"] = metrics.coverage(top, n_items)
        values[f"novelty@{k}"] = metrics.novelty(top, items.popularity, items.n_users)
        values[f"popularity_rank@{k}"] = metrics.popularity_rank(top, items.popularity)
        if items.categories is not None:
            values[f"diversity@{k}"] = metrics.intra_list_diversity(top, items.categories)
    return values
