"""Session picks for anonymous visitors: personal picks from the items seen in this session alone.

The session is folded into the ALS space (implicit's recalculate_user) and blended with the scores
of the bundle's best item-based model (ease, else spectral, else item-kNN) for the session's items,
recent clicks counting more. The session's own items are never returned. With nothing usable (no
clicks on known items, no such models) the answer is the best sellers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from recsys.bundle import Bundle
from recsys.models.base import FoldIn, Recommender
from recsys.models.item_similarity import ItemSimilarityModel
from recsys.models.vector import VectorModel
from recsys.ranking import row_of, top_n

KNN_KINDS = ("itemknn", "bm25", "cosine", "tfidf")
ITEM_KINDS = ("ease", "spectral", *KNN_KINDS)  # the best item-based model first


@dataclass(frozen=True)
class SessionSettings:
    """`als_share` of the blend goes to ALS fold-in, the rest to the item-based model (when the
    bundle has both); a click `half_life` clicks old counts half as much as the latest one."""

    als_share: float = 0.5
    half_life: float = 2.0


def session_picks(
    bundle: Bundle,
    items: np.ndarray,
    n: int,
    exclude: np.ndarray | None = None,
    settings: SessionSettings | None = None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """Top-n item numbers and scores for a visitor who saw `items` (item numbers, oldest first),
    never one of `items` or `exclude`; 1-D arrays of at most n, best first, and the path taken:
    "session:als+ITEM", "session:als", "session:ITEM" (ITEM: ease, spectral or itemknn) or
    "fallback:popular"."""
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
    """Per source ("als", and "ease", "spectral" or "itemknn"): its share of the blend and its
    scores over all items, each scaled so that its best item scores 1."""
    if len(seen) == 0:
        return {}
    row = row_of(seen, n_items, recency_weights(len(seen), settings.half_life))
    als = first_model(bundle, lambda m: isinstance(m, FoldIn) and isinstance(m, VectorModel))
    item = item_model(bundle)
    parts = {}
    if als is not None and (settings.als_share > 0 or item is None):
        vector = als.fold_in(row)  # type: ignore[attr-defined]
        parts["als"] = np.asarray(als.item_factors @ vector[0], np.float32)  # type: ignore[attr-defined]
    if item is not None and (settings.als_share < 1 or als is None):
        label = "itemknn" if item.kind in KNN_KINDS else item.kind
        parts[label] = np.asarray(item.scores(row)[0], np.float32)
    shares = {name: 1.0 - settings.als_share for name in parts}
    shares["als"] = settings.als_share
    if len(parts) == 1:
        shares = dict.fromkeys(parts, 1.0)
    return {name: (shares[name], unit_max(scores)) for name, scores in parts.items()}


def item_model(bundle: Bundle) -> ItemSimilarityModel | None:
    """The bundle's best item-based model for sessions: the first of ITEM_KINDS it holds."""
    found = {
        model.kind: model
        for model in reversed(bundle.models.values())
        if isinstance(model, ItemSimilarityModel) and model.kind in ITEM_KINDS
    }
    return next((found[kind] for kind in ITEM_KINDS if kind in found), None)


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
