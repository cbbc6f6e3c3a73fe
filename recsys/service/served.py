"""A loaded bundle plus what every request needs from it, computed once per bundle: category and
availability masks (under the live catalogue's changes), the default personalised model, purchase
exclusions."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Hashable, Iterable, Mapping
from typing import Any, TypeVar

import numpy as np

from recsys.bundle import Bundle
from recsys.models.base import FoldIn
from recsys.models.vector import VectorModel
from recsys.service.content import ContentIndex, content_index
from recsys.service.expressions import Expression
from recsys.service.item_columns import ItemColumns, base_columns, expression_mask, live_columns
from recsys.service.live import (
    ItemOverlay,
    LiveItems,
    LiveState,
    both,
    in_path,
    live_state,
    moved_categories,
)
from recsys.service.query import Query

T = TypeVar("T")
MASK_CACHE = 512  # distinct (category, in_stock, filter) masks kept per bundle
MISSING = object()
MEMO_SIZE = 10_000  # answers that depend on the request alone (similar, cross-sell, quiet users)
MASK_BYTES = 64 << 20  # masks kept per bundle, of each kind (one byte per item each)
REPEAT_COLUMN = "repeat_purchase"  # catalogue column: items people buy again stay recommendable
# the vector models' memory-mapped arrays (shared by workers)
MAPPED_ARRAYS = ("user_factors", "item_factors", "candidates", "candidate_rows", "similar")


class ServedBundle:
    """Read-only after construction (apart from bounded caches and the live state, replaced whole),
    so threads share it freely. `live` is the process's live catalogue (none: the bundle's)."""

    def __init__(self, bundle: Bundle, live: LiveItems | None = None) -> None:
        self.bundle = bundle
        self.n_items = len(bundle.items)
        self.item_names: list[str] = bundle.items.arrow.to_pylist()  # numbers -> ids, fast
        plain_arrays(bundle)
        catalogue = bundle.catalogue
        given = catalogue.given if catalogue is not None else frozenset()
        self.category_index = bundle.categories
        # per item its category path; None when the catalogue has no categories
        self.categories = self.category_index.paths if "category" in given else None
        self.stock = catalogue.in_stock if "in_stock" in given else None
        self.repeatable = repeatable_items(bundle) if REPEAT_COLUMN in given else None
        self._masks: dict[Hashable, np.ndarray | None] = {}
        self._compiled: dict[Hashable, np.ndarray] = {}  # expression masks (filter=, boost=)
        self._base_columns: ItemColumns | None = None
        self._columns: tuple[ItemOverlay, ItemColumns] | None = None
        self.cache: dict[object, np.ndarray] = {}  # per-bundle derived arrays (popularity order)
        self._memo: dict[bytes, Any] = {}
        self._folds: dict[int, bool] = {}
        self.default_model = default_model(bundle)
        weights = bundle.manifest.get("config", {}).get("events", {})
        self.event_weights: dict[str, float] = dict(weights.get("weights", {}))
        self.damped = weights.get("damping", "log1p") == "log1p"
        self.live_items = live or LiveItems()
        self.state = live_state(catalogue, bundle.items, self.live_items.overlay)
        counts = np.bincount(bundle.interactions.indices, minlength=self.n_items)
        self.interaction_counts = counts[: self.n_items]
        self.interacted = np.flatnonzero(self.interaction_counts > 0)
        self._content: ContentIndex | None = None
        self._moved: tuple[ItemOverlay, Mapping[int, str]] | None = None
        self._content_lock = threading.Lock()

    def follow(self) -> LiveState:
        """The availability under the live catalogue's current overlay (rebuilt when the overlay
        moved or an `available_until` passed; the refresher calls this off the request path).
        Masks and remembered answers of an older state are never used again."""
        state = self.state
        overlay = self.live_items.overlay
        if overlay is state.overlay and time.time() < state.expires:
            return state
        state = live_state(self.bundle.catalogue, self.bundle.items, overlay, None, state)
        if self._columns is not None:  # filters are in use: their columns follow too
            self.item_columns(state)
        if self._content is not None:
            self.content(state)
        self._masks, self._memo, self._compiled = {}, {}, {}
        self.state = state
        return state

    def content(self, state: LiveState | None = None) -> ContentIndex:
        """The items by content under `state` (the current one by default), built once per
        bundle, then following the live catalogue; the live catalogue's own items join
        `item_names` (content numbers from n_items on)."""
        state = self.follow() if state is None else state
        found = self._content
        if found is not None and found.overlay is state.overlay:
            return found
        with self._content_lock:
            found = self._content
            if found is None or found.overlay is not state.overlay:
                columns = self.item_columns(state)
                found = content_index(
                    columns, self.bundle.items, self.interaction_counts, state, found
                )
                self.item_names.extend(
                    found.extras.arrow.to_pylist()[len(self.item_names) - self.n_items :]
                )
                self._content = found
        return found

    def item_columns(self, state: LiveState) -> ItemColumns:
        """Item fields and properties under `state` (the catalogue's read once per bundle)."""
        found = self._columns
        if found is None or found[0] is not state.overlay:
            if self._base_columns is None:
                self._base_columns = ItemColumns(base_columns(self.bundle.catalogue, self.n_items))
            columns = live_columns(self._base_columns, self.bundle.items, state.overlay, found)
            found = self._columns = (state.overlay, columns)
        return found[1]

    def expression_mask(self, expression: Expression, parameter: str) -> np.ndarray:
        """The items `expression` matches now, compiled once per distinct text (bounded in
        bytes); ParameterError naming `parameter` for an unknown field or a wrong kind."""
        state = self.follow()
        key = (expression.text, parameter, state.epoch)
        compiled = self._compiled
        found = compiled.get(key)
        if found is None:
            found = expression_mask(expression, self.item_columns(state), parameter)
            if (len(compiled) + 1) * max(self.n_items, 1) > MASK_BYTES:
                compiled.clear()
            compiled[key] = found
        return found

    @property
    def version(self) -> str:
        return self.bundle.version

    def warm(self) -> None:
        """Maps in every page of the memory-mapped model arrays for this process: a page first
        touched by a request costs it a page fault (tens of microseconds here), and a request
        for a new user touches a few. Run once per process and bundle (the pages stay shared).
        Also builds the id lookups, which the first requests would otherwise wait for."""
        for model in self.bundle.models.values():
            if isinstance(model, VectorModel):
                for name in MAPPED_ARRAYS:
                    touch_pages(getattr(model, name))
        self.bundle.users.lookup, self.bundle.items.lookup  # noqa: B018 (built once, here)
        self.content()

    def folds_in(self, model: object) -> bool:
        """isinstance(model, FoldIn), remembered: a protocol check costs tens of microseconds."""
        found = self._folds.get(id(model))
        if found is None:
            found = self._folds[id(model)] = isinstance(model, FoldIn)
        return found

    def label(self, model_name: str) -> str:
        return self.bundle.model_label(model_name)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """compute(), remembered under `key` for this bundle's life. Only for answers that depend on
        nothing but the key, the bundle and its live state (answers of at most MAX_N items).
        Bounded by construction: at most MEMO_SIZE answers, the least recently used dropped
        first (a stream of one-off visitors never pushes out the returning ones), each kept
        under a 16-byte digest of the key, so a large request (a 1000-id basket) costs no more
        than a small one."""
        digest = hashlib.blake2b(repr((key, self.follow().epoch)).encode(), digest_size=16)
        name = digest.digest()
        memo = self._memo
        found = memo.pop(name, MISSING)  # back in at the end: the most recently used
        if found is MISSING:  # None is a valid answer (e.g. "no complements model"): kept too
            found = compute()
            while len(memo) >= MEMO_SIZE:
                memo.pop(next(iter(memo), None), None)  # another thread may drop it first
        memo[name] = found
        return found

    def allowed(self, query: Query) -> np.ndarray | None:
        """Boolean mask of the items the query's category, stock and `filter` let through, never
        an unavailable (hidden, deleted, expired) one; None: all of them. `in_stock=false` lets
        out-of-stock items through. Bounded: MASK_CACHE masks and MASK_BYTES."""
        state = self.follow()
        in_stock = query.in_stock is not False
        key = (query.category, in_stock, query.filter, state.epoch)
        masks = self._masks
        if key not in masks:
            if len(masks) >= min(MASK_CACHE, max(1, MASK_BYTES // max(1, self.n_items))):
                masks.clear()
            masks[key] = self._build_mask(query, in_stock, state)
        return masks[key]

    def _build_mask(self, query: Query, in_stock: bool, state: LiveState) -> np.ndarray | None:
        mask = self.in_category(query.category) if query.category is not None else None
        if query.filter is not None:
            mask = both(mask, self.expression_mask(query.filter, "filter"))
        return both(mask, state.available if in_stock else state.visible)

    def in_category(self, category: str) -> np.ndarray:
        """Items in `category` or below it (a path prefix), under the live catalogue's category
        changes; a ParameterError naming `category`, with close matches, when no item (nor an
        item only the live catalogue knows) is in it."""
        state = self.follow()
        if self._moved is None or self._moved[0] is not state.overlay:
            self._moved = (state.overlay, moved_categories(self.bundle.items, state.overlay,
                                                           self._moved))  # fmt: skip
        moved = self._moved[1]
        content = self._content  # the live catalogue's own items: from the content index if built
        own = (content.extra_columns.values("category").tolist() if content is not None else
               [f.get("category") or "" for i, f in state.overlay.items.items()
                if i not in self.bundle.items.lookup])  # fmt: skip
        live_paths = [*moved.values(), *own]
        if not any(in_path(str(path), category) for path in live_paths):
            self.category_index.check(category)
        mask = self.category_index.mask(category)
        if moved:
            mask = mask.copy()
            for number, path in moved.items():
                mask[number] = in_path(path, category)
        return mask

    @property
    def item_category_codes(self) -> np.ndarray:
        """Per item, the number of its category (full path) among the catalogue's categories."""
        return self.category_index.codes

    def category_codes(self, items: np.ndarray) -> np.ndarray:
        """The distinct category numbers of `items`."""
        return np.unique(self.category_index.codes[items])

    def norms(self, model: VectorModel) -> np.ndarray:
        """Lengths of the model's item vectors (for cosine of a few items), once per bundle."""
        key = ("norms", id(model))
        if key not in self.cache:
            norms = np.linalg.norm(model.item_factors, axis=1)
            self.cache[key] = np.maximum(norms, 1e-12).astype(np.float32)
        return self.cache[key]

    def category_of(self, item: int) -> str:
        return self.category_index.path(item)

    def item_numbers(self, item_ids: Iterable[str]) -> np.ndarray:
        """Numbers of the known ids among `item_ids` (unknown ones are dropped)."""
        numbers = self.bundle.items.indices(item_ids)
        return numbers[numbers >= 0]

    def purchased(self, user: int | None) -> np.ndarray:
        """Items the user bought, minus the repeat-purchase ones the catalogue opts back in."""
        if user is None:
            return np.empty(0, np.int64)
        matrix = self.bundle.purchased
        bought = matrix.indices[matrix.indptr[user] : matrix.indptr[user + 1]].astype(np.int64)
        if self.repeatable is not None:
            bought = bought[~self.repeatable[bought]]
        return bought

    def history(self, user: int | None) -> tuple[np.ndarray, np.ndarray]:
        """The user's row of the interaction matrix: item numbers and weights."""
        if user is None:
            return np.empty(0, np.int64), np.empty(0, np.float32)
        matrix = self.bundle.interactions
        span = slice(matrix.indptr[user], matrix.indptr[user + 1])
        return matrix.indices[span].astype(np.int64), matrix.data[span]


def plain_arrays(bundle: Bundle) -> None:
    """Vector models' memory-mapped arrays as plain ndarray views of the same mapping: still shared
    between workers, without np.memmap's per-indexing overhead."""
    for model in bundle.models.values():
        if isinstance(model, VectorModel):
            for name in MAPPED_ARRAYS:
                value = getattr(model, name)
                if isinstance(value, np.memmap):
                    setattr(model, name, value.view(np.ndarray))


def touch_pages(array: np.ndarray | None, page: int = 4096) -> None:
    """Reads one value per memory page of `array` (contiguous arrays only; others are skipped)."""
    if array is None or not array.size or not array.flags.c_contiguous:
        return
    flat = array.reshape(-1)
    flat[:: max(1, page // flat.itemsize)].sum()


def default_model(bundle: Bundle) -> str:
    """The personalised model: the first vector (fold-in capable) model, else the first one."""
    for name, model in bundle.models.items():
        if isinstance(model, VectorModel) and isinstance(model, FoldIn):
            return name
    for name, model in bundle.models.items():
        if isinstance(model, VectorModel):
            return name
    return next(iter(bundle.models), "")


def repeatable_items(bundle: Bundle) -> np.ndarray:
    column = bundle.catalogue.table.column(REPEAT_COLUMN).to_numpy(zero_copy_only=False)
    return np.array([str(v).strip().lower() in {"true", "1", "yes"} for v in column], bool)
