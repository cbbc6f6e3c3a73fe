"""Item fields and properties as arrays in a bundle's item numbers (the catalogue's values, then
the live changes), and expressions compiled against them to item masks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.catalogue import Catalogue
from recsys.data.vocabulary import Vocabulary
from recsys.errors import ParameterError
from recsys.service.expressions import Comparison, Expression, Logic, Node, Value, parse_filter
from recsys.service.live import ItemOverlay, flags

NUMBER, TEXT, FLAG = "number", "text", "flag"
SKIPPED = ("item_id", "available_until", "deleted", "repeat_purchase")
COMPARE = {"=": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
           ">": np.greater, ">=": np.greater_equal}  # fmt: skip


class ItemColumns:
    """Per field its kind (number, text, flag) and values per item number."""

    def __init__(self, columns: Mapping[str, tuple[str, np.ndarray]]) -> None:
        self.columns = dict(columns)

    def kind(self, field: str) -> str | None:
        found = self.columns.get(field)
        return found[0] if found is not None else None

    def values(self, field: str) -> np.ndarray:
        return self.columns[field][1]


def base_columns(catalogue: Catalogue | None, n_items: int) -> dict[str, tuple[str, np.ndarray]]:
    """The catalogue's columns by kind: booleans are flags, numbers (and text columns whose every
    value reads as a number) numbers, the rest text."""
    columns: dict[str, tuple[str, np.ndarray]] = {
        "title": (TEXT, np.full(n_items, "", object)),
        "category": (TEXT, np.full(n_items, "", object)),
        "price": (NUMBER, np.full(n_items, np.nan)),
    }
    if catalogue is None:
        return columns
    for name in catalogue.table.column_names:
        if name not in SKIPPED:
            columns[name] = typed_column(catalogue.table.column(name))
    return columns


def typed_column(column: pa.ChunkedArray) -> tuple[str, np.ndarray]:
    kind = column.type
    if pa.types.is_boolean(kind):
        return FLAG, flags(column)
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        return NUMBER, column.to_numpy(zero_copy_only=False).astype(float)
    text = pc.cast(column, pa.string()).fill_null("")
    try:
        numbers = pc.cast(pc.if_else(pc.equal(text, ""), None, text), pa.float64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return TEXT, np.asarray(text.to_numpy(zero_copy_only=False), object)
    if pc.all(pc.is_null(numbers)).as_py():
        return TEXT, np.asarray(text.to_numpy(zero_copy_only=False), object)
    return NUMBER, numbers.to_numpy(zero_copy_only=False).astype(float)


def live_columns(
    base: ItemColumns,
    items: Vocabulary,
    overlay: ItemOverlay,
    previous: tuple[ItemOverlay, ItemColumns] | None = None,
) -> ItemColumns:
    """The base columns with the overlay's changes of the bundle's items on top (a property only
    the changes know becomes a column of its values' kind); from `previous` (an overlay and its
    columns) plus the items changed since when it can."""
    delta = overlay.changes_since(previous[0]) if previous is not None else None
    start = previous[1] if previous is not None and delta is not None else base
    changes = overlay.items if delta is None else delta
    if not changes:
        return start
    columns = dict(start.columns)
    copied: set[str] = set()
    numbers = items.indices(changes)
    for number, fields in zip(numbers.tolist(), changes.values(), strict=True):
        if number < 0:
            continue
        for name, value in fields.items():
            if name in SKIPPED:
                continue
            if name not in columns:
                columns[name] = empty_column(value, len(items))
            if name not in copied:
                columns[name] = (columns[name][0], columns[name][1].copy())
                copied.add(name)
            kind, values = columns[name]
            values[number] = cell(kind, value)
    return ItemColumns(columns)


def empty_column(value: Any, n: int) -> tuple[str, np.ndarray]:
    if isinstance(value, bool):
        return FLAG, np.zeros(n, bool)
    if isinstance(value, int | float):
        return NUMBER, np.full(n, np.nan)
    return TEXT, np.full(n, "", object)


def cell(kind: str, value: Any) -> Any:
    """`value` as a cell of a `kind` column (a value of another kind: no value)."""
    if kind == FLAG:
        return bool(value) if isinstance(value, bool) else False
    if kind == NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return float(value) if ok else math.nan
    return "" if value is None else str(value)


def matching(
    text: str,
    catalogue: Catalogue | None,
    items: Vocabulary,
    overlay: ItemOverlay,
    parameter: str,
) -> np.ndarray:
    """The `items` the filter expression `text` matches over the catalogue's columns (aligned to
    `items`) with the overlay's changes on top, as the server's filter= reads them: what `recsys
    export --filter` and `recsys evaluate --filter` apply. ParameterError naming `parameter`."""
    columns = live_columns(ItemColumns(base_columns(catalogue, len(items))), items, overlay)
    return expression_mask(parse_filter(text, parameter), columns, parameter)


def expression_mask(expression: Expression, columns: ItemColumns, parameter: str) -> np.ndarray:
    """The items `expression` matches; ParameterError naming `parameter` for an unknown field
    or a value of the wrong kind."""
    return node_mask(expression.tree, columns, parameter)


def node_mask(node: Node, columns: ItemColumns, parameter: str) -> np.ndarray:
    if isinstance(node, Logic):
        masks = [node_mask(part, columns, parameter) for part in node.parts]
        if node.op == "not":
            return ~masks[0]
        return np.logical_and.reduce(masks) if node.op == "and" else np.logical_or.reduce(masks)
    return test_mask(node, columns, parameter)


def test_mask(test: Comparison, columns: ItemColumns, parameter: str) -> np.ndarray:
    kind = columns.kind(test.field)
    if kind is None:
        known = ", ".join(sorted(columns.columns))
        raise ParameterError(
            parameter, f"position {test.position}: unknown field {test.field!r} (known: {known})"
        )
    values = columns.values(test.field)
    for value in test.values:
        check_kind(test, kind, value, parameter)
    if test.field == "category":
        hit = np.logical_or.reduce([in_category(values, str(v)) for v in test.values])
        return ~hit if test.op == "!=" or test.negated else hit
    if test.op == "in":
        hit = np.isin(values, np.array(test.values, dtype=values.dtype))
        return ~hit if test.negated else hit
    return np.asarray(COMPARE[test.op](values, test.values[0]), bool)


def check_kind(test: Comparison, kind: str, value: Value, parameter: str) -> None:
    wanted = {FLAG: bool, NUMBER: float, TEXT: str}[kind]
    where = f"position {test.position}: {test.field!r}"
    if type(value) is not wanted:
        names = {FLAG: "true or false", NUMBER: "a number", TEXT: "text in quotes"}
        raise ParameterError(parameter, f"{where} takes {names[kind]}")
    if kind != NUMBER and test.op not in ("=", "!=", "in"):
        raise ParameterError(parameter, f"{where} is compared with =, != or in, not {test.op}")


def in_category(paths: np.ndarray, category: str) -> np.ndarray:
    """The items whose category path is `category` or below it."""
    prefix = category.rstrip("/")
    text = paths.astype(str)
    return (text == prefix) | np.char.startswith(text, prefix + "/")
