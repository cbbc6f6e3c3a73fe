"""The optional catalogue: item properties (title, category path, price, stock) aligned to item
numbers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.columns import as_strings, empty_mask
from recsys.data.readers import RawTable, input_files, read_raw
from recsys.data.vocabulary import Vocabulary
from recsys.errors import InputError

TRUE = {"true", "1", "yes", "y", "t"}
FALSE = {"false", "0", "no", "n", "f", ""}


@dataclass
class Catalogue:
    """Item properties in item-number order; `table` has item_id, title, category, price, in_stock,
    ..."""

    table: pa.Table
    given: frozenset[str] = frozenset()  # the columns the file had (e.g. whether stock is known)

    @property
    def categories(self) -> np.ndarray:
        """Per item, the full category path ('' when unknown), as a numpy object array."""
        return self.table.column("category").to_numpy(zero_copy_only=False)

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
