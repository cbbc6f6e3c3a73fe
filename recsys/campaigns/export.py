"""Batch picks for email campaigns: every customer of an Audience, chunk by chunk, with the email
rules, streamed into a CSV / JSONL / Parquet file that appears only when complete.

Per customer, in order of preference: abandoned cart items (freshest first), their complements (a
`Complements` model of the bundle, else items similar to the latest abandoned one), the model's
personal picks, then trending items in the favourite categories of the customer's segment. Every
source passes the same rules: nothing recently bought or picked in an earlier campaign, nothing out
of stock, at most `per_category` items of one category, no repeats.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.campaigns.audience import Audience
from recsys.campaigns.picks import Candidates, ItemRules, Reasons, apply_rules, from_sparse_rows
from recsys.campaigns.segments import SEGMENTS
from recsys.campaigns.tables import AtomicWriter
from recsys.errors import ParameterError
from recsys.models.base import Complements, Recommender

FIXED_REASONS = ("abandoned_cart", "for_you", "complement", "trending")
FAVOURITE_CATEGORIES = 3
Track = Callable[[Iterable[int], str, int], Iterator[int]]


@dataclass(frozen=True)
class ExportRules:
    n: int = 10
    recent_days: float = 30.0  # exclude items bought in this many days
    per_category: int = 3  # at most this many items of one category (0: no cap)
    campaigns: int = 3  # no item picked for the customer in this many earlier exports
    overfetch: int = 40  # extra candidates asked of the model for the rules to drop
    chunk: int = 4096  # customers per batch
    category: str | None = None  # only items in this category (or below it)

    def check(self) -> None:
        for name, low in (("n", 1), ("chunk", 1), ("campaigns", 0), ("overfetch", 0)):
            if getattr(self, name) < low:
                raise ParameterError(f"--{name}", f"must be >= {low}")
        if self.recent_days < 0 or self.per_category < 0:
            raise ParameterError("--recent-days/--per-category", "must be >= 0")


@dataclass
class ExportReport:
    customers: int = 0
    rows: int = 0
    short: int = 0  # customers who got fewer than n items
    seconds: float = 0.0


class Picker:
    """The campaign picks of any slice of an audience, computed for the whole slice at once."""

    def __init__(
        self,
        bundle: Bundle,
        audience: Audience,
        rules: ExportRules,
        model: str | None = None,
        allowed: np.ndarray | None = None,
    ) -> None:
        self.bundle, self.audience, self.rules = bundle, audience, rules
        self.model_name, self.model = choose_model(bundle, model)
        self.complements = next(
            (m for m in bundle.models.values() if isinstance(m, Complements)), None
        )
        self.reasons = Reasons(FIXED_REASONS, bundle.items)
        self.items = item_rules(bundle, rules, allowed)
        history = np.diff(bundle.interactions.indptr) > 0
        self.known = (audience.rows >= 0) & history[np.maximum(audience.rows, 0)]
        self.trending = self.trending_table()

    def pick(self, start: int, stop: int) -> Candidates:
        a, n = self.audience, self.rules.n
        exclude, rows, known = a.exclude[start:stop], a.rows[start:stop], self.known[start:stop]
        abandoned = from_sparse_rows(a.abandoned[start:stop], n, self.code("abandoned_cart"))
        width = n + self.rules.overfetch
        first = [abandoned, self.complement_part(a.abandoned[start:stop], abandoned)]
        personal = self.personal(rows, known, exclude, width)
        picks = apply_rules(Candidates.hstack([*first, personal]), n, exclude, self.items)
        short = np.flatnonzero(known & (picks.filled < n))
        if len(short) and width < len(self.bundle.items):  # the rules dropped too many: dig deeper
            wider = self.personal(rows[short], known[short], exclude[short], width * 4)
            again = Candidates.hstack([picks.take(short), wider])
            picks = picks.put(short, apply_rules(again, n, exclude[short], self.items))
        if (picks.filled < n).any():
            segment = a.segment[start:stop]
            fill = self.trending.take(np.where(segment >= 0, segment, len(SEGMENTS)))
            picks = apply_rules(Candidates.hstack([picks, fill]), n, exclude, self.items)
        return picks

    def personal(
        self, rows: np.ndarray, known: np.ndarray, exclude: sp.csr_matrix, width: int
    ) -> Candidates:
        out = Candidates.empty(len(rows), width)
        asked = np.flatnonzero(known)
        if len(asked):
            ids, scores = self.model.recommend(rows[asked], width, exclude[asked])
            out.ids[asked], out.scores[asked] = ids, scores
            out.reasons[asked] = self.code("for_you")
        return out

    def complement_part(self, abandoned: sp.csr_matrix, carts: Candidates) -> Candidates:
        """Complements of each abandoned cart (rows without one stay empty)."""
        n = self.rules.n
        out = Candidates.empty(abandoned.shape[0], n)
        has = np.flatnonzero(np.diff(abandoned.indptr) > 0)
        if not len(has):
            return out
        if self.complements is not None:
            basket = abandoned[has].astype(np.float32)
            basket.data[:] = 1.0
            ids, scores, because = self.complements.complements(basket, n)
            reasons = np.where(
                because >= 0,
                self.reasons.because("bought_with:", because),
                self.code("complement"),
            )
        else:
            latest = carts.ids[has, 0]
            ids, scores = self.model.similar_items(latest, n)
            reasons = np.repeat(self.reasons.because("similar_to:", latest)[:, None], n, axis=1)
        out.ids[has], out.scores[has], out.reasons[has] = ids, scores, reasons
        return out

    def trending_table(self) -> Candidates:
        """Row s: trending items in segment s's favourite categories, then trending overall; the
        last row (unknown segment) trending overall only."""
        width = 3 * self.rules.n + self.rules.overfetch
        popularity, allowed = self.bundle.popularity, self.items.allowed
        overall = popularity.top(width, allowed, trending=True)
        rows = []
        categories = self.bundle.categories
        for favourites in favourite_categories(self.bundle, self.audience):
            mask = np.zeros(len(self.bundle.items), bool)
            for category in favourites:
                mask |= categories.mask(category)
            ids, scores = popularity.top(width, allowed & mask, trending=True)
            rows.append((np.r_[ids, overall[0]], np.r_[scores, overall[1]]))
        rows.append(
            (np.r_[np.full(width, -1), overall[0]], np.r_[np.full(width, -np.inf), overall[1]])
        )
        ids, scores = (np.vstack(part) for part in zip(*rows, strict=True))
        reasons = np.full(ids.shape, self.code("trending"), np.int32)
        return Candidates(ids.astype(np.int64), scores.astype(np.float32), reasons)

    def code(self, name: str) -> int:
        return self.reasons.code(name)

    def table(self, start: int, picks: Candidates) -> pa.Table:
        """One row per customer and rank: user_id, rank, item_id, score, reason (+ title, price)."""
        r, c = np.nonzero(picks.ids >= 0)  # row-major: customer by customer, rank by rank
        items = pa.array(picks.ids[r, c])
        columns = {
            "user_id": self.audience.ids.take(pa.array(start + r)),
            "rank": pa.array((c + 1).astype(np.int32)),
            "item_id": self.bundle.items.arrow.take(items),
            "score": pa.array(picks.scores[r, c]),
            "reason": self.reasons.strings(picks.reasons[r, c]),
        }
        if self.bundle.catalogue is not None:
            catalogue = self.bundle.catalogue.table
            columns["title"] = catalogue.column("title").take(items)
            price = catalogue.column("price").take(items)
            columns["price"] = pc.if_else(pc.is_nan(price), None, price)
        return pa.table(columns)


def export_picks(
    bundle: Bundle,
    audience: Audience,
    out: str | Path,
    rules: ExportRules,
    model: str | None = None,
    track: Track | None = None,
    allowed: np.ndarray | None = None,
) -> ExportReport:
    """Writes the picks of every customer of `audience` to `out` (format by extension); only
    `allowed` items (a mask over item numbers, e.g. available ones; None: those in stock)."""
    rules.check()
    started = time.perf_counter()
    picker = Picker(bundle, audience, rules, model, allowed)
    report = ExportReport(customers=len(audience))
    starts: Iterable[int] = range(0, len(audience), rules.chunk)
    if track is not None:
        starts = track(starts, "export", -(-len(audience) // rules.chunk))
    with AtomicWriter(out, nest="user_id") as writer:
        for start in starts:
            picks = picker.pick(start, min(start + rules.chunk, len(audience)))
            table = picker.table(start, picks)
            report.rows += table.num_rows
            report.short += int((picks.filled < rules.n).sum())
            writer.write(table)
    report.seconds = time.perf_counter() - started
    return report


def choose_model(bundle: Bundle, name: str | None) -> tuple[str, Recommender]:
    """The named model, else the bundle's first personalised one (popular as a last resort)."""
    if name is not None:
        if name not in bundle.models:
            raise ParameterError(
                "--model", f"no model {name!r} in the bundle ({', '.join(bundle.models)})"
            )
        return name, bundle.models[name]
    ranked = sorted(bundle.models.items(), key=lambda pair: pair[1].kind == "popular")
    if not ranked:
        raise ParameterError("--models", "the bundle holds no model")
    return ranked[0]


def item_rules(bundle: Bundle, rules: ExportRules, allowed: np.ndarray | None = None) -> ItemRules:
    """The items allowed (given, else those in stock), in `rules.category`, and the category
    cap."""
    n_items, catalogue, categories = len(bundle.items), bundle.catalogue, bundle.categories
    if allowed is None:
        allowed = np.ones(n_items, bool)
        if catalogue is not None and "in_stock" in catalogue.given:
            allowed = catalogue.in_stock
    if rules.category is not None:
        categories.check(rules.category, "--category")
        allowed = allowed & categories.mask(rules.category)
    return ItemRules(allowed, categories.known_codes, rules.per_category)


def favourite_categories(bundle: Bundle, audience: Audience) -> list[list[str]]:
    """Per segment (SEGMENTS order): its top categories by the interactions of its customers in the
    audience (categories overall where the segment has none)."""
    if bundle.catalogue is None:
        return [[] for _ in SEGMENTS]
    known = (audience.rows >= 0) & (audience.segment >= 0)
    members = sp.csr_matrix(
        (np.ones(int(known.sum())), (audience.segment[known], audience.rows[known])),
        shape=(len(SEGMENTS), bundle.interactions.shape[0]),
    )
    weights = np.asarray((members @ bundle.interactions).todense())
    overall = np.asarray(bundle.interactions.sum(axis=0)).ravel()
    names, codes = bundle.categories.names, bundle.categories.codes
    favourites = []
    for row in weights:
        row = row if row.any() else overall
        per_category = np.bincount(codes, weights=row, minlength=len(names))
        per_category[names == ""] = 0
        best = np.argsort(-per_category, kind="stable")[:FAVOURITE_CATEGORIES]
        favourites.append([str(names[i]) for i in best if per_category[i] > 0])
    return favourites

