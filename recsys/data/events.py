"""Events: shop logs read, validated and numbered once. `load_events` is the one way in."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.columns import (
    as_ids,
    as_strings,
    by_value,
    empty_as_null,
    empty_mask,
    first_seen,
    parse_numbers,
    parse_timestamps,
)
from recsys.data.readers import RawTable, input_files, read_raw
from recsys.data.vocabulary import Vocabulary
from recsys.errors import InputError
from recsys.privacy import NOT_APPLIED, Forgotten

REQUIRED = ("user_id", "item_id", "event_type", "timestamp")
IDS = ("user_id", "item_id", "event_type")  # read dictionary-encoded: few distinct values
OPTIONAL_TEXT = ("session_id", "order_id", "request_id")
OPTIONAL_NUMBERS = {"quantity": True, "price": False}  # name -> integer?
ON_ERROR = ("fail", "skip")
FORGOTTEN_ROWS = "events of forgotten customers"  # the reason counted in Events.skipped


@dataclass
class Events:
    """Validated events as numbered arrays; `extra` holds the optional columns, row-aligned."""

    users: Vocabulary
    items: Vocabulary
    event_types: tuple[str, ...]
    user: np.ndarray  # int32 numbers into users
    item: np.ndarray  # int32 numbers into items
    event: np.ndarray  # int8 numbers into event_types
    timestamp: np.ndarray  # int64 Unix seconds
    extra: pa.Table
    skipped: Counter[str] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self.user)

    def is_type(self, *names: str) -> np.ndarray:
        """Mask of the events whose type is one of `names`."""
        codes = [self.event_types.index(n) for n in names if n in self.event_types]
        return np.isin(self.event, np.array(codes, dtype=np.int8))

    def fingerprint(self) -> str:
        """sha256 over the content (ids, types, times): the same data read twice gives the same
        value."""
        digest = hashlib.sha256()
        for vocab in (self.users, self.items):
            for buffer in vocab.arrow.buffers():
                if buffer is not None:
                    digest.update(buffer)
        digest.update("\n".join(self.event_types).encode())
        for array in (self.user, self.item, self.event, self.timestamp):
            digest.update(np.ascontiguousarray(array).data)
        return digest.hexdigest()


Progress = Callable[[str], None]


def load_events(
    path: str | Path,
    event_types: Collection[str],
    on_error: str = "fail",
    progress: Progress | None = None,
    forgotten: Forgotten = NOT_APPLIED,
) -> Events:
    """Reads a file or a folder of event files, checks every row, and numbers users and items.

    `event_types` are the accepted event names (the keys of the configured weights). With
    `on_error="fail"` the first bad row raises InputError; with "skip" bad rows are counted in
    `Events.skipped` (by reason) and left out. Events of `forgotten` customers are left out and
    counted under FORGOTTEN_ROWS.
    """
    if on_error not in ON_ERROR:
        raise InputError("--on-error", f"must be one of {', '.join(ON_ERROR)}")
    known = tuple(event_types)
    skipped: Counter[str] = Counter()
    tables = []
    for file in input_files(path):
        if progress:
            progress(f"reading {file}")
        raw = read_raw(file, REQUIRED + OPTIONAL_TEXT, IDS)
        tables.append(validate(raw, known, on_error, skipped))
    table = pa.concat_tables(tables, promote_options="default")
    return number(without_forgotten(table, forgotten, skipped), known, skipped)


def without_forgotten(table: pa.Table, forgotten: Forgotten, skipped: Counter[str]) -> pa.Table:
    """The rows of customers not forgotten; how many were removed is counted in `skipped`."""
    table, removed = forgotten.drop(table)
    if removed:
        skipped[FORGOTTEN_ROWS] += removed
    return table


def validate(
    raw: RawTable, known: tuple[str, ...], on_error: str, skipped: Counter[str]
) -> pa.Table:
    """The rows of one file in the common schema, bad rows raised or dropped."""
    table = raw.table
    for name in REQUIRED:
        if name not in table.column_names:
            raise InputError(raw.path, f"missing required column '{name}'")
    checks: list[tuple[str, str, np.ndarray]] = []  # (column, reason, bad rows)
    columns: dict[str, pa.Array | np.ndarray] = {}
    for name in ("user_id", "item_id"):
        columns[name] = ids = as_ids(table.column(name))
        checks.append((name, "empty id", by_value(ids, empty_mask(ids.dictionary), null=True)))
    columns["event_type"] = kinds = as_ids(table.column("event_type"))
    known_kind = pc.is_in(kinds.dictionary, value_set=pa.array(known, pa.string()))
    known_kind = known_kind.fill_null(False).to_numpy(zero_copy_only=False)
    unknown = by_value(kinds, ~known_kind, null=True)
    checks.append(("event_type", f"unknown event type (known: {', '.join(known)})", unknown))
    columns["timestamp"], bad_time = parse_timestamps(table.column("timestamp"))
    checks.append(("timestamp", "unparsable timestamp", bad_time))
    for name in OPTIONAL_TEXT:
        if name in table.column_names:
            columns[name] = empty_as_null(as_strings(table.column(name)))
    for name, integer in OPTIONAL_NUMBERS.items():
        if name in table.column_names:
            columns[name], bad = parse_numbers(table.column(name), integer)
            checks.append(
                (name, "not a whole number >= 0" if integer else "not a number >= 0", bad)
            )
    keep = settle(raw, checks, table, on_error, skipped)
    return pa.table({name: filtered(values, keep) for name, values in columns.items()})


def settle(
    raw: RawTable,
    checks: list[tuple[str, str, np.ndarray]],
    table: pa.Table,
    on_error: str,
    skipped: Counter[str],
) -> np.ndarray | None:
    """Raises for the first bad row (fail) or counts them (skip); returns the rows to keep."""
    bad_any = np.zeros(table.num_rows, dtype=bool)
    for _, _, bad in checks:
        bad_any |= bad
    if on_error == "fail":
        raise_first(raw, checks, table, bad_any)
        return None
    for _, reason in raw.malformed:
        skipped[f"malformed row ({reason.split(',')[0]})"] += 1
    claimed = np.zeros(table.num_rows, dtype=bool)
    for column, reason, bad in checks:  # each bad row is counted once, under its first reason
        counted = bad & ~claimed
        if counted.any():
            skipped[f"{column}: {reason.split(' (')[0]}"] += int(counted.sum())
        claimed |= bad
    return ~bad_any if bad_any.any() else None


def raise_first(
    raw: RawTable, checks: list[tuple[str, str, np.ndarray]], table: pa.Table, bad_any: np.ndarray
) -> None:
    """Raises InputError for the earliest bad row of the file, if any."""
    errors = [
        InputError(raw.path, reason, row=line, row_label=raw.label)
        for line, reason in raw.malformed[:1]
    ]
    if bad_any.any():
        first = int(np.argmax(bad_any))
        column, reason = next((c, r) for c, r, bad in checks if bad[first])
        value = table.column(column)[first].as_py()
        shown = f"{reason}: {value!r}" if value not in (None, "") else reason
        row = int(raw.row_numbers(np.array([first]))[0])
        errors.append(InputError(raw.path, shown, row=row, column=column, row_label=raw.label))
    if errors:
        raise min(errors, key=lambda error: error.row or 0)


def filtered(values: pa.Array | np.ndarray, keep: np.ndarray | None) -> pa.Array:
    if keep is not None:
        values = values[keep] if isinstance(values, np.ndarray) else values.filter(pa.array(keep))
    return pa.array(values) if isinstance(values, np.ndarray) else values


def number(table: pa.Table, known: tuple[str, ...], skipped: Counter[str]) -> Events:
    """Numbers users and items in first-seen order; sorts events by time (stable)."""
    if table.num_rows == 0:
        raise InputError("events", "no valid events were read")
    timestamp = table.column("timestamp").to_numpy()
    order = (
        None if np.all(timestamp[1:] >= timestamp[:-1]) else np.argsort(timestamp, kind="stable")
    )
    if order is not None:
        table = table.take(pa.array(order))
        timestamp = timestamp[order]
    users, user = first_seen(table.column("user_id"))
    items, item = first_seen(table.column("item_id"))
    kinds = as_ids(table.column("event_type"))
    kind_of_value = pc.index_in(kinds.dictionary, value_set=pa.array(known, pa.string()))
    kind_of_value = kind_of_value.fill_null(-1).to_numpy().astype(np.int8)  # -1: no row left
    extra = table.drop_columns([c for c in REQUIRED if c in table.column_names])
    return Events(
        users=Vocabulary(users),
        items=Vocabulary(items),
        event_types=known,
        user=user,
        item=item,
        event=kind_of_value[kinds.indices.to_numpy()],
        timestamp=timestamp.astype(np.int64, copy=False),
        extra=extra,
        skipped=skipped,
    )
