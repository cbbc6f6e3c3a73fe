"""A loaded bundle plus what every request needs from it, computed once per bundle: category and
stock masks, the default personalised model, purchase exclusions."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

import numpy as np

from recsys.bundle import Bundle
from recsys.models.base import FoldIn
from recsys.models.vector import VectorModel
from recsys.service.query import Query

T = TypeVar("T")
MASK_CACHE = 512  # distinct (category, in_stock) filters kept per bundle
MISSING = object()
MEMO_SIZE = 10_000  # answers that depend on the request alone (similar, cross-sell, quiet users)
REPEAT_COLUMN = "repeat_purchase"  # catalogue column: items people buy again stay recommendable
# the vector models' memory-mapped arrays (shared by workers)
MAPPED_ARRAYS = ("user_factors", "item_factors", "candidates", "candidate_rows", "similar")


class ServedBundle:
    """Read-only after construction (apart from a bounded cache), so threads share it freely."""

    def __init__(self, bundle: Bundle) -> None:
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
        self._masks: dict[tuple[str | None, bool], np.ndarray | None] = {}
        self.cache: dict[object, np.ndarray] = {}  # per-bundle derived arrays (popularity order)
        self._memo: dict[Hashable, Any] = {}
        self.default_model = default_model(bundle)
        weights = bundle.manifest.get("config", {}).get("events", {})
        self.event_weights: dict[str, float] = dict(weights.get("weights", {}))
        self.damped = weights.get("damping", "log1p") == "log1p"

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

    def folds_in(self, model: object) -> bool:
        """isinstance(model, FoldIn), remembered: a protocol check costs tens of microseconds."""
        return self.memo(("folds_in", id(model)), lambda: isinstance(model, FoldIn))

    def label(self, model_name: str) -> str:
        return self.bundle.model_label(model_name)

    def memo(self, key: Hashable, compute: Callable[[], T]) -> T:
        """compute(), remembered under `key` for this bundle's life (bounded: cleared when full).
        Only for answers that depend on nothing but the key and the bundle."""
        found = self._memo.get(key, MISSING)
        if found is MISSING:  # None is a valid answer (e.g. "no complements model"): kept too
            found = compute()
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            self._memo[key] = found
        return found

    def allowed(self, query: Query) -> np.ndarray | None:
        """Boolean mask of the items the query's category and stock filters let through (None: all
        of them)."""
        in_stock = self.stock is not None and query.in_stock is not False
        key = (query.category, in_stock)
        if key not in self._masks:
            if len(self._masks) >= MASK_CACHE:
                self._masks.clear()
            self._masks[key] = self._build_mask(query.category, in_stock)
        return self._masks[key]

    def _build_mask(self, category: str | None, in_stock: bool) -> np.ndarray | None:
        mask = None
        if category is not None:
            mask = self.in_category(category)
        if in_stock and self.stock is not None:
            mask = self.stock if mask is None else mask & self.stock
        return mask

    def in_category(self, category: str) -> np.ndarray:
        """Items in `category` or below it (a path prefix); a ParameterError naming `category`,
        with close matches, when no item is in it."""
        self.category_index.check(category)
        return self.category_index.mask(category)

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
