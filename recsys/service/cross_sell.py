"""Cross-sell: complements of a basket, from a Complements model's "bought with" lists when the
bundle has one, else similar items of the basket; new items stand in by content."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from recsys.models.base import Complements
from recsys.models.vector import VectorModel
from recsys.ranking import row_of, rows_summed
from recsys.service.arrivals import content_label, stand_ins
from recsys.service.picks import SIMILAR_FALLBACK, finish, request_scope, similar_ranked
from recsys.service.popular import POPULAR_IN_CATEGORY, POPULAR_MODEL, fallback
from recsys.service.query import Picks, Query, Ranked
from recsys.service.rerank import keep
from recsys.service.served import ServedBundle

TOP_CATEGORIES = 2  # a short cross-sell list is refilled with these categories' best sellers


def cross_sell(
    served: ServedBundle, item_ids: Sequence[str], query: Query, model_name: str | None = None
) -> Picks:
    """Complements of a basket: a Complements model's "bought with" lists when the bundle has one,
    else similar items of the basket (said so in `model`), refilled with popular ones. Remembered
    per bundle like similar items."""
    key = ("cross-sell", tuple(sorted(set(item_ids))), query, model_name)
    return served.memo(key, lambda: cross_sell_picks(served, item_ids, query, model_name))


def cross_sell_picks(
    served: ServedBundle, item_ids: Sequence[str], query: Query, model_name: str | None
) -> Picks:
    known, replaced = stand_ins(served, item_ids)
    if replaced:  # new items stand in for the known ones most like them by content
        asked = dataclasses.replace(query, exclude=(*query.exclude, *item_ids))
        picks = known_cross_sell(served, known, asked, model_name)
        if picks.model in (POPULAR_MODEL, POPULAR_IN_CATEGORY):
            return picks
        return Picks(picks.ranked, content_label(served), picks.fallback)
    return known_cross_sell(served, item_ids, query, model_name)


def known_cross_sell(
    served: ServedBundle, item_ids: Sequence[str], query: Query, model_name: str | None
) -> Picks:
    basket = np.unique(served.item_numbers(item_ids))
    allowed, excluded, wanted = request_scope(served, query, basket)
    if not len(basket):
        ranked, label = fallback(served, allowed, excluded, query.n)
        return Picks(ranked, label, "popular")
    name = complements_model(served, model_name)
    if name is not None:
        model = served.bundle.models[name]
        basket_row = row_of(basket, served.n_items)
        ids, scores, because = model.complements(basket_row, wanted + len(excluded))
        reasons = [bought_with(served, int(b)) for b in because[0]]
        ranked = keep(Ranked(ids[0], scores[0], reasons), allowed, excluded)
        context = complement_categories(served, model, basket)
        return finish(served, ranked, served.label(name), query, name, allowed, excluded, context)
    name = model_name or served.default_model
    if not isinstance(served.bundle.models.get(name), VectorModel):
        ranked, label = fallback(served, allowed, excluded, query.n, basket)
        return Picks(ranked, label, "popular")
    ranked = similar_ranked(served, name, basket, allowed, excluded, wanted)
    label = f"{SIMILAR_FALLBACK}:{served.label(name)}"
    picks = finish(served, ranked, label, query, name, allowed, excluded, basket)
    picks.fallback = picks.fallback or "similar_items"
    return picks


def complement_categories(
    served: ServedBundle, model: Complements, basket: np.ndarray
) -> np.ndarray:
    """Where a short list is refilled from: one item of each of the TOP_CATEGORIES categories
    whose items are most bought with the basket's categories' items, the basket's own categories
    left out (their best sellers are substitutes); the basket itself when none is known."""
    similarity = getattr(model, "similarity", None)
    if served.categories is None or not isinstance(similarity, sp.csr_matrix):
        return basket
    key = ("complement_categories", id(model))
    if key not in served.cache:
        codes = served.item_category_codes
        members = sp.csr_matrix(
            (np.ones(len(codes), np.float32), (np.arange(len(codes)), codes)),
            shape=(len(codes), int(codes.max(initial=0)) + 1),
        )
        pairs = sp.csr_matrix(members.T @ similarity @ members)
        pairs.setdiag(0)
        first = np.full(pairs.shape[0], -1, np.int64)
        first[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # an item of each category
        served.cache[key] = (pairs, first)
    pairs, first = served.cache[key]
    own = np.unique(served.item_category_codes[basket])
    affinity = rows_summed(pairs, own)
    affinity[own] = 0
    best = np.argsort(-affinity, kind="stable")[:TOP_CATEGORIES]
    best = best[(affinity[best] > 0) & (first[best] >= 0)]
    return first[best] if len(best) else basket


def complements_model(served: ServedBundle, requested: str | None) -> str | None:
    """The model answering cross-sell (looked up once per bundle: protocol checks are slow)."""
    return served.memo(("complements", requested), lambda: find_complements(served, requested))


def find_complements(served: ServedBundle, requested: str | None) -> str | None:
    models = served.bundle.models
    if requested is not None:
        return requested if isinstance(models.get(requested), Complements) else None
    return next((name for name, m in models.items() if isinstance(m, Complements)), None)


def bought_with(served: ServedBundle, item: int) -> str | None:
    return f"bought_with:{served.item_names[item]}" if item >= 0 else None
