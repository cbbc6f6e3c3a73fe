"""Session picks for anonymous visitors: personal picks from the items seen in this session alone.

The session is folded into the ALS space (implicit's recalculate_user) and blended with the item-kNN
neighbours of its items, recent clicks counting more. The session's own items are never returned.
With nothing usable (no clicks on known items, no such models) the answer is the best sellers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recsys.bundle import Bundle
from recsys.models.base import FoldIn, Recommender
from recsys.models.vector import VectorModel
from recsys.ranking import row_of, top_n

KNN_KINDS = ("itemknn", "bm25", "cosine", "tfidf")


@dataclass(frozen=True)
class SessionSettings:
    """`als_share` of the blend goes to ALS fold-in, the rest to item-kNN neighbours (when the
    bundle has both); a click `half_life` clicks old counts half as much as the latest one."""

    als_share: float = 0.5
    half_life: float = 2.0
    neighbours: int = 100


def session_picks(
    bundle: Bundle,
    items: np.ndarray,
    n: int,
    exclude: np.ndarray | None = None,
    settings: SessionSettings | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Top-n item numbers and scores for a visitor who saw `items` (item numbers, oldest first),
    never one of `items` or `exclude`; 1-D arrays of at most n, best first, and the path taken:
    "session:als+itemknn", "session:als", "session:itemknn" or "fallback:popular"."""
    settings = settings or SessionSettings()
    n_items = len(bundle.items)
    seen = known_items(items, n_items)
    banned = np.concatenate([seen, known_items(exclude, n_items)]) if exclude is not None else seen
    parts = session_scores(bundle, seen, n_items, settings)
    if not parts:
        ids, scores = bundle.popularity.top(n, exclude=row_of(banned, n_items))
        return trimmed(ids, scores, "fallback:popular")
    blended = sum(share * scores for share, scores in parts.values())
    ids, scores = top_n(blended, n, row_of(banned, n_items))
    return trimmed(ids[0], scores[0], "session:" + "+".join(parts))


def session_scores(
    bundle: Bundle, seen: np.ndarray, n_items: int, settings: SessionSettings
) -> dict[str, tuple[float, np.ndarray]]:
    """Per source ("als", "itemknn"): its share of the blend and its scores over all items, each
    scaled so that its best item scores 1."""
    if len(seen) == 0:
        return {}
    weights = recency_weights(len(seen), settings.half_life)
    als = first_model(bundle, lambda m: isinstance(m, FoldIn) and isinstance(m, VectorModel))
    knn = first_model(bundle, lambda model: getattr(model, "kind", "") in KNN_KINDS)
    parts = {}
    if als is not None and (settings.als_share > 0 or knn is None):
        parts["als"] = fold_in_scores(als, seen, weights, n_items)
    if knn is not None and (settings.als_share < 1 or als is None):
        parts["itemknn"] = neighbour_scores(knn, seen, weights, n_items, settings.neighbours)
    shares = {"als": settings.als_share, "itemknn": 1.0 - settings.als_share}
    if len(parts) == 1:
        shares = dict.fromkeys(parts, 1.0)
    return {name: (shares[name], unit_max(scores)) for name, scores in parts.items()}


def fold_in_scores(
    model: Recommender, seen: np.ndarray, weights: np.ndarray, n_items: int
) -> np.ndarray:
    """Inner products of every item with the session's folded-in user vector."""
    row = row_of(seen, n_items, weights)
    vector = model.fold_in(row)  # type: ignore[attr-defined]
    return np.asarray(model.item_factors @ vector[0], dtype=np.float32)  # type: ignore[attr-defined]


def neighbour_scores(
    model: Recommender, seen: np.ndarray, weights: np.ndarray, n_items: int, neighbours: int
) -> np.ndarray:
    """Similarities to the session's items, each item's neighbours weighted by its recency."""
    ids, scores = model.similar_items(seen, neighbours)
    valid = (ids >= 0) & np.isfinite(scores)
    weighted = (scores * weights[:, None])[valid]
    return np.bincount(ids[valid], weights=weighted, minlength=n_items).astype(np.float32)


def recency_weights(length: int, half_life: float) -> np.ndarray:
    """1 for the latest click, halving every `half_life` clicks back."""
    age = np.arange(length - 1, -1, -1, dtype=np.float32)
    return np.exp2(-age / max(half_life, 1e-6)).astype(np.float32)


def first_model(bundle: Bundle, wanted: Callable[[Recommender], bool]) -> Recommender | None:
    """The first model of the bundle that is `wanted`, an ALS one before others."""
    models = sorted(bundle.models.values(), key=lambda model: model.kind != "als")
    return next((model for model in models if wanted(model)), None)


def known_items(items: np.ndarray | None, n_items: int) -> np.ndarray:
    """The item numbers the bundle knows (unknown ones, e.g. -1, dropped), order kept."""
    items = np.asarray(items if items is not None else [], dtype=np.int64).ravel()
    return items[(items >= 0) & (items < n_items)]


def unit_max(scores: np.ndarray) -> np.ndarray:
    top = float(np.abs(scores).max()) if len(scores) else 0.0
    return scores / top if top > 0 else scores


def trimmed(ids: np.ndarray, scores: np.ndarray, path: str) -> tuple[np.ndarray, np.ndarray, str]:
    keep = ids >= 0
    return ids[keep].astype(np.int64), scores[keep].astype(np.float32), path
