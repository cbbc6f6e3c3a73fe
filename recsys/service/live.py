"""The live catalogue: item changes made since training (recsys.eventstore.items) laid over a
bundle's catalogue, as per-item availability in the bundle's item numbers.

An item is available when it is in stock, not hidden, not deleted and not past its
`available_until`. The overlay is immutable and replaced as a whole when the store moves; each
bundle derives its arrays from it once per overlay (and again when an `available_until` passes),
off the request path.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.catalogue import TRUE, Catalogue
from recsys.data.columns import parse_one_timestamp
from recsys.data.vocabulary import Vocabulary
from recsys.eventstore.items import StoredItem

EPOCHS = itertools.count(1)  # numbers LiveState objects, so caches keyed by one never mix two


@dataclass(frozen=True)
class ItemOverlay:
    """Per changed item, its changed fields and properties merged (recsys.eventstore.items).
    `fresh` holds the items changed since the overlay of store position `since`, so what was
    derived from that one is updated item by item, not rebuilt."""

    items: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    seq: int = 0  # the highest store `seq` read
    fresh: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    since: int = -1

    def updated(self, stored: Sequence[StoredItem]) -> ItemOverlay:
        """This overlay with the items read since (their whole merged fields replace ours)."""
        if not stored:
            return self
        fresh = {item.item_id: item.fields for item in stored}
        seq = max(self.seq, *(item.seq for item in stored))
        return ItemOverlay({**self.items, **fresh}, seq, fresh, self.seq)

    def changes_since(self, previous: ItemOverlay) -> Mapping[str, Mapping[str, Any]] | None:
        """The items changed since `previous` when this overlay follows it directly (None: not)."""
        if previous is self:
            return {}
        return self.fresh if self.since == previous.seq else None


class LiveItems:
    """The overlay this process serves: one reference, replaced whole (readers take it once)."""

    def __init__(self) -> None:
        self.overlay = ItemOverlay()


@dataclass(frozen=True)
class LiveState:
    """One bundle's availability under one overlay, at one time."""

    overlay: ItemOverlay
    raw: tuple[np.ndarray, np.ndarray, np.ndarray]  # per item: in stock, hidden, available until
    stock: np.ndarray | None  # per item number: in stock (None: nothing is out of stock)
    visible: np.ndarray | None  # not hidden, deleted or expired (None: all are)
    expires: float  # when the next `available_until` passes (inf: never)
    epoch: int = field(default_factory=lambda: next(EPOCHS))

    @property
    def available(self) -> np.ndarray | None:
        """In stock and visible (None: every item)."""
        return both(self.stock, self.visible)


def live_state(
    catalogue: Catalogue | None,
    items: Vocabulary,
    overlay: ItemOverlay,
    now: float | None = None,
    previous: LiveState | None = None,
) -> LiveState:
    """The availability of `items` (a bundle's) under `overlay`: the catalogue's fields, then the
    overlay's changes on top; from `previous` plus the items changed since when it can."""
    now = time.time() if now is None else now
    delta = overlay.changes_since(previous.overlay) if previous is not None else None
    if previous is not None and delta is not None:
        stock, hidden, until = (array.copy() for array in previous.raw) if delta else previous.raw
    else:
        stock, hidden, until = base_columns(catalogue, len(items))
        delta = overlay.items
    numbers = items.indices(delta) if delta else np.empty(0, int)
    for number, fields in zip(numbers.tolist(), delta.values(), strict=True):
        if number < 0:
            continue
        if "in_stock" in fields:
            stock[number] = bool(fields["in_stock"])
        if "hidden" in fields or "deleted" in fields:
            hidden[number] = bool(fields.get("hidden")) or bool(fields.get("deleted"))
        if "available_until" in fields:
            value = fields["available_until"]
            until[number] = math.inf if value is None else float(value)
    visible = ~hidden & (until > now)
    later = until[until > now]
    expires = float(later.min()) if len(later) else math.inf
    return LiveState(
        overlay,
        (stock, hidden, until),
        None if stock.all() else stock,
        None if visible.all() else visible,
        expires,
    )


def moved_categories(
    items: Vocabulary,
    overlay: ItemOverlay,
    previous: tuple[ItemOverlay, Mapping[int, str]] | None = None,
) -> Mapping[int, str]:
    """The bundle's items (numbers) whose category the overlay changed, and their new paths; from
    `previous` (an overlay and its answer) plus the items changed since when it can."""
    delta = overlay.changes_since(previous[0]) if previous is not None else None
    moved = dict(previous[1]) if previous is not None and delta is not None else {}
    changes = overlay.items if delta is None else delta
    numbers = items.indices(changes) if changes else np.empty(0, int)
    for number, fields in zip(numbers.tolist(), changes.values(), strict=True):
        if number >= 0 and "category" in fields:
            moved[number] = str(fields["category"] or "")
    return moved


def in_path(path: str, category: str) -> bool:
    """Whether `path` is `category` or below it."""
    prefix = category.rstrip("/")
    return path == prefix or path.startswith(prefix + "/")


def base_columns(catalogue: Catalogue | None, n: int) -> tuple[np.ndarray, ...]:
    """The catalogue's stock, hidden and available_until per item (a bundle trained with item
    changes holds them; a catalogue file may too)."""
    stock, hidden, until = np.ones(n, bool), np.zeros(n, bool), np.full(n, math.inf)
    if catalogue is None:
        return stock, hidden, until
    table, given = catalogue.table, catalogue.given
    if "in_stock" in given:
        stock = catalogue.in_stock.copy()
    if "hidden" in table.column_names:
        hidden = flags(table.column("hidden"))
    if "available_until" in table.column_names:
        until = seconds(table.column("available_until"))
    return stock, hidden, until


def flags(column: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_boolean(column.type):
        return np.asarray(column.fill_null(False).to_numpy(zero_copy_only=False), bool)
    text = pc.utf8_lower(pc.utf8_trim_whitespace(pc.cast(column, pa.string())))
    return np.array([value in TRUE for value in text.to_pylist()], bool)


def seconds(column: pa.ChunkedArray) -> np.ndarray:
    """Unix seconds (numbers, or ISO-8601 text); empty or unreadable values never expire."""
    if pa.types.is_floating(column.type) or pa.types.is_integer(column.type):
        values = column.to_numpy(zero_copy_only=False).astype(float)
        return np.where(np.isnan(values), math.inf, values)
    if pa.types.is_timestamp(column.type):
        values = pc.cast(column, pa.timestamp("s")).cast(pa.int64()).to_numpy(zero_copy_only=False)
        return np.asarray(values, float)
    found = []
    for value in pc.cast(column, pa.string()).to_pylist():
        parsed = parse_one_timestamp(value) if value else None
        found.append(math.inf if parsed is None else float(parsed))
    return np.array(found, float)


def both(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    """a & b, where None stands for all True."""
    if a is None:
        return b
    return a if b is None else a & b
