"""Items by content, for those the models know nothing about: an item added since training (only
the live catalogue knows it) or one in the catalogue without interactions.

Each item is a document of its title, its category's words and its text and true-flag properties
(`brand_acme`), weighted by scikit-learn's TfidfVectorizer (fitted once per bundle, on the items
known when it is first built; later ones are read with that vocabulary). Two items' content score
is TEXT_WEIGHT x the cosine of their TF-IDF rows plus the rest x the share of their category paths
they have in common. Scoring one item against 100k is one sparse product and a few comparisons.

Content numbers are the bundle's item numbers, then the live catalogue's own items in the order
they arrived, so a number never changes during a bundle's life.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

from recsys.data.vocabulary import Vocabulary
from recsys.eventstore.items import ADDED
from recsys.ranking import rows_summed
from recsys.service.item_columns import FLAG, NUMBER, TEXT, ItemColumns, live_columns
from recsys.service.live import ItemOverlay, LiveState, live_state

if TYPE_CHECKING:  # scikit-learn is imported when a vectorizer is fitted: it costs ~1 s to load
    from sklearn.feature_extraction.text import TfidfVectorizer

TEXT_WEIGHT = 0.7  # the rest is the category paths' overlap
MAX_DEPTH = 8  # category levels compared
NOT_WORDS = ("title", "category", "in_stock", "hidden")  # read on their own, or not words
MAX_FEATURES = 200_000  # TF-IDF vocabulary bound
EXPLORE_POOL = 2000  # the newest new items explore_new chooses among (the rest wait their turn)
POOL_MEMO = 4096  # per-path and per-filter arrays of the pool remembered (a shop has far fewer)
WORDLESS = frozenset(("in_stock", "hidden", "price", "available_until", "deleted", "added"))


@dataclass(frozen=True)
class Part:
    """Some items' TF-IDF rows, category prefix numbers per depth and path depths."""

    rows: sp.csr_matrix
    levels: np.ndarray
    depth: np.ndarray


@dataclass(frozen=True)
class ContentIndex:
    """One bundle's items, and the live catalogue's own, by content under one overlay."""

    overlay: ItemOverlay
    vectorizer: TfidfVectorizer
    rows: sp.csr_matrix  # per content number its unit-length TF-IDF row
    n_known: int  # the bundle's items come first
    extras: Vocabulary  # the items only the live catalogue knows, numbered from n_known on
    extra_state: LiveState  # their availability
    extra_columns: ItemColumns  # their fields and properties (for filters)
    paths: np.ndarray  # per content number its category path ('' none)
    levels: np.ndarray  # (MAX_DEPTH, items): the number of each depth's path prefix, -1 past it
    prefixes: dict[str, int]  # path prefix -> its number in `levels` (never shrinks)
    depth: np.ndarray  # per content number the depth of its category path
    new: np.ndarray  # content numbers of the items without interactions, extras included
    added: np.ndarray  # per content number, when the live catalogue first heard of it (0: never)
    newest: np.ndarray  # positions in `new`, newest first (by `added`, then the later number)
    position: np.ndarray  # per content number its position in `new` (-1: not new)
    pool: np.ndarray  # the newest EXPLORE_POOL content numbers of `new`, newest first
    pool_part: Part  # their rows, category prefixes and depths
    pool_position: np.ndarray  # per content number its position in `pool` (-1: not in it)
    pool_ties: np.ndarray  # per position in `pool` a tiny penalty growing with age (ties: newest)
    pool_memo: dict[Hashable, Any]  # arrays of `pool` per category path or filter (remember)

    def new_positions(self, numbers: np.ndarray) -> np.ndarray:
        """The positions in `new` of those of the content `numbers` that are new."""
        found = self.position[numbers[(numbers >= 0) & (numbers < len(self.position))]]
        return found[found >= 0]

    def pool_positions(self, numbers: np.ndarray) -> np.ndarray:
        """The positions in `pool` of those of the content `numbers` that are in it (one gather:
        a user's whole history costs little more than one item)."""
        found = self.pool_position[numbers[(numbers >= 0) & (numbers < self.size)]]
        return found[found >= 0]

    @property
    def size(self) -> int:
        return int(self.rows.shape[0])

    def scores(self, item: int, pool_only: bool = False) -> np.ndarray:
        """The content score of every item (of `pool` only) against the item `item`."""
        return self.profile_scores(self.mean_row([item]), self.levels[:, item], pool_only)

    def mean_row(
        self, items: Sequence[int] | np.ndarray, weights: np.ndarray | None = None
    ) -> np.ndarray:
        """The unit-length weighted sum of the TF-IDF rows of `items`, dense."""
        summed = rows_summed(self.rows, np.asarray(items, np.int64), weights)
        norm = math.sqrt(summed.dot(summed))  # np.linalg.norm's own formula, without its checks
        return (summed / max(norm, 1e-12)).astype(np.float32)

    def profile_scores(
        self, vector: np.ndarray, levels: np.ndarray, pool_only: bool = False
    ) -> np.ndarray:
        """The content score of every item (of `pool` only) against a unit TF-IDF `vector`
        (dense) and a category path given by its prefix numbers per depth (-1 past its end)."""
        part = self.pool_part if pool_only else Part(self.rows, self.levels, self.depth)
        share = self.pool_share(levels) if pool_only else category_share(part, levels)
        return TEXT_WEIGHT * part.rows.dot(vector) + share

    def pool_share(self, levels: np.ndarray) -> np.ndarray:
        """category_share of `pool`, remembered per category path: it depends on nothing else."""
        return self.remember(("share", levels.tobytes()),
                             lambda: category_share(self.pool_part, levels))  # fmt: skip

    def remember(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """compute() (arrays, made read-only), kept under `key` for this index's life; at most
        POOL_MEMO entries (all dropped when full)."""
        found = self.pool_memo.get(key)
        if found is None:
            if len(self.pool_memo) >= POOL_MEMO:
                self.pool_memo.clear()
            found = compute()
            for value in found if isinstance(found, tuple) else (found,):
                if isinstance(value, np.ndarray):
                    value.setflags(write=False)
            self.pool_memo[key] = found
        return found

    def shared_path(self, a: int, b: int) -> str:
        """The longest category path prefix items a and b have in common ('' none)."""
        same = (self.levels[:, a] >= 0) & (self.levels[:, a] == self.levels[:, b])
        shared = MAX_DEPTH if same.all() else int(np.argmin(same))
        return "/".join([part for part in str(self.paths[a]).split("/") if part][:shared])

    def numbers(self, items: Vocabulary, item_ids: Iterable[str]) -> np.ndarray:
        """Content numbers of ids the bundle (`items`) or the live catalogue knows; -1 others."""
        ids = list(item_ids)
        if not ids:
            return np.empty(0, np.int64)
        found = items.indices(ids)
        extra = self.extras.indices(ids)
        return np.where(found >= 0, found, np.where(extra >= 0, extra + self.n_known, -1))


def content_index(
    known: ItemColumns,
    items: Vocabulary,
    counts: np.ndarray,
    state: LiveState,
    previous: ContentIndex | None = None,
) -> ContentIndex:
    """The content of the bundle's `items` (`known`: their live columns, `counts`: interactions
    per item) and of the overlay's own items; from `previous` plus the items changed since when
    the overlay follows its one directly (the vectorizer is fitted by the first build only)."""
    overlay = state.overlay
    n_known = len(items)
    earlier = previous.extras.lookup if previous is not None else {}
    delta = overlay.changes_since(previous.overlay) if previous is not None else None
    known_ids = items.lookup
    arrived = [i for i in (overlay.items if delta is None else delta)
               if i not in known_ids and i not in earlier]  # fmt: skip
    extras = Vocabulary([*earlier, *arrived]) if arrived or previous is None else previous.extras
    same = previous is not None and delta is not None and not arrived  # follow item by item
    extra_columns = live_columns(
        ItemColumns(skeleton(known, len(extras))), extras, overlay,
        (previous.overlay, previous.extra_columns) if same else None,
    )  # fmt: skip
    extra_state = live_state(None, extras, overlay, None, previous.extra_state if same else None)
    paths = np.concatenate([known.values("category"), extra_columns.values("category")])
    prefixes = dict(previous.prefixes) if previous is not None else {}
    if previous is None or delta is None:
        texts = [*documents(known, range(n_known)), *documents(extra_columns, range(len(extras)))]
        if previous is not None:
            vectorizer, rows = previous.vectorizer, previous.vectorizer.transform(texts).tocsr()
        else:
            vectorizer, rows = fitted(texts)
        levels = category_levels(paths, np.arange(len(paths)), prefixes)
    else:
        vectorizer = previous.vectorizer
        worded = [i for i, fields in delta.items() if not WORDLESS.issuperset(fields)]
        fresh = n_known + np.arange(len(earlier), len(extras))  # new rows, read in any case
        rows = replaced_rows(previous.rows, numbers_of(items, extras, worded, fresh), vectorizer,
                             (known, extra_columns))  # fmt: skip
        moved = [i for i, fields in delta.items() if "category" in fields]
        levels = category_levels(paths, numbers_of(items, extras, moved, fresh), prefixes,
                                 previous.levels)  # fmt: skip
    depth = (levels >= 0).sum(axis=0).astype(np.float32)
    new = np.concatenate([np.flatnonzero(counts == 0), n_known + np.arange(len(extras))])
    added = np.concatenate([added_times(known), added_times(extra_columns)])
    newest = np.lexsort((-new, -added[new]))
    position = np.full(len(paths), -1, np.int64)
    position[new] = np.arange(len(new))
    pool = new[newest[:EXPLORE_POOL]]
    pool_position = np.full(len(paths), -1, np.int64)
    pool_position[pool] = np.arange(len(pool))
    return ContentIndex(
        overlay, vectorizer, rows, n_known, extras, extra_state, extra_columns, paths, levels,
        prefixes, depth, new, added, newest, position, pool,
        Part(rows[pool], levels[:, pool], depth[pool]), pool_position,
        1e-6 * np.arange(len(pool)) / max(len(pool), 1), {},
    )  # fmt: skip


def category_share(part: Part, levels: np.ndarray) -> np.ndarray:
    """Per item of `part`, the rest of TEXT_WEIGHT x the share of its category path it has in
    common with a path given by its prefix numbers per depth (-1 past its end)."""
    shared = np.zeros(len(part.depth), np.float32)
    for depth, code in enumerate(levels.tolist()):
        if code < 0:
            break
        shared += part.levels[depth] == code
    longest = np.maximum(part.depth, max(int((levels >= 0).sum()), 1))
    return (1 - TEXT_WEIGHT) * shared / longest


def numbers_of(
    items: Vocabulary, extras: Vocabulary, item_ids: list[str], more: np.ndarray
) -> np.ndarray:
    """The content numbers of `item_ids` (the bundle's, then the extras'), and `more`."""
    in_bundle, in_extras = items.indices(item_ids), extras.indices(item_ids)
    return np.unique(np.concatenate([in_bundle[in_bundle >= 0],
                                     in_extras[in_extras >= 0] + len(items), more]))  # fmt: skip


def fitted(texts: list[str]) -> tuple[TfidfVectorizer, sp.csr_matrix]:
    """A vectorizer fitted on `texts`, and their rows."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(sublinear_tf=True, max_features=MAX_FEATURES, dtype=np.float32)
    try:
        return vectorizer, vectorizer.fit_transform(texts).tocsr()
    except ValueError:  # not one word (a catalogue without titles): a placeholder vocabulary
        vectorizer.fit(["placeholder"])
        return vectorizer, vectorizer.transform(texts).tocsr()


def skeleton(known: ItemColumns, n: int) -> dict[str, tuple[str, np.ndarray]]:
    """Empty columns of the bundle's fields for `n` items (so a filter reads the same fields)."""
    empty = {FLAG: lambda: np.zeros(n, bool), NUMBER: lambda: np.full(n, np.nan),
             TEXT: lambda: np.full(n, "", object)}  # fmt: skip
    return {name: (kind, empty[kind]()) for name, (kind, _) in known.columns.items()}


def documents(columns: ItemColumns, numbers: Iterable[int]) -> list[str]:
    """Per item its title, its category's words and its properties as words (`brand_acme`, a
    true flag's name)."""
    texts = [(name, values) for name, (kind, values) in columns.columns.items()
             if kind == TEXT and name not in NOT_WORDS]  # fmt: skip
    flags = [(name, values) for name, (kind, values) in columns.columns.items()
             if kind == FLAG and name not in NOT_WORDS]  # fmt: skip
    titles, categories = columns.values("title"), columns.values("category")
    found = []
    for i in numbers:
        words = [str(titles[i]), str(categories[i]).replace("/", " ")]
        words += [f"{name}_{values[i]}".replace(" ", "_") for name, values in texts if values[i]]
        words += [name for name, values in flags if values[i]]
        found.append(" ".join(words))
    return found


def replaced_rows(
    rows: sp.csr_matrix,
    changed: np.ndarray,
    vectorizer: TfidfVectorizer,
    columns: tuple[ItemColumns, ItemColumns],
) -> sp.csr_matrix:
    """`rows` grown to every item (the bundle's `columns[0]`, then the extras' `columns[1]`),
    with the rows of the `changed` content numbers read again."""
    known, extras = columns
    n_known = len(known.values("title"))
    size = n_known + len(extras.values("title"))
    more = sp.csr_matrix((size - rows.shape[0], rows.shape[1]), dtype=rows.dtype)
    grown = sp.vstack([rows, more]).tocsr()
    if not len(changed):
        return grown
    texts = [*documents(known, changed[changed < n_known]),
             *documents(extras, changed[changed >= n_known] - n_known)]  # fmt: skip
    fresh = vectorizer.transform(texts).tocoo()
    keep = np.ones(size, np.float32)
    keep[changed] = 0
    placed = sp.csr_matrix((fresh.data, (changed[fresh.row], fresh.col)), shape=grown.shape)
    return (sp.diags(keep) @ grown + placed).tocsr()


def category_levels(
    paths: np.ndarray,
    numbers: np.ndarray,
    prefixes: dict[str, int],
    previous: np.ndarray | None = None,
) -> np.ndarray:
    """Per depth and item, the number of its path's prefix of that depth (-1 past its end):
    `previous` grown to every item, the items `numbers` read again (each distinct path once;
    `prefixes` numbers the prefixes and grows)."""
    levels = np.full((MAX_DEPTH, len(paths)), -1, np.int64)
    if previous is not None:
        levels[:, : previous.shape[1]] = previous
    distinct, where = np.unique(paths[numbers].astype(str), return_inverse=True)
    of_distinct = np.full((MAX_DEPTH, len(distinct)), -1, np.int64)
    for j, path in enumerate(distinct.tolist()):
        parts = [part for part in path.split("/") if part][:MAX_DEPTH]
        for depth in range(len(parts)):
            of_distinct[depth, j] = prefixes.setdefault("/".join(parts[: depth + 1]), len(prefixes))
    levels[:, numbers] = of_distinct[:, where.reshape(-1)]
    return levels


def added_times(columns: ItemColumns) -> np.ndarray:
    if columns.kind(ADDED) != NUMBER:
        return np.zeros(len(columns.values("title")))
    return np.nan_to_num(np.asarray(columns.values(ADDED), float), nan=0.0)
