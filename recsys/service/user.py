"""Personalised ranking for one user: precomputed candidates when nothing changed, a fold-in of
fresh events otherwise (through the best item-based model when the bundle has one, as sessions),
blended with popular items when the history is short."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from recsys.index import MAX_OVERFETCH
from recsys.models.vector import VectorModel
from recsys.ranking import row_of, top_n
from recsys.service.popular import popular_ranked
from recsys.service.query import Ranked
from recsys.service.rerank import keep, member, pulled_in, score_all, unit_scale
from recsys.service.served import ServedBundle
from recsys.session import blended_scores, bundle_settings, item_model

BLEND_BELOW = 5  # users with fewer distinct items get personalised picks blended with popular ones
REASON_HISTORY = 50  # most-weighted history items considered for "similar_to" reasons

INDEX_SHARE = 0.2  # filters letting through at least this share of items search the index first
Fresh = tuple[np.ndarray, np.ndarray]  # item numbers, weights


def personal_ranked(
    served: ServedBundle,
    name: str,
    user: int | None,
    fresh: Fresh,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    wanted: int,
    lifts: Sequence[tuple[np.ndarray, float]] = (),
    n: int = 10,
    blend_fresh: bool = False,
) -> tuple[Ranked, str] | None:
    """The user's ranked items and the model label, or None when the model cannot place them
    (unknown user without fresh events: the caller falls back to popular). `lifts`: the
    request's boosts (masks, factors), whose best matching items a vector model pulls in from
    beyond its pool when they could reach the top `n` (rerank.pulled_in). With `blend_fresh`,
    fresh events are scored as sessions are, by the best item-based model (fresh_ranked)."""
    items, weights = merged_history(served, user, fresh)
    found = None
    if blend_fresh and len(fresh[0]):
        found = fresh_ranked(served, name, items, weights, allowed, excluded, wanted)
    if found is None:
        ranked = model_ranked(served, name, user, fresh, items, weights, allowed, excluded,
                              wanted, lifts, n)  # fmt: skip
        if ranked is None:
            return None
        found = ranked, served.label(name)
    ranked, label = found
    if len(items) < BLEND_BELOW:
        return blend(served, ranked, items, allowed, excluded, wanted), f"blend:{label}+popular"
    return ranked, label


def model_ranked(
    served: ServedBundle,
    name: str,
    user: int | None,
    fresh: Fresh,
    items: np.ndarray,
    weights: np.ndarray,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    wanted: int,
    lifts: Sequence[tuple[np.ndarray, float]],
    n: int,
) -> Ranked | None:
    """Model `name`'s ranking of the user (history `items` and `weights`, fresh events folded
    in); None when it cannot place them."""
    model = served.bundle.models.get(name)
    if model is None:
        return None
    if isinstance(model, VectorModel):
        vector = user_vector(served, model, user, fresh, items, weights)
        if vector is None:
            return None
        ranked = vector_ranked(
            served, model, user, vector, allowed, excluded, wanted, fresh_changed=len(fresh[0]) > 0
        )
        if lifts:
            ranked = pulled_in(ranked, vector, model.item_factors, lifts, allowed, excluded, n)
        ranked.reasons = similar_to(served, model, ranked.ids, items, weights)
        return ranked
    if len(fresh[0]) and served.folds_in(model):  # item-item models: the merged row itself
        ids, scores = model.recommend_vectors(
            model.fold_in(row_of(items, served.n_items, weights)), wanted + len(excluded)
        )
    elif user is not None:
        ids, scores = model.recommend(np.array([user]), wanted + len(excluded))
    else:
        return None
    return keep(Ranked(ids[0], scores[0]), allowed, excluded)


def fresh_ranked(
    served: ServedBundle,
    name: str,
    items: np.ndarray,
    weights: np.ndarray,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    wanted: int,
) -> tuple[Ranked, str] | None:
    """A user's history with fresh events scored as a session is (recsys.session.blended_scores:
    the best item-based model, blended with ALS fold-in at the share chosen when the bundle was
    trained), labelled "fresh:als+ease@VERSION" (the sources); None without an item-based model.
    Reasons come from model `name` when it has vectors."""
    models = served.bundle.models
    if item_model(models) is None:
        return None
    share = bundle_settings(served.bundle).als_share
    found = blended_scores(models, row_of(items, served.n_items, weights), share)
    if found is None:
        return None
    scores, sources = found
    ids, top = top_n(scores, wanted + len(excluded))
    ranked = keep(Ranked(ids[0], top[0]), allowed, excluded)
    model = models.get(name)
    if isinstance(model, VectorModel):
        ranked.reasons = similar_to(served, model, ranked.ids, items, weights)
    return ranked, served.label(f"fresh:{sources}")


def merged_history(served: ServedBundle, user: int | None, fresh: Fresh) -> Fresh:
    """The user's bundle row plus fresh events, in the matrix's own scale (weights summed, then
    damped with log1p when the bundle was trained so)."""
    items, values = served.history(user)
    if not len(fresh[0]):
        return items, values
    raw = np.expm1(values) if served.damped else values.astype(np.float32)
    all_items = np.concatenate([items, fresh[0]])
    all_raw = np.concatenate([raw, fresh[1]]).astype(np.float32)
    unique, inverse = np.unique(all_items, return_inverse=True)
    summed = np.bincount(inverse, weights=all_raw, minlength=len(unique)).astype(np.float32)
    return unique, np.log1p(summed) if served.damped else summed


def user_vector(
    served: ServedBundle,
    model: VectorModel,
    user: int | None,
    fresh: Fresh,
    items: np.ndarray,
    weights: np.ndarray,
) -> np.ndarray | None:
    if len(fresh[0]) and served.folds_in(model):
        return np.asarray(model.fold_in(row_of(items, served.n_items, weights))[0], np.float32)
    if user is None or user >= len(model.user_factors):
        return None
    return np.asarray(model.user_factors[user], np.float32)


def vector_ranked(
    served: ServedBundle,
    model: VectorModel,
    user: int | None,
    vector: np.ndarray,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    wanted: int,
    fresh_changed: bool,
) -> Ranked:
    """Filters the precomputed candidates; searches the catalogue only when they run short or
    fresh events moved the user's vector."""

    def scored(items: np.ndarray) -> np.ndarray:
        return model.item_factors[items] @ vector

    candidates = None if fresh_changed or user is None else model.candidates_for(user)
    if candidates is not None:
        found = best_passing(candidates, allowed, excluded, wanted, scored)
        if found is not None:
            return found
    share = 1.0 if allowed is None else np.count_nonzero(allowed) / max(1, len(allowed))
    if share >= INDEX_SHARE:  # the index, over-fetching for the filters (most items pass them)
        fetch = (wanted if allowed is None else int(2 * wanted / share) + 20) + len(excluded)
        if fetch <= MAX_OVERFETCH:
            _, ids = model.index.ann_search(vector[None, :], min(fetch, served.n_items))
            found = best_passing(ids[0], allowed, excluded, wanted, scored)
            if found is not None:
                return found
    return score_all(vector, model.item_factors, allowed, excluded, wanted)


def best_passing(
    pool: np.ndarray,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    wanted: int,
    score: Callable[[np.ndarray], np.ndarray],
) -> Ranked | None:
    """The first `wanted` items of a best-first pool that pass the filters, with score(items);
    None when the pool holds fewer (the caller then searches the catalogue)."""
    chosen = first_passing(pool, allowed, excluded, wanted)
    if len(chosen) < wanted:
        return None
    return Ranked(chosen, score(chosen))


def first_passing(
    pool: np.ndarray, allowed: np.ndarray | None, excluded: np.ndarray, count: int
) -> np.ndarray:
    """The first `count` items of a best-first candidate row that pass the filters (-1 padding
    dropped): only those get scored."""
    ok = pool >= 0
    if allowed is not None:
        ok &= allowed[pool]
    if len(excluded):
        ok &= ~member(pool, excluded)
    return pool[ok][:count].astype(np.int64)


def similar_to(
    served: ServedBundle,
    model: VectorModel,
    picks: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
) -> list[str | None]:
    """Per pick, "similar_to:<item>" naming the closest other item of the user's history, or
    "viewed:<item>" for an item the user already looked at (and has not bought)."""
    if not len(items) or not len(picks):
        return [None] * len(picks)
    history = items[np.argsort(-weights, kind="stable")[:REASON_HISTORY]]
    # cosine up to a per-pick factor, which the argmax over the history ignores
    similarity = model.item_factors[picks] @ model.item_factors[history].T
    similarity /= served.norms(model)[history]
    similarity[picks[:, None] == history[None, :]] = -np.inf
    closest = history[np.argmax(similarity, axis=1)].tolist()
    seen = member(picks, items) | ~np.isfinite(similarity.max(axis=1))
    names = served.item_names
    return [
        f"viewed:{names[pick]}" if was_seen else f"similar_to:{names[other]}"
        for pick, other, was_seen in zip(picks.tolist(), closest, seen.tolist(), strict=True)
    ]


def blend(
    served: ServedBundle,
    ranked: Ranked,
    items: np.ndarray,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    wanted: int,
) -> Ranked:
    """Personalised scores blended with popularity in the user's categories, the personal weight
    growing with the history (len(items) / BLEND_BELOW). Both scales are brought to 0..1."""
    share = len(items) / BLEND_BELOW
    context = items if len(items) and served.categories is not None else None
    popular = popular_ranked(served, allowed, excluded, wanted, context=context)
    ids = np.concatenate([ranked.ids, popular.ids])
    unique, first = np.unique(ids, return_index=True)
    score = np.zeros(len(unique), np.float32)
    score[np.searchsorted(unique, ranked.ids)] += share * unit_scale(ranked.scores)
    score[np.searchsorted(unique, popular.ids)] += (1 - share) * unit_scale(popular.scores)
    reasons = ranked.reasons + popular.reasons
    order = np.argsort(-score, kind="stable")[:wanted]
    return Ranked(unique[order], score[order], [reasons[first[i]] for i in order])
