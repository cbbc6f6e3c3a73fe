"""Promotions (`[[promotions]]` in the config): each reserves a share of every list's slots for the
items its filter matches, labelled `promotion:<name>`.

    [[promotions]]
    name = "own-brand"
    filter = 'brand = "acme"'
    share = 0.2

A list that already holds that many matching items is left as it is; otherwise the best matching
items of the model's pool, then the most popular matching ones, take the missing slots (rounded
down: 2 of 10 for 0.2), at evenly spaced positions, the lowest of the other items making room.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from recsys.checks import between, section
from recsys.errors import ConfigError, ParameterError
from recsys.service.expressions import Expression, parse_filter
from recsys.service.popular import popular_ranked
from recsys.service.query import Query, Ranked
from recsys.service.rerank import member, placed
from recsys.service.served import ServedBundle


@dataclass(frozen=True)
class Promotion:
    name: str
    filter: str
    share: float

    def check(self, key: str) -> None:
        if not self.name.strip():
            raise ConfigError(f"{key}.name", "must not be empty")
        between(f"{key}.share", self.share, 0, 1)
        try:
            self.rule  # noqa: B018 (parsed once, here)
        except ParameterError as exc:
            raise ConfigError(f"{key}.filter", exc.reason) from None

    @cached_property
    def rule(self) -> Expression:
        return parse_filter(self.filter, "promotion")


def read_promotions(raw: Any) -> tuple[Promotion, ...]:
    """The `[[promotions]]` tables, checked: names unique, shares adding up to at most 1."""
    if not isinstance(raw, list):
        raise ConfigError("promotions", "must be an array of tables ([[promotions]])")
    found = tuple(section(Promotion, table, f"promotions[{i}]") for i, table in enumerate(raw))
    names = [promotion.name for promotion in found]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"promotions[{i}].name", f"{name!r} is used twice")
    if sum(promotion.share for promotion in found) > 1 + 1e-9:
        raise ConfigError("promotions", "the shares add up to more than 1")
    return found


def unusable(served: ServedBundle, promotions: tuple[Promotion, ...]) -> list[tuple[str, str]]:
    """(name, reason) of each promotion whose filter this bundle cannot apply (a field its
    catalogue lacks, a value of the wrong kind): those are skipped while it serves."""
    found = []
    for promotion in promotions:
        try:
            served.expression_mask(promotion.rule, "promotion")
        except ParameterError as exc:
            found.append((promotion.name, exc.reason))
    return found


def promoted(
    served: ServedBundle,
    ranked: Ranked,
    pool: Ranked,
    query: Query,
    allowed: np.ndarray | None,
    excluded: np.ndarray,
) -> Ranked:
    """`ranked` (at most query.n items) with each of the query's promotions given its share of
    the slots: matching items of `pool` (the model's candidates, best first), then popular ones,
    all passing `allowed` and not `excluded`. A promotion whose filter names a field this bundle
    lacks is skipped."""
    for promotion in query.promotions:
        slots = int(promotion.share * query.n + 1e-9)
        try:
            matches = served.expression_mask(promotion.rule, "promotion")
        except ParameterError:
            continue
        if allowed is not None:
            matches = matches & allowed
        missing = slots - int(matches[ranked.ids].sum())
        if missing <= 0:
            continue
        taken = np.concatenate([excluded, ranked.ids])
        extra = pool.take(np.flatnonzero(matches[pool.ids] & ~member(pool.ids, taken)))
        if len(extra) < missing:
            more = popular_ranked(served, matches, np.concatenate([taken, extra.ids]), missing)
            extra = extra.then(more, missing)
        extra = extra.take(np.arange(min(missing, len(extra))))
        extra.reasons = [f"promotion:{promotion.name}"] * len(extra)
        over = len(ranked) + len(extra) - query.n  # the lowest other items make room
        others = np.flatnonzero(~matches[ranked.ids])
        if over > 0:
            ranked = ranked.take(np.setdiff1d(np.arange(len(ranked)), others[-over:]))
        ranked = placed(ranked, extra, query.n)
    return ranked
