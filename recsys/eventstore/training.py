"""Training input from files, from the event store, or both; forgotten customers dropped from all.

The store's rows go through the same checks as file rows (recsys.data.events), so a bad stored event
is reported like a bad line, naming the store and the event's id.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.events import OPTIONAL_TEXT, REQUIRED, Events, Progress, number, validate
from recsys.data.readers import RawTable, input_files, read_raw
from recsys.errors import InputError
from recsys.eventstore import DEFAULT_URL, EventStore, forgotten_mask, open_store, sqlite_path

DATABASE_ENV = "RECSYS_DATABASE_URL"


def load_training_events(
    events_path: str | Path | None,
    events_db: str | None,
    event_types: Collection[str],
    on_error: str = "fail",
    progress: Progress | None = None,
) -> Events:
    """Events from a file or folder and/or an event store URL, checked and numbered as
    `recsys.data.load_events` does. Users forgotten in the store (`events_db`, or else the server's
    store when one exists, see `forgetting_store_url`) are left out of every source."""
    if events_path is None and events_db is None:
        raise InputError("--events", "give an events file or folder, or --events-db")
    progress = progress or (lambda _: None)
    known, skipped = tuple(event_types), Counter[str]()
    tables = []
    if events_path is not None:
        for file in input_files(events_path):
            progress(f"reading {file}")
            raw = read_raw(file, REQUIRED + OPTIONAL_TEXT)
            tables.append(validate(raw, known, on_error, skipped))
    if events_db is not None and not exists(events_db):
        raise InputError(events_db, "no such event store file")
    store_url = events_db or forgetting_store_url()
    forgotten: set[str] = set()
    if store_url is not None:
        with open_store(store_url) as store:
            forgotten = store.forgotten_users()
            if events_db is not None:
                progress(f"reading {store.shown_url}")
                rows = stored_rows(store, known, progress)
                tables.append(validate(rows, known, on_error, skipped))
    table = pa.concat_tables(tables, promote_options="default")
    gone = forgotten_mask(table.column("user_id"), forgotten)
    if gone.any():
        progress(f"left out {int(gone.sum()):,} events of forgotten users")
        table = table.filter(pa.array(~gone))
    return number(table, known, skipped)


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


def forgetting_store_url() -> str | None:
    """The store whose forgotten users training honours when no --events-db is given: the one
    RECSYS_DATABASE_URL names, else the server's default ./recsys.db if that file exists."""
    url = os.environ.get(DATABASE_ENV) or DEFAULT_URL
    return url if exists(url) else None


def exists(url: str) -> bool:
    """False only for an SQLite file that is not there (opening it would create an empty one)."""
    return not url.startswith("sqlite:") or sqlite_path(url).is_file()
