"""Session picks for anonymous visitors: personal picks from the items seen in this session alone.

The session is folded into the ALS space (implicit's recalculate_user) and blended with the scores
of the bundle's best item-based model (ease, else spectral, else item-kNN) for the session's items,
recent clicks counting more; ALS's share of the blend is the one chosen on a validation split when
the bundle was trained (recsys.tuning.sessions). The session's own items are never returned. With
nothing usable (no clicks on known items, no such models) the answer is the best sellers. A known
user's fresh events are scored the same way (recsys.service.user).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

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
    bundle has both; 0.5 for bundles trained before it was chosen); a click `half_life` clicks old
    counts half as much as the latest one."""

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
    "fallback:popular". `settings` default to the bundle's (bundle_settings)."""
    settings = settings or bundle_settings(bundle)
    n_items = len(bundle.items)
    seen = known_items(items, n_items)
    banned = np.concatenate([seen, known_items(exclude, n_items)]) if exclude is not None else seen
    found = None
    if len(seen):
        row = row_of(seen, n_items, recency_weights(len(seen), settings.half_life))
        found = blended_scores(bundle.models, row, settings.als_share)
    if found is None:
        ids, scores = bundle.popularity.top(n, exclude=row_of(banned, n_items))
        return trimmed(ids, scores, "fallback:popular")
    blended, sources = found
    ids, scores = top_n(blended, n, row_of(banned, n_items))
    return trimmed(ids[0], scores[0], "session:" + sources)


def bundle_settings(bundle: Bundle) -> SessionSettings:
    """The ALS share chosen on a validation split when the bundle was trained (its manifest's
    "sessions", recsys.tuning.sessions), else the default."""
    chosen = bundle.manifest.get("sessions", {}).get("als_share")
    return SessionSettings() if chosen is None else SessionSettings(als_share=float(chosen))


def blended_scores(
    models: Mapping[str, Recommender], rows: sp.csr_matrix, als_share: float
) -> tuple[np.ndarray, str] | None:
    """Scores over all items of interaction `rows` (users or sessions the models never saw):
    `als_share` of ALS fold-in plus the rest of the best item-based model's, each scaled so that
    its best item scores 1 in every row (one source alone when the other is missing or gets no
    share), and the sources' names ("als+ease", "spectral", ...); None without either."""
    pair = session_models(models)
    parts = source_scores(*pair, rows, als_share)
    if not parts:
        return None
    shares = {name: 1.0 - als_share for name in parts}
    shares["als"] = als_share
    if len(parts) == 1:
        shares = dict.fromkeys(parts, 1.0)
    blended = sum(shares[name] * scores for name, scores in parts.items())
    return np.asarray(blended, np.float32), "+".join(parts)


def source_scores(
    als: Recommender | None,
    item: ItemSimilarityModel | None,
    rows: sp.csr_matrix,
    als_share: float,
) -> dict[str, np.ndarray]:
    """Per source ("als", then "ease", "spectral" or "itemknn") that has a share (or is alone):
    its dense scores of `rows`, each row scaled so that its best item scores 1."""
    parts = {}
    if als is not None and (als_share > 0 or item is None):
        vectors = als.fold_in(rows)  # type: ignore[attr-defined]
        factors = als.item_factors  # type: ignore[attr-defined]
        parts["als"] = unit_max(np.asarray(vectors @ factors.T, np.float32))
    if item is not None and (als_share < 1 or als is None):
        parts[item_label(item)] = unit_max(np.asarray(item.scores(rows), np.float32))
    return parts


def session_models(
    models: Mapping[str, Recommender],
) -> tuple[Recommender | None, ItemSimilarityModel | None]:
    """The ALS-like model (fold-in capable vectors, an "als" one first) and the best item-based
    model among `models`: what sessions and fresh events are scored by."""
    vectors = sorted(models.values(), key=lambda model: model.kind != "als")
    als = next((m for m in vectors if isinstance(m, FoldIn) and isinstance(m, VectorModel)), None)
    return als, item_model(models)


def item_model(models: Mapping[str, Recommender]) -> ItemSimilarityModel | None:
    """The best item-based model for sessions: the first of ITEM_KINDS among `models`."""
    found = {
        model.kind: model
        for model in reversed(models.values())
        if isinstance(model, ItemSimilarityModel) and model.kind in ITEM_KINDS
    }
    return next((found[kind] for kind in ITEM_KINDS if kind in found), None)


def item_label(model: ItemSimilarityModel) -> str:
    return "itemknn" if model.kind in KNN_KINDS else model.kind


def recency_weights(length: int, half_life: float) -> np.ndarray:
    """1 for the latest click, halving every `half_life` clicks back."""
    age = np.arange(length - 1, -1, -1, dtype=np.float32)
    return np.exp2(-age / max(half_life, 1e-6)).astype(np.float32)


def known_items(items: np.ndarray | None, n_items: int) -> np.ndarray:
    """The item numbers the bundle knows (unknown ones, e.g. -1, dropped), order kept."""
    items = np.asarray(items if items is not None else [], dtype=np.int64).ravel()
    return items[(items >= 0) & (items < n_items)]


def unit_max(scores: np.ndarray) -> np.ndarray:
    """Each row of (rows x items) `scores` divided by its largest magnitude (rows of zeros kept)."""
    top = np.abs(scores).max(axis=1, keepdims=True) if scores.size else np.ones((len(scores), 1))
    return scores / np.where(top > 0, top, 1).astype(np.float32)


def trimmed(ids: np.ndarray, scores: np.ndarray, path: str) -> tuple[np.ndarray, np.ndarray, str]:
    keep = ids >= 0
    return ids[keep].astype(np.int64), scores[keep].astype(np.float32), path
