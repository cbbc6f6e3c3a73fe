"""Ranking and beyond-accuracy metrics: pure functions of arrays.

Accuracy metrics come in two forms sharing one implementation: a scalar form for one ranked list,
`f(ranked, relevant, k) -> float`, and a batch form over a hit matrix (`hits[u, r]` is True when the
item at rank r of user u's list is relevant) that `evaluate_model` uses. Padding ids (-1) never hit.

Definitions (binary relevance, ranks from 1):
- precision@k      hits in the top k / k
- recall@k         hits / |relevant|                   (the classic definition)
- recall_trunc@k   hits / min(k, |relevant|)           (the truncated one in many papers; reaches 1)
- ndcg@k           sum of 1/log2(rank+1) over hits / the same for min(k, |relevant|) hits at the top
- map@k            sum of precision@rank over hit ranks / min(k, |relevant|)   (as implicit's "map")
- mrr@k            1 / rank of the first hit (0 without one)
- hit_rate@k       1 if any hit in the top k
implicit's `precision_at_k` is sum(hits) / sum(min(k, |relevant|)) over users: a micro-averaged
recall_trunc@k, see `micro_recall_trunc`. Its `ndcg_at_k` and `mean_average_precision_at_k` equal
our ndcg@k and map@k.
"""

from __future__ import annotations

from collections.abc import Callable, Collection

import numpy as np


def hit_matrix(ranked: np.ndarray, relevant_rows: list[np.ndarray]) -> np.ndarray:
    """`hits[u, r]`: is ranked[u, r] among relevant_rows[u] (sorted or not)?"""
    ranked = np.atleast_2d(ranked)
    hits = np.zeros(ranked.shape, dtype=bool)
    for row, relevant in enumerate(relevant_rows):
        hits[row] = np.isin(ranked[row], relevant) & (ranked[row] >= 0)
    return hits


def discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def batch_precision(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / k


def batch_recall(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / np.maximum(n_relevant, 1)


def batch_recall_trunc(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1)


def batch_ndcg(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    gains = discounts(k)
    ideal = np.cumsum(gains)[np.clip(np.minimum(n_relevant, k), 1, k) - 1]
    return (hits[:, :k] * gains[: hits[:, :k].shape[1]]).sum(axis=1) / ideal


def batch_map(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    top = hits[:, :k]
    precision_at_rank = np.cumsum(top, axis=1) / np.arange(1, top.shape[1] + 1)
    return (precision_at_rank * top).sum(axis=1) / np.maximum(np.minimum(n_relevant, k), 1)


def batch_mrr(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    top = hits[:, :k]
    first = np.argmax(top, axis=1)
    return np.where(top.any(axis=1), 1.0 / (first + 1), 0.0)


def batch_hit_rate(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> np.ndarray:
    return hits[:, :k].any(axis=1).astype(np.float64)


BatchMetric = Callable[[np.ndarray, np.ndarray, int], np.ndarray]
BATCH: dict[str, BatchMetric] = {
    "precision": batch_precision,
    "recall": batch_recall,
    "recall_trunc": batch_recall_trunc,
    "ndcg": batch_ndcg,
    "map": batch_map,
    "mrr": batch_mrr,
    "hit_rate": batch_hit_rate,
}


def _one(name: str, ranked: np.ndarray, relevant: Collection[int] | np.ndarray, k: int) -> float:
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    relevant = np.unique(np.fromiter(relevant, np.int64) if isinstance(relevant, set) else relevant)
    if len(relevant) == 0:
        return 0.0
    ranked = np.asarray(ranked, dtype=np.int64)[:k]
    hits = hit_matrix(ranked[None, :], [relevant])
    return float(BATCH[name](hits, np.array([len(relevant)]), k)[0])


def precision_at_k(ranked: np.ndarray, relevant: Collection[int] | np.ndarray, k: int) -> float:
    return _one("precision", ranked, relevant, k)


def recall_at_k(ranked: np.ndarray, relevant: Collection[int] | np.ndarray, k: int) -> float:
    return _one("recall", ranked, relevant, k)


def recall_trunc_at_k(ranked: np.ndarray, relevant: Collection[int] | np.ndarray, k: int) -> float:
    return _one("recall_trunc", ranked, relevant, k)


def ndcg_at_k(ranked: np.ndarray, relevant: Collection[int] | np.ndarray, k: int) -> float:
    return _one("ndcg", ranked, relevant, k)


def map_at_k(ranked: np.ndarray, relevant: Collection[int] | np.ndarray, k: int) -> float:
    return _one("map", ranked, relevant, k)


def mrr_at_k(ranked: np.ndarray, relevant: Collection[int] | np.ndarray, k: int) -> float:
    return _one("mrr", ranked, relevant, k)


def hit_rate_at_k(ranked: np.ndarray, relevant: Collection[int] | np.ndarray, k: int) -> float:
    return _one("hit_rate", ranked, relevant, k)


def micro_recall_trunc(hits: np.ndarray, n_relevant: np.ndarray, k: int) -> float:
    """sum(hits in top k) / sum(min(k, |relevant|)): what implicit.evaluation calls precision@k."""
    return float(hits[:, :k].sum() / max(np.minimum(n_relevant, k).sum(), 1))


# Beyond accuracy: functions of a whole (users x k) matrix of recommended ids.


def coverage(ranked: np.ndarray, n_items: int) -> float:
    """Share of the catalogue recommended to at least one user."""
    shown = np.unique(ranked[ranked >= 0])
    return float(len(shown) / max(n_items, 1))


def novelty(ranked: np.ndarray, item_users: np.ndarray, n_users: int) -> float:
    """Mean self-information -log2(p(i)) of recommended items, p(i) = (users of i + 1) /
    (users + 1) in training (the +1 keeps never-seen items finite)."""
    shown = ranked[ranked >= 0]
    if len(shown) == 0:
        return 0.0
    p = (item_users[shown] + 1.0) / (n_users + 1.0)
    return float(np.mean(-np.log2(p)))


def intra_list_diversity(ranked: np.ndarray, categories: np.ndarray, chunk: int = 10_000) -> float:
    """Mean over lists of the share of item pairs in different categories (`categories[i]` is a
    category code per item, -1 unknown; pairs with an unknown side are left out)."""
    shares = [
        list_diversity(ranked[s : s + chunk], categories) for s in range(0, len(ranked), chunk)
    ]
    shares = [s for s in shares if len(s)]
    return float(np.mean(np.concatenate(shares))) if shares else 0.0


def list_diversity(ranked: np.ndarray, categories: np.ndarray) -> np.ndarray:
    """The different-category share of pairs of each list that has at least one known pair."""
    codes = np.where(ranked >= 0, categories[np.maximum(ranked, 0)], -1)
    known = codes >= 0
    different = (codes[:, :, None] != codes[:, None, :]) & known[:, :, None] & known[:, None, :]
    pairs = known.sum(axis=1) * (known.sum(axis=1) - 1)
    valid = pairs > 0
    return different.sum(axis=(1, 2))[valid] / pairs[valid]


def popularity_rank(ranked: np.ndarray, item_users: np.ndarray) -> float:
    """Mean popularity rank of recommended items (1 = the most popular in training): lower means a
    stronger bias towards best sellers."""
    shown = ranked[ranked >= 0]
    if len(shown) == 0:
        return 0.0
    order = np.argsort(-item_users, kind="stable")
    ranks = np.empty(len(item_users), np.int64)
    ranks[order] = np.arange(1, len(item_users) + 1)
    return float(np.mean(ranks[shown]))


def revenue_at_k(hits: np.ndarray, ranked: np.ndarray, prices: np.ndarray, k: int) -> np.ndarray:
    """Per user: the summed price of relevant items found in the top k (the value of good picks)."""
    top = ranked[:, :k]
    values = np.where(top >= 0, prices[np.maximum(top, 0)], 0.0)
    return (values * hits[:, :k]).sum(axis=1)
