"""The picks logic behind every recommendation endpoint, without HTTP: a ServedBundle and checked
parameters in, ranked items with scores, reasons and the model (or fallback) that answered out."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsys.models.vector import VectorModel
from recsys.service.arrivals import (
    explored,
    new_number,
    similar_by_content,
    stand_ins,
)
from recsys.service.popular import POPULAR_MODEL, fallback, popular_ranked
from recsys.service.promotions import promoted
from recsys.service.query import Picks, Query, Ranked
from recsys.service.rerank import boost, diversify, keep, member, pool_size, score_all
from recsys.service.seen import seen_capped
from recsys.service.served import ServedBundle
from recsys.service.user import best_passing, personal_ranked
from recsys.session import session_picks

SIMILAR_FALLBACK = "fallback:similar_items"


def for_user(
    served: ServedBundle,
    user_id: str,
    query: Query,
    model_name: str | None = None,
    fresh: Sequence[tuple[str, str]] = (),
    forgotten: bool = False,
) -> Picks:
    """Personalised picks. `fresh` holds the user's recent (item_id, event_type) from the event
    store, folded in at once (unless `model_name` is asked for, through the bundle's best
    item-based model as sessions are); a forgotten user is answered as an unknown one and never
    from memory. Otherwise the answer depends on nothing but the bundle, the request and `fresh`
    (read from the store on every request), so it is remembered under all three: a returning
    visitor's next page costs a lookup, and a new event changes the key at once."""
    if forgotten:
        return user_picks(served, user_id, query, model_name, forgotten=True)
    events = tuple(fresh)
    key = ("user", user_id, query, model_name, events)
    return served.memo(key, lambda: user_picks(served, user_id, query, model_name, events))


def user_picks(
    served: ServedBundle,
    user_id: str,
    query: Query,
    model_name: str | None,
    fresh: Sequence[tuple[str, str]] = (),
    forgotten: bool = False,
) -> Picks:
    name = model_name or served.default_model
    user = None if forgotten else served.bundle.users.index(user_id)
    fresh_items, fresh_weights, fresh_bought = encode_fresh(served, () if forgotten else fresh)
    mode = query.seen or "allow"
    seen = np.union1d(served.history(user)[0], fresh_items) if mode != "allow" else fresh_bought[:0]
    never = np.concatenate([fresh_bought, seen]) if mode == "exclude" else fresh_bought
    allowed, excluded, wanted = request_scope(served, query, served.purchased(user), never)
    fresh_events = (fresh_items, fresh_weights)
    lifts = boost_masks(served, query)
    as_sessions = model_name is None  # fresh events through the best item-based model
    found = personal_ranked(
        served, name, user, fresh_events, allowed, excluded, wanted, lifts, query.n, as_sessions
    )
    if found is None:
        ranked, label = fallback(served, allowed, excluded, query.n)
        return Picks(ranked, label, "popular")
    ranked, label = found
    is_seen = member(ranked.ids, seen) if mode == "cap" else None
    if is_seen is not None and is_seen.sum() > query.seen_cap * query.n:
        excluded = np.concatenate([excluded, seen])
        unseen = personal_ranked(served, name, user, fresh_events, allowed, excluded, wanted,
                                 blend_fresh=as_sessions)  # fmt: skip
        unseen_ranked = unseen[0] if unseen is not None else Ranked.empty()
        ranked = seen_capped(ranked, is_seen, unseen_ranked, wanted, query.seen_cap)
    picks = finish(served, ranked, label, query, name, allowed, excluded)
    history, weights = served.history(user)
    anchors = np.concatenate([history, fresh_items])
    return explored(served, picks, query, anchors, np.concatenate([weights, fresh_weights]))


def similar(
    served: ServedBundle, item_id: str, query: Query, model_name: str | None = None
) -> Picks:
    """Items like `item_id` (cosine of item vectors), the item itself left out. The same for every
    visitor, so answers are remembered per bundle."""
    key = ("similar", item_id, query, model_name)
    return served.memo(key, lambda: similar_picks(served, item_id, query, model_name))


def similar_picks(
    served: ServedBundle, item_id: str, query: Query, model_name: str | None
) -> Picks:
    name = model_name or served.default_model
    new = new_number(served, item_id)
    if new is not None:  # the models know nothing about it: by content
        return similar_by_content(served, new, query)
    item = served.bundle.items.index(item_id)
    allowed, excluded, wanted = request_scope(served, query, [item] if item is not None else [])
    if item is None or name not in served.bundle.models:
        ranked, label = fallback(served, allowed, excluded, query.n)
        return Picks(ranked, label, "popular")
    ranked = similar_ranked(served, name, np.array([item]), allowed, excluded, wanted)
    picks = finish(served, ranked, served.label(name), query, name, allowed, excluded, [item])
    return explored(served, picks, query, np.array([item]))


def session(served: ServedBundle, item_ids: Sequence[str], query: Query) -> Picks:
    """Picks for an anonymous visitor from the items seen this session (oldest first), through
    recsys.session (new items by the known ones most like them), then the usual filters and
    refill."""
    seen = served.item_numbers(stand_ins(served, item_ids)[0])
    allowed, excluded, wanted = request_scope(served, query)
    if not len(seen):
        ranked, label = fallback(served, allowed, excluded, query.n)
        return Picks(ranked, label, "popular")
    ids, scores, path = session_picks(
        served.bundle, seen, wanted + n_blocked(allowed, served.n_items), excluded
    )
    ranked = keep(Ranked(ids, scores), allowed, np.concatenate([excluded, seen]))
    name = served.default_model
    picks = finish(served, ranked, path, query, name, allowed, np.concatenate([excluded, seen]))
    if path.startswith("fallback:"):
        picks.fallback = "popular"
    return picks


def request_scope(
    served: ServedBundle, query: Query, *excluded: Sequence[int] | np.ndarray
) -> tuple[np.ndarray | None, np.ndarray, int]:
    """What a request may show and how many items it needs, once per request: the mask of the
    items its filters let through (None: all), the item numbers it never shows (`excluded` and
    the request's own exclusions) and the pool to rank before the final cut (pool_size)."""
    never = np.concatenate([served.item_numbers(query.exclude), *excluded]).astype(np.int64)
    wanted = pool_size(query.n, query.diversity, query.boost is not None)
    return served.allowed(query), never, wanted


def n_blocked(allowed: np.ndarray | None, n_items: int) -> int:
    """How many items a filter hides: over-fetch by as many, capped, when a model cannot filter."""
    return 0 if allowed is None else min(n_items - int(allowed.sum()), 2_000)


def popular(served: ServedBundle, query: Query, trending: bool = False) -> Picks:
    allowed, excluded, wanted = request_scope(served, query)
    pool = boosted(served, popular_ranked(served, allowed, excluded, wanted, trending), query)
    ranked = pool.take(np.arange(min(query.n, len(pool))))
    if query.promotions:
        ranked = promoted(served, ranked, pool, query, allowed, excluded)
    return Picks(ranked, served.label("trending" if trending else "popular"))


def boosted(served: ServedBundle, ranked: Ranked, query: Query) -> Ranked:
    """The request's boosts applied (their masks compiled once per expression)."""
    return boost(ranked, boost_masks(served, query)) if query.boost is not None else ranked


def boost_masks(served: ServedBundle, query: Query) -> list[tuple[np.ndarray, float]]:
    """The request's boosts as (item mask, factor)."""
    if query.boost is None:
        return []
    return [(served.expression_mask(b.expression, "boost"), b.factor) for b in query.boost.boosts]


def similar_ranked(
    served: ServedBundle,
    name: str,
    items: np.ndarray,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    wanted: int,
) -> Ranked:
    """The best `wanted` cosine neighbours of the mean of `items`' unit vectors (any model: its
    similar_items for a single item without vectors). Reasons name the closest of `items`."""
    model = served.bundle.models[name]
    if not isinstance(model, VectorModel):
        ids, scores = model.similar_items(items[:1], wanted + len(excluded))
        reason = f"similar_to:{served.item_names[int(items[0])]}"
        return keep(Ranked(ids[0], scores[0], [reason] * ids.shape[1]), allowed, excluded)
    if len(items) == 1:
        found = precomputed_similar(served, model, int(items[0]), allowed, excluded, wanted)
        if found is not None:
            return found
    unit = model.unit_item_factors
    ranked = score_all(unit[items].mean(axis=0), unit, allowed, excluded, wanted)
    closest = items[np.argmax(unit[ranked.ids] @ unit[items].T, axis=1)] if len(ranked) else []
    ranked.reasons = [f"similar_to:{served.item_names[int(i)]}" for i in closest]
    return ranked


def precomputed_similar(
    served: ServedBundle,
    model: VectorModel,
    item: int,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    wanted: int,
) -> Ranked | None:
    """The first `wanted` items of the item's precomputed similar row that pass the filters, scored
    by cosine; None when the bundle has no rows or the filters leave fewer (exact search then)."""
    row = model.similar_for(item)
    if row is None:
        return None
    norms, vectors = served.norms(model), model.item_factors

    def cosine(chosen: np.ndarray) -> np.ndarray:
        return (vectors[chosen] @ vectors[item]) / (norms[chosen] * norms[item])

    found = best_passing(row, allowed, excluded, wanted, cosine)
    if found is not None:
        found.reasons = [f"similar_to:{served.item_names[item]}"] * len(found)
    return found


def finish(
    served: ServedBundle,
    ranked: Ranked,
    label: str,
    query: Query,
    name: str,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    context: np.ndarray | None = None,
) -> Picks:
    """Boosts, diversity re-rank, then refill with popular items so filters never starve the
    list."""
    model = served.bundle.models.get(name)
    vectors = model.item_factors if isinstance(model, VectorModel) else None
    pool = boosted(served, ranked, query)
    ranked = diversify(pool, query.n, query.diversity, vectors, served.categories)
    if query.promotions:
        ranked = promoted(served, ranked, pool, query, allowed, excluded)
    if len(ranked) >= query.n:
        return Picks(ranked, label)
    more, more_label = fallback(
        served, allowed, np.concatenate([excluded, ranked.ids]), query.n, context
    )
    if not len(ranked):  # the model knew nothing here: the response says it fell back
        return Picks(more, more_label, "popular")
    return Picks(ranked.then(more, query.n), label, "popular" if len(more) else None)


def encode_fresh(
    served: ServedBundle, fresh: Sequence[tuple[str, str]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Recent store events -> (item numbers, weights by event type, items purchased)."""
    if not fresh:
        empty = np.empty(0, np.int64)
        return empty, np.empty(0, np.float32), empty
    items = served.bundle.items.indices(item for item, _ in fresh)
    weights = np.array([served.event_weights.get(kind, 0.0) for _, kind in fresh], np.float32)
    bought = np.array([kind == "purchase" for _, kind in fresh], bool)
    known = (items >= 0) & (weights > 0)
    return items[known], weights[known], np.unique(items[(items >= 0) & bought])


__all__ = ["POPULAR_MODEL", "for_user", "popular", "session", "similar"]
