"""Training input from files, from the event store, or both; forgotten customers dropped from all.

The store's rows go through the same checks as file rows (recsys.data.events), so a bad stored event
is reported like a bad line, naming the store and the event's id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.catalogue import Catalogue, fill_missing
from recsys.data.events import (
    IDS,
    OPTIONAL_TEXT,
    REQUIRED,
    Events,
    Progress,
    number,
    validate,
    without_forgotten,
)
from recsys.data.readers import RawTable, input_files, read_raw
from recsys.errors import InputError
from recsys.eventstore import EventStore, open_store, sqlite_path
from recsys.eventstore.items import StoredItem
from recsys.privacy import NOT_APPLIED, ForgetKey, Forgotten


def load_training_events(
    events_path: str | Path | None,
    events_db: str | None,
    event_types: Collection[str],
    on_error: str = "fail",
    progress: Progress | None = None,
    forgotten: Forgotten = NOT_APPLIED,
    key: ForgetKey | None = None,
) -> Events:
    """Events from a file or folder and/or an event store URL (opened with `key`), checked and
    numbered as `recsys.data.load_events` does. The `forgotten` customers' events are left out
    of every source (counted in Events.skipped)."""
    if events_path is None and events_db is None:
        raise InputError("--events", "give an events file or folder, or --events-db")
    progress = progress or (lambda _: None)
    known, skipped = tuple(event_types), Counter[str]()
    tables = []
    if events_path is not None:
        for file in input_files(events_path):
            progress(f"reading {file}")
            raw = read_raw(file, REQUIRED + OPTIONAL_TEXT, IDS)
            tables.append(validate(raw, known, on_error, skipped))
    if events_db is not None:
        if not exists(events_db):
            raise InputError(events_db, "no such event store file")
        with open_store(events_db, key) as store:
            progress(f"reading {store.shown_url}")
            rows = stored_rows(store, known, progress)
            tables.append(validate(rows, known, on_error, skipped))
    table = pa.concat_tables(tables, promote_options="default")
    return number(without_forgotten(table, forgotten, skipped), known, skipped)


def stored_rows(store: EventStore, known: tuple[str, ...], progress: Progress) -> RawTable:
    """The store's events of the `known` types as a raw table whose row numbers are the store's
    event ids. Other types (impressions, clicks) are valid events that have no weight: left out."""
    table = store.events_table(with_ids=True)
    weighted = pc.is_in(table.column("event_type"), value_set=pa.array(known, pa.string()))
    unweighted = table.num_rows - pc.sum(weighted).as_py() if table.num_rows else 0
    if unweighted:
        progress(f"left out {unweighted:,} stored events of types without a weight")
        table = table.filter(weighted)
    ids = table.column("event_id").to_numpy()
    return RawTable(
        table.drop_columns(["event_id"]),
        f"events-db {store.shown_url}",
        "event id",
        lambda rows: np.asarray(ids)[rows],
        [],
    )


def exists(url: str) -> bool:
    """False only for an SQLite file that is not there (opening it would create an empty one)."""
    return not url.startswith("sqlite:") or sqlite_path(url).is_file()


def stored_item_changes(store_url: str | None) -> list[StoredItem]:
    """Every item change kept in the store at `store_url` (none without a store)."""
    if store_url is None or not exists(store_url):
        return []
    with open_store(store_url) as store:
        return store.items_changed_since(0)


def with_item_changes(
    catalogue: Catalogue | None, written: float | None, changes: Sequence[StoredItem]
) -> Catalogue | None:
    """The catalogue with the stored item changes merged in: a changed field takes the change's
    value unless the catalogue file (last written at `written`, Unix seconds) is newer and sets
    that field for the item; items only the changes know are added. A deleted item is kept,
    hidden, so it stays unrecommended."""
    if not changes:
        return catalogue
    rows = catalogue.table.to_pylist() if catalogue is not None else []
    given = set(catalogue.given) if catalogue is not None else {"item_id"}
    position = {row["item_id"]: i for i, row in enumerate(rows)}
    for item in changes:
        if item.item_id not in position:
            position[item.item_id] = len(rows)
            rows.append({"item_id": item.item_id})
        row = rows[position[item.item_id]]
        for name, value in item.fields.items():
            file_wins = written is not None and written > item.times.get(name, 0.0)
            if file_wins and name in given and row.get(name) is not None:
                continue
            row[name] = value
        if row.pop("deleted", False):
            row["hidden"] = True
        given.update("hidden" if name == "deleted" else name for name in item.fields)
    names = list(dict.fromkeys(name for row in rows for name in row))
    table = pa.table({name: column([row.get(name) for row in rows]) for name in names})
    return Catalogue(fill_missing(table), frozenset(given))


def column(values: list[Any]) -> pa.Array:
    """An arrow column of `values`; text when their types mix (a property's file and API values)."""
    try:
        return pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], pa.string())


def written_at(path: str | Path | None) -> float | None:
    """When the catalogue file (or the newest file of a folder) was last written."""
    if path is None:
        return None
    return max(file.stat().st_mtime for file in input_files(path))
