"""Popularity answers: the popular endpoint and every fallback (popular in a category, then
overall)."""

from __future__ import annotations

import numpy as np

from recsys.service.query import Ranked
from recsys.service.rerank import member
from recsys.service.served import ServedBundle

POPULAR_MODEL = "fallback:popular"
POPULAR_IN_CATEGORY = "fallback:popular_in_category"


def popular_ranked(
    served: ServedBundle,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    count: int,
    trending: bool = False,
    context: np.ndarray | None = None,
) -> Ranked:
    """The `count` most popular items that pass the filters (and, given `context` items, share a
    category with one of them), with popular_in:<category> reasons. Walks the popularity order
    from the top, so a request touches a few hundred items, not the catalogue."""
    scores = (
        served.bundle.popularity.trending if trending else served.bundle.popularity.best_sellers
    )
    if context is None:
        order = popularity_order(served, trending)
    else:
        order = in_categories(served, trending, served.category_codes(context), scores)
    head = order[: 4 * count + len(excluded) + 64]
    picked = passing(head, allowed, excluded)
    if len(picked) < count and len(head) < len(order):
        picked = passing(order, allowed, excluded)
    picked = picked[:count]
    return Ranked(picked, scores[picked], [popular_reason(served, int(i)) for i in picked])


def popularity_order(served: ServedBundle, trending: bool) -> np.ndarray:
    """Every item number, most popular first (sorted once per bundle)."""
    key = ("popular_order", trending)
    if key not in served.cache:
        pop = served.bundle.popularity
        scores = pop.trending if trending else pop.best_sellers
        served.cache[key] = np.argsort(-np.asarray(scores), kind="stable")
    return served.cache[key]


def in_categories(
    served: ServedBundle, trending: bool, codes: np.ndarray, scores: np.ndarray
) -> np.ndarray:
    """The items of the categories `codes`, most popular first: slices of a per-bundle order
    grouped by category (sorted once), merged."""
    key = ("category_order", trending)
    if key not in served.cache:
        item_codes = served.item_category_codes
        grouped = np.lexsort((-np.asarray(scores), item_codes))
        starts = np.searchsorted(item_codes[grouped], np.arange(item_codes.max(initial=0) + 2))
        served.cache[key] = grouped
        served.cache[(key, "starts")] = starts
    grouped, starts = served.cache[key], served.cache[(key, "starts")]
    items = np.concatenate([grouped[starts[c] : starts[c + 1]] for c in codes.tolist()])
    return items[np.argsort(-scores[items], kind="stable")]


def passing(order: np.ndarray, allowed: np.ndarray | None, excluded: np.ndarray) -> np.ndarray:
    ok = np.ones(len(order), bool) if allowed is None else allowed[order]
    if len(excluded):
        ok &= ~member(order, excluded)
    return order[ok]


def popular_reason(served: ServedBundle, item: int) -> str:
    category = served.category_of(item)
    return f"popular_in:{category}" if category else "popular"


def fallback(
    served: ServedBundle,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
    count: int,
    context: np.ndarray | None = None,
) -> tuple[Ranked, str]:
    """Popular in the categories of the `context` items (a basket, a history), then popular
    overall; the model label says which one answered."""
    if context is not None and len(context) and served.categories is not None:
        ranked = popular_ranked(served, allowed, excluded, count, context=context)
        if len(ranked) >= count:
            return ranked, POPULAR_IN_CATEGORY
        return ranked.then(popular_ranked(served, allowed, excluded, count), count), (
            POPULAR_IN_CATEGORY
        )
    return popular_ranked(served, allowed, excluded, count), POPULAR_MODEL
