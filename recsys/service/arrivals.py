"""New products from the first minute (recsys.service.content): similar items and cross-sell by
content for the items the models know nothing about, a share of new items in known items' similar
lists and personal picks (`explore_new`), and the newest items (new arrivals).

Answers in content numbers: the bundle's item numbers, then the live catalogue's own items
(ServedBundle.item_names holds their ids too). New items join a list after every mask and
re-rank of the bundle's numbers, at their own positions.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from recsys.ranking import top_n
from recsys.service.content import ContentIndex
from recsys.service.expressions import Expression
from recsys.service.item_columns import expression_mask, in_category
from recsys.service.popular import fallback
from recsys.service.query import Picks, Query, Ranked
from recsys.service.rerank import boost, placed
from recsys.service.served import ServedBundle

CONTENT_MODEL = "content"
PROFILE_ITEMS = 50  # a user's most weighted items that make their content profile
MAX_STAND_INS = 5  # new items of one basket replaced by known ones (the rest are left out)


def content_label(served: ServedBundle) -> str:
    return served.label(CONTENT_MODEL)


def new_number(served: ServedBundle, item_id: str) -> int | None:
    """The content number of `item_id` when the models know nothing about it: only the live
    catalogue knows it, or it has no interactions; None otherwise (or when nobody knows it)."""
    number = served.bundle.items.index(item_id)
    if number is not None:
        return number if served.interaction_counts[number] == 0 else None
    extra = served.content().extras.index(item_id)
    return None if extra is None else served.n_items + extra


def content_allowed(served: ServedBundle, index: ContentIndex, query: Query) -> np.ndarray:
    """What the query lets through, in content numbers (the bundle's mask, then the extras')."""
    known = served.allowed(query)
    known = np.ones(served.n_items, bool) if known is None else known
    return np.concatenate([known, extras_allowed(index, query)])


def extras_allowed(index: ContentIndex, query: Query) -> np.ndarray:
    """Per item only the live catalogue knows, whether the query lets it through."""
    extra = index.extra_state.visible if query.in_stock is False else index.extra_state.available
    extra = np.ones(len(index.extras), bool) if extra is None else extra.copy()
    if query.category is not None:
        extra &= in_category(index.extra_columns.values("category"), query.category)
    if query.filter is not None:
        extra &= expression_mask(query.filter, index.extra_columns, "filter")
    return extra


def content_mask(
    served: ServedBundle, index: ContentIndex, expression: Expression, parameter: str
) -> np.ndarray:
    known = served.expression_mask(expression, parameter)
    return np.concatenate([known, expression_mask(expression, index.extra_columns, parameter)])


def content_boosted(served: ServedBundle, index: ContentIndex, ranked: Ranked, query: Query
                    ) -> Ranked:  # fmt: skip
    if query.boost is None:
        return ranked
    masks = [(content_mask(served, index, b.expression, "boost"), b.factor)
             for b in query.boost.boosts]  # fmt: skip
    return boost(ranked, masks)


def excluded_numbers(served: ServedBundle, index: ContentIndex, query: Query,
                     *more: Sequence[int] | np.ndarray) -> np.ndarray:  # fmt: skip
    found = index.numbers(served.bundle.items, query.exclude)
    return np.concatenate([found[found >= 0], *more]).astype(np.int64)


def reason(index: ContentIndex, served: ServedBundle, item: int, other: int) -> str:
    shared = index.shared_path(item, other)
    return f"same_category:{shared}" if shared else f"similar_to:{served.item_names[other]}"


def similar_by_content(served: ServedBundle, item: int, query: Query) -> Picks:
    """Items like the content number `item` by content, among every item, refilled with
    popular ones."""
    index = served.content()
    scores = index.scores(item)
    scores[~content_allowed(served, index, query)] = -np.inf
    scores[excluded_numbers(served, index, query, [item])] = -np.inf
    wanted = max(query.n, 50) if query.boost is not None else query.n
    ids, best = top_n(np.where(scores > 0, scores, -np.inf), wanted)
    ranked = Ranked(ids[0], best[0]).valid()
    ranked.reasons = [reason(index, served, int(i), item) for i in ranked.ids.tolist()]
    ranked = content_boosted(served, index, ranked, query).take(
        np.arange(min(query.n, len(ranked)))
    )
    return refilled(served, ranked, query, content_label(served), [item])


def refilled(served: ServedBundle, ranked: Ranked, query: Query, label: str,
             excluded: Sequence[int]) -> Picks:  # fmt: skip
    """`ranked` filled up to n with popular items passing the query's filters."""
    if len(ranked) >= query.n:
        return Picks(ranked, label)
    index = served.content()
    never = excluded_numbers(served, index, query, ranked.ids, excluded)
    more, more_label = fallback(
        served, served.allowed(query), never[never < served.n_items], query.n
    )
    if not len(ranked):
        return Picks(more, more_label, "popular")
    return Picks(ranked.then(more, query.n), label, "popular" if len(more) else None)


def stand_ins(served: ServedBundle, item_ids: Sequence[str]) -> tuple[list[str], bool]:
    """`item_ids` with each item the models know nothing about replaced by the known item
    (with interactions) most like it by content; whether any was replaced."""
    index, n_known = served.content(), served.n_items
    found, replaced = [], 0
    for item_id in item_ids:
        number = new_number(served, item_id)
        if number is None:
            found.append(item_id)
            continue
        if replaced >= MAX_STAND_INS or not len(served.interacted):
            continue
        scores = np.where(served.interaction_counts > 0, index.scores(number)[:n_known], -1)
        if scores.max() > 0:
            found.append(served.item_names[int(np.argmax(scores))])
            replaced += 1
    return found, replaced > 0


def explored(served: ServedBundle, picks: Picks, query: Query, anchors: np.ndarray,
             weights: np.ndarray | None = None) -> Picks:  # fmt: skip
    """`picks` with new items in `query.explore_new` of the slots (rounded down), the most like
    the `anchors` (content numbers: the item of a similar list, a user's history) by content,
    then the newest; reason new_in:<category>."""
    slots = int(query.explore_new * query.n + 1e-9)  # rounded down: never more than the share
    if slots <= 0 or not len(picks.ranked):
        return picks
    index = served.content()
    if not len(index.new):
        return picks
    pool = index.pool
    ok = pool_allowed(served, index, query).copy()
    gone = excluded_numbers(served, index, query, picks.ranked.ids, anchors)
    ok[index.pool_positions(gone)] = False
    if not ok.any():
        return picks
    scores = profile_scores(index, anchors, weights)
    key = np.where(ok, scores - index.pool_ties, -np.inf)
    if slots == 1:  # the usual share (1 of 10): the first best, the newest of a tie
        best = np.array([np.argmax(key)])
    else:
        best = np.argpartition(-key, slots - 1)[:slots] if slots < len(key) else np.arange(len(key))
        best = best[np.argsort(-key[best], kind="stable")]
    best = best[np.isfinite(key[best])]
    chosen = pool[best]
    reasons = [f"new_in:{index.paths[i] or 'catalogue'}" for i in chosen.tolist()]
    extra = Ranked(chosen, scores[best], reasons)
    return Picks(placed(picks.ranked, extra, query.n), picks.model, picks.fallback)


def pool_allowed(served: ServedBundle, index: ContentIndex, query: Query) -> np.ndarray:
    """new_allowed of the explore pool (read-only), remembered per filter and live state."""
    key = ("allowed", query.category, query.in_stock is False, query.filter, served.follow().epoch)
    return index.remember(key, lambda: new_allowed(served, index, query, index.pool))


def new_allowed(
    served: ServedBundle, index: ContentIndex, query: Query, new: np.ndarray
) -> np.ndarray:
    """Per content number of `new` (items without interactions), whether the query lets it
    through."""
    known = served.allowed(query)
    in_bundle = new < served.n_items
    ok = np.ones(len(new), bool)
    if known is not None:
        ok[in_bundle] = known[new[in_bundle]]
    if len(index.extras):
        ok[~in_bundle] = extras_allowed(index, query)[new[~in_bundle] - served.n_items]
    return ok


def profile_scores(index: ContentIndex, anchors: np.ndarray, weights: np.ndarray | None
                   ) -> np.ndarray:  # fmt: skip
    """Content scores of the explore pool (the newest new items) against the anchors' weighted
    mean row and the category of the most weighted anchor (no anchors: all 0: the newest
    first)."""
    if not len(anchors):
        return np.zeros(len(index.pool), np.float32)
    if weights is None:
        weights = np.ones(len(anchors), np.float32)
    top = np.argsort(-weights, kind="stable")[:PROFILE_ITEMS]
    anchors, weights = anchors[top], weights[top]
    row = index.mean_row(anchors, weights)
    return index.profile_scores(row, index.levels[:, int(anchors[0])], pool_only=True)


def new_arrivals(served: ServedBundle, query: Query) -> Picks:
    """The newest items the query lets through (added through the live catalogue, newest
    first, then catalogue items without interactions), refilled with trending ones."""
    index = served.content()
    order = index.newest
    ok = new_allowed(served, index, query, index.new)
    ok[index.new_positions(excluded_numbers(served, index, query))] = False
    ok = ok[order]
    wanted = max(query.n, 50) if query.boost is not None else query.n
    chosen = index.new[order[np.flatnonzero(ok)[:wanted]]]
    scores = 1.0 / (1.0 + np.arange(len(chosen)))
    reasons = [f"new_in:{index.paths[i] or 'catalogue'}" for i in chosen.tolist()]
    ranked = content_boosted(served, index, Ranked(chosen, scores, reasons), query)
    return refilled(served, ranked.take(np.arange(min(query.n, len(ranked)))), query,
                    content_label(served), [])  # fmt: skip
