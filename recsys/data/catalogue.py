"""The optional catalogue: item properties (title, category path, price, stock) aligned to item
numbers, and its categories: numbered paths, prefix matching, the names a request may give."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.columns import as_strings, empty_mask
from recsys.data.readers import RawTable, input_files, read_raw
from recsys.data.vocabulary import Vocabulary
from recsys.errors import InputError, ParameterError

TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f", ""}
MAX_SHOWN = 100  # characters of an unknown category quoted back (and compared for close matches)
MAX_LISTED = 12  # top categories listed when an unknown one has no close match


@dataclass
class Catalogue:
    """Item properties in item-number order; `table` has item_id, title, category, price, in_stock,
    ..."""

    table: pa.Table
    given: frozenset[str] = frozenset()  # the columns the file had (e.g. whether stock is known)

    @cached_property
    def categories(self) -> Categories:
        """The items' category paths, numbered (computed once per catalogue)."""
        return Categories.from_paths(self.table.column("category").to_numpy(zero_copy_only=False))

    @property
    def has_categories(self) -> bool:
        """Whether the catalogue file had a category column."""
        return "category" in self.given

    @property
    def in_stock(self) -> np.ndarray:
        return self.table.column("in_stock").to_numpy(zero_copy_only=False).astype(bool)

    def aligned(self, items: Vocabulary) -> Catalogue:
        """Rows reordered to item numbers; items missing from the catalogue get empty properties."""
        position = pc.index_in(items.arrow, value_set=self.table.column("item_id"))
        table = self.table.take(position)
        columns = {"item_id": items.arrow}
        for name in table.column_names[1:]:
            columns[name] = table.column(name)
        return Catalogue(fill_missing(pa.table(columns)), self.given)


@dataclass(frozen=True, eq=False)
class Categories:
    """The catalogue's category paths, numbered once: `names` the distinct paths (sorted; '' is no
    category), `codes` per item the number of its path. A category given in a request or a command
    is a path or a prefix of one: 'shoes' covers 'shoes' and 'shoes/running', not 'shoestring'."""

    names: np.ndarray
    codes: np.ndarray

    @classmethod
    def from_paths(cls, paths: np.ndarray) -> Categories:
        names, codes = np.unique(np.asarray(paths, dtype=str), return_inverse=True)
        return cls(names.astype(object), codes.astype(np.int64).reshape(-1))

    @property
    def paths(self) -> np.ndarray:
        """Per item, its full category path ('' when unknown), an object array."""
        return self.names[self.codes]

    @property
    def known_codes(self) -> np.ndarray:
        """Per item, the number of its path, -1 for items without a category."""
        return np.where(self.names[self.codes] == "", -1, self.codes)

    def path(self, item: int) -> str:
        return str(self.names[self.codes[item]])

    def mask(self, category: str) -> np.ndarray:
        """Per item, whether it is in `category` or below it."""
        names = self.names.astype(str)
        hits = (names == category) | np.char.startswith(names, category + "/")
        return hits[self.codes]

    @cached_property
    def known(self) -> frozenset[str]:
        """Every category that selects items: each path and each of its prefixes."""
        found: set[str] = set()
        for name in self.names.tolist():
            parts = name.split("/")
            found.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        found.discard("")
        return frozenset(found)

    def close_matches(self, category: str, n: int = 3) -> list[str]:
        """The known categories most like `category` (difflib), best first."""
        return difflib.get_close_matches(category, sorted(self.known), n=n)

    def check(self, category: str, parameter: str = "category") -> None:
        """A ParameterError naming `parameter` unless some item is in `category`."""
        if category in self.known:
            return
        shown = repr(category[:MAX_SHOWN])
        if not self.known:
            raise ParameterError(parameter, f"unknown category {shown}: the catalogue has none")
        close = self.close_matches(category[:MAX_SHOWN])
        hint = "close matches: " + ", ".join(close) if close else "known: " + ", ".join(
            sorted(name for name in self.known if "/" not in name)[:MAX_LISTED])
        raise ParameterError(parameter, f"unknown category {shown}; {hint}")


def load_catalogue(path: str | Path) -> Catalogue:
    """Reads the catalogue file(s); item_id is required, other known columns are typed."""
    tables = []
    for file in input_files(path):
        raw = read_raw(file, ("item_id", "title", "category"))
        table = raw.table
        if "item_id" not in table.column_names:
            raise InputError(raw.path, "missing required column 'item_id'")
        ids = as_strings(table.column("item_id"))
        blank = empty_mask(ids)
        if blank.any():
            row = int(raw.row_numbers(np.array([int(np.argmax(blank))]))[0])
            raise InputError(raw.path, "empty id", row=row, column="item_id", row_label=raw.label)
        table = table.set_column(table.column_names.index("item_id"), "item_id", ids)
        tables.append(typed(table, raw))
    table = pa.concat_tables(tables, promote_options="default")
    return Catalogue(fill_missing(table), frozenset(table.column_names))


def typed(table: pa.Table, raw: RawTable) -> pa.Table:
    if "in_stock" in table.column_names:
        text = pc.utf8_lower(pc.utf8_trim_whitespace(as_strings(table.column("in_stock"))))
        values = text.to_pylist()
        bad = [i for i, v in enumerate(values) if v is not None and v not in TRUE | FALSE]
        if bad:
            row = int(raw.row_numbers(np.array(bad[:1]))[0])
            raise InputError(
                raw.path,
                f"not true/false: {values[bad[0]]!r}",
                row=row,
                column="in_stock",
                row_label=raw.label,
            )
        stock = pa.array([v in TRUE for v in values], pa.bool_())
        table = table.set_column(table.column_names.index("in_stock"), "in_stock", stock)
    if "price" in table.column_names and not pa.types.is_floating(table.schema.field("price").type):
        try:
            price = pc.cast(as_strings(table.column("price")), pa.float64())
        except pa.ArrowInvalid as exc:
            raise InputError(raw.path, f"price is not a number ({exc})", column="price") from None
        table = table.set_column(table.column_names.index("price"), "price", price)
    return table


def fill_missing(table: pa.Table) -> pa.Table:
    """Adds absent columns and fills nulls: no title/category is '', unknown price NaN, stock
    True."""
    n = table.num_rows
    defaults = {
        "title": pa.array([""] * n),
        "category": pa.array([""] * n),
        "price": pa.array(np.full(n, np.nan)),
        "in_stock": pa.array(np.ones(n, bool)),
    }
    for name, default in defaults.items():
        if name not in table.column_names:
            table = table.append_column(name, default)
        else:
            column = table.column(name)
            if name in ("title", "category"):
                column = as_strings(column)
            filled = (
                pc.coalesce(column, pa.scalar(default[0].as_py(), column.type)) if n else column
            )
            table = table.set_column(table.column_names.index(name), name, filled)
    return table
