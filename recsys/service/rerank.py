"""Per-request filtering and re-ranking of candidate lists: cheap numpy over a few hundred items."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from recsys.ranking import top_n
from recsys.service.query import Ranked

POOL_FACTOR = 4  # diversity re-ranks a pool this many times n (at least POOL_MIN)
POOL_MIN = 50


def member(values: np.ndarray, among: np.ndarray) -> np.ndarray:
    """np.isin, faster for the short lists requests carry (exclusions, baskets)."""
    if len(among) <= 64:
        return (values[:, None] == among[None, :]).any(axis=1)
    return np.isin(values, among)


def keep(ranked: Ranked, allowed: np.ndarray | None, excluded: np.ndarray) -> Ranked:
    """The items of `ranked` that pass the filters, order kept."""
    ranked = ranked.valid()
    ok = np.ones(len(ranked), bool) if allowed is None else allowed[ranked.ids]
    if len(excluded):
        ok &= ~member(ranked.ids, excluded)
    return ranked if ok.all() else ranked.take(np.flatnonzero(ok))


def pool_size(n: int, diversity: float, boosted: bool = False) -> int:
    """How many filtered items a request needs before the final cut (diversity and boosts
    re-rank a larger pool)."""
    return n if diversity <= 0 and not boosted else max(n * POOL_FACTOR, POOL_MIN)


def boost(ranked: Ranked, boosts: Sequence[tuple[np.ndarray, float]]) -> Ranked:
    """`ranked` re-sorted after multiplying the scores of the items each mask matches by its
    factor (a negative score is divided by it, so a factor above 1 always lifts an item)."""
    if not boosts or not len(ranked):
        return ranked
    factors = np.ones(len(ranked), np.float64)
    for mask, factor in boosts:
        factors[mask[ranked.ids]] *= factor
    scores = ranked.scores.astype(np.float64)
    lifted = np.where(scores >= 0, scores * factors, scores / np.maximum(factors, 1e-9))
    order = np.argsort(-lifted, kind="stable")
    boosted = ranked.take(order)
    boosted.scores = lifted[order].astype(np.float32)
    return boosted


def placed(ranked: Ranked, extra: Ranked, n: int) -> Ranked:
    """The first n - len(extra) items of `ranked` with `extra`'s items inserted at evenly spaced
    positions (1 of 10 at position 5), in their order."""
    kept = min(len(ranked), max(n - len(extra), 0))
    ids, scores = ranked.ids[:kept].tolist(), ranked.scores[:kept].tolist()
    reasons = list(ranked.reasons[:kept])
    spacing = n / (len(extra) + 1)
    for i, (item, score, reason) in enumerate(
        zip(extra.ids.tolist(), extra.scores.tolist(), extra.reasons, strict=True)
    ):
        at = min(round((i + 1) * spacing), len(ids))
        ids.insert(at, item)
        scores.insert(at, score)
        reasons.insert(at, reason)
    return Ranked(ids, scores, reasons)


def pulled_in(
    ranked: Ranked,
    vector: np.ndarray,
    item_vectors: np.ndarray,
    lifts: Sequence[tuple[np.ndarray, float]],
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    n: int,
) -> Ranked:
    """`ranked` (a pool of the best items by the model's score) and, when a boost could lift an
    item outside it above the pool's n-th boosted one, the n best outside items the lifting boosts
    match (an exact search): so a boost reorders the whole catalogue, not only the pool. Outside
    items score at most the pool's lowest, so nothing is searched when even the largest factor
    cannot lift that above the n-th boosted score."""
    raising = [(mask, factor) for mask, factor in lifts if factor > 1]
    if not raising or not len(ranked):
        return ranked
    lowest, top = float(ranked.scores.min()), max(factor for _, factor in raising)
    bound = lowest * top if lowest >= 0 else lowest / top
    lifted = boost(ranked, lifts).scores
    if len(lifted) >= n and lifted[n - 1] >= bound:
        return ranked
    matching = np.logical_or.reduce([mask for mask, _ in raising])
    mask = matching if allowed is None else matching & allowed
    extra = score_all(vector, item_vectors, mask, np.concatenate([excluded, ranked.ids]), n)
    return Ranked(np.concatenate([ranked.ids, extra.ids]),
                  np.concatenate([ranked.scores, extra.scores]))  # fmt: skip


def score_all(
    vector: np.ndarray,
    item_vectors: np.ndarray,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    count: int,
) -> Ranked:
    """Exact top-`count` by inner product over every allowed, not excluded item: the refill used
    when filters exhaust the precomputed candidates."""
    scores = np.asarray(item_vectors @ np.asarray(vector, np.float32), np.float32)
    if allowed is not None:
        scores = np.where(allowed, scores, -np.inf)
    if len(excluded):
        scores[excluded] = -np.inf
    if min(count, len(scores)) <= 0:
        return Ranked.empty()
    ids, best = top_n(scores, count)
    return Ranked(ids[0], best[0]).valid()


def diversify(
    ranked: Ranked,
    n: int,
    diversity: float,
    vectors: np.ndarray | None,
    categories: np.ndarray | None,
) -> Ranked:
    """The top n of `ranked`, re-ranked for variety when diversity > 0: MMR on item vectors when the
    model has them, else a cap on items per category."""
    if diversity <= 0 or len(ranked) <= 1:
        return ranked.take(np.arange(min(n, len(ranked))))
    if vectors is not None:
        return ranked.take(mmr(ranked.scores, vectors[ranked.ids], n, diversity))
    if categories is not None:
        return ranked.take(category_cap(categories[ranked.ids], n, diversity))
    return ranked.take(np.arange(min(n, len(ranked))))


def mmr(scores: np.ndarray, vectors: np.ndarray, n: int, diversity: float) -> np.ndarray:
    """Maximal marginal relevance: each pick maximises (1 - d) * relevance - d * (highest cosine
    similarity to the items already picked). Relevance is the score scaled to 0..1."""
    vectors = np.asarray(vectors, np.float32)
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    relevance = unit_scale(scores)
    closest = np.full(len(scores), -1.0, np.float32)
    chosen = np.zeros(len(scores), bool)
    picks: list[int] = []
    for _ in range(min(n, len(scores))):
        gain = (1 - diversity) * relevance - diversity * np.maximum(closest, 0)
        gain[chosen] = -np.inf
        best = int(np.argmax(gain))
        picks.append(best)
        chosen[best] = True
        closest = np.maximum(closest, unit @ unit[best])
    return np.array(picks, np.int64)


def unit_scale(scores: np.ndarray) -> np.ndarray:
    """Min-max scaling to 0..1 (all ones when every score is the same)."""
    if not len(scores):
        return scores
    spread = float(scores.max() - scores.min())
    return (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)


def category_cap(categories: np.ndarray, n: int, diversity: float) -> np.ndarray:
    """Positions of the best items with at most ceil(n * (1 - diversity)) per category; the capped
    ones come after, so the list still fills."""
    cap = max(1, math.ceil(n * (1 - diversity)))
    seen: dict[str, int] = {}
    first, later = [], []
    for position, category in enumerate(categories):
        count = seen.get(category, 0)
        (first if count < cap else later).append(position)
        seen[category] = count + 1
    return np.array((first + later)[:n], np.int64)
