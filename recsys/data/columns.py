"""Vectorised parsing and checking of event columns; each returns values and a mask of bad rows."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"
INTEGER = r"^\s*\+?\d+\s*$"


def as_strings(column: pa.ChunkedArray) -> pa.Array:
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        column = column.cast(pa.string())
    return column.cast(pa.string())


def as_ids(column: pa.ChunkedArray | pa.Array) -> pa.DictionaryArray:
    """An id column as one dictionary array of strings (read that way, or encoded here): the
    checks and the numbering then look at each distinct id once instead of at every row."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type) and pa.types.is_string(column.type.value_type):
        return column
    return as_strings(column).dictionary_encode()


def by_value(ids: pa.DictionaryArray, per_value: np.ndarray, null: bool) -> np.ndarray:
    """Row mask from a mask over the distinct values of `ids` (`null` where the row has none)."""
    with_null = np.append(np.asarray(per_value, dtype=bool), null)
    return with_null[ids.indices.fill_null(len(per_value)).to_numpy()]


def first_seen(ids: pa.ChunkedArray | pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The distinct ids of a column without nulls in order of first appearance, and each row's
    number among them (int32): what dictionary_encode gives, from any dictionary."""
    codes = as_ids(ids)
    rows = codes.indices.to_numpy()
    first = np.full(len(codes.dictionary), len(rows), np.int64)
    np.minimum.at(first, rows, np.arange(len(rows)))
    order = np.argsort(first, kind="stable")[: np.count_nonzero(first < len(rows))]
    numbers = np.empty(len(codes.dictionary), np.int32)
    numbers[order] = np.arange(len(order), dtype=np.int32)
    return codes.dictionary.take(pa.array(order)), numbers[rows]


def empty_as_null(column: pa.Array) -> pa.Array:
    """An optional id column with "" (what CSV gives for a missing value) as null, i.e. not set:
    an empty order id is no order, not one basket shared by every such row."""
    return pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)


def empty_mask(column: pa.Array) -> np.ndarray:
    """Rows whose id is null, empty or only spaces."""
    blank = pc.equal(pc.utf8_trim_whitespace(column), "")
    return np.asarray(blank.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)


def parse_timestamps(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Unix seconds (int64) and a bad-row mask, from timestamp, numeric or ISO-8601 text columns."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_dictionary(column.type):
        column = column.dictionary_decode()
    if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
        unit = pa.timestamp("s", tz=getattr(column.type, "tz", None))
        seconds = pc.cast(column, unit, safe=False).cast(pa.int64())  # drops sub-second parts
        return whole_numbers(seconds)
    if pa.types.is_integer(column.type):
        return whole_numbers(column.cast(pa.int64()))
    if pa.types.is_floating(column.type):
        return nulls_to_bad(column.cast(pa.float64()))
    text = as_strings(column)
    for target in (pa.timestamp("ms", tz="UTC"), pa.timestamp("ms"), pa.float64()):
        try:
            parsed = pc.cast(text, target)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        if target != pa.float64():
            parsed = pc.divide(parsed.cast(pa.int64()), 1000)
        return nulls_to_bad(parsed)
    return parse_mixed(text)


def whole_numbers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """An int64 column as numpy, nulls marked bad (and set to 0)."""
    bad = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    filled = values.fill_null(0) if values.null_count else values
    return filled.to_numpy(zero_copy_only=False).astype(np.int64, copy=False), bad


def nulls_to_bad(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    as_float = np.asarray(
        values.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    )
    bad = ~np.isfinite(as_float)
    return np.where(bad, 0, np.floor(np.nan_to_num(as_float))).astype(np.int64), bad


def parse_mixed(text: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """The slow path, for columns mixing formats or holding bad values: one value at a time."""
    out = np.zeros(len(text), dtype=np.int64)
    bad = np.zeros(len(text), dtype=bool)
    for i, value in enumerate(text.to_pylist()):
        seconds = parse_one_timestamp(value)
        if seconds is None:
            bad[i] = True
        else:
            out[i] = seconds
    return out, bad


def parse_one_timestamp(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    value = value.strip()
    try:
        return int(float(value))
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


def parse_numbers(column: pa.ChunkedArray, integer: bool) -> tuple[np.ndarray, np.ndarray]:
    """Optional numeric column: values (NaN where empty) and a mask of rows that are not numbers."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        values = np.asarray(
            column.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        )
        bad = np.zeros(len(values), dtype=bool)
    else:
        text = as_strings(column)
        blank = empty_mask(text)
        ok = np.asarray(
            pc.match_substring_regex(text, INTEGER if integer else NUMBER)
            .fill_null(False)
            .to_numpy(zero_copy_only=False),
            dtype=bool,
        )
        bad = ~ok & ~blank
        cleaned = pc.if_else(pa.array(ok), text, pa.scalar(None, pa.string()))
        values = np.asarray(
            pc.cast(pc.utf8_trim_whitespace(cleaned), pa.float64())
            .fill_null(np.nan)
            .to_numpy(zero_copy_only=False)
        )
    bad |= values < 0
    if integer:
        bad |= np.isfinite(values) & (values != np.floor(values))
    return values, bad
