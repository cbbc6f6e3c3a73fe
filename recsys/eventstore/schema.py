"""The store's tables and columns."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection
from typing import Any

import pyarrow as pa

from recsys.data.incoming import IncomingEvent
from recsys.errors import RecsysError

SCHEMA_VERSION = 1
EVENT_FIELDS = tuple(field.name for field in dataclasses.fields(IncomingEvent))  # row order
EVENT_COLUMNS = ", ".join(f if f != "timestamp" else "ts" for f in EVENT_FIELDS)
INSERT_EVENT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join('?' * len(EVENT_FIELDS))})"
SERVED_FIELDS = (
    "request_id",
    "user_id",
    "placement",
    "experiment",
    "variant",
    "model",
    "item_ids",
    "timestamp",
)
SERVED_COLUMNS = ", ".join(f if f != "timestamp" else "ts" for f in SERVED_FIELDS)
SERVED_MARKS = ", ".join("?" * len(SERVED_FIELDS))
INSERT_SERVED = f"INSERT INTO served ({SERVED_COLUMNS}) VALUES ({SERVED_MARKS})"
COLUMN_TYPES = {
    "timestamp": pa.float64(),
    "quantity": pa.int64(),
    "price": pa.float64(),
    "item_ids": pa.list_(pa.string()),
    "event_id": pa.int64(),
}  # every other column is text


def arrow_schema(names: tuple[str, ...]) -> pa.Schema:
    return pa.schema([(name, COLUMN_TYPES.get(name, pa.string())) for name in names])


EVENTS_SCHEMA = arrow_schema((*EVENT_FIELDS, "event_id"))
SERVED_SCHEMA = arrow_schema(SERVED_FIELDS)
SCHEMA = (
    "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS events (id {id}, user_id TEXT NOT NULL, item_id TEXT NOT NULL, "
    "event_type TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL, session_id TEXT, quantity INTEGER, "
    "price DOUBLE PRECISION, order_id TEXT, request_id TEXT)",
    "CREATE INDEX IF NOT EXISTS events_user ON events (user_id, ts)",
    "CREATE INDEX IF NOT EXISTS events_request ON events (request_id)",
    "CREATE INDEX IF NOT EXISTS events_ts ON events (ts)",
    "CREATE TABLE IF NOT EXISTS served (id {id}, request_id TEXT NOT NULL, user_id TEXT, "
    "placement TEXT, experiment TEXT, variant TEXT, model TEXT, item_ids TEXT NOT NULL, "
    "ts DOUBLE PRECISION NOT NULL)",
    "CREATE INDEX IF NOT EXISTS served_request ON served (request_id)",
    "CREATE INDEX IF NOT EXISTS served_user ON served (user_id)",
    "CREATE INDEX IF NOT EXISTS served_experiment ON served (experiment, ts)",
    "CREATE TABLE IF NOT EXISTS forgotten (digest TEXT PRIMARY KEY, "
    "forgotten_at DOUBLE PRECISION NOT NULL)",
    "CREATE TABLE IF NOT EXISTS forget_key (key_check TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS experiments (id {id}, name TEXT NOT NULL UNIQUE, "
    "definition TEXT NOT NULL, created DOUBLE PRECISION NOT NULL, stopped DOUBLE PRECISION)",
    "CREATE TABLE IF NOT EXISTS item_changes (item_id TEXT PRIMARY KEY, fields TEXT NOT NULL, "
    "times TEXT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS item_changes_seq ON item_changes (seq)",
    "CREATE TABLE IF NOT EXISTS catalogue_mark (id INTEGER PRIMARY KEY, changes BIGINT NOT NULL)",
    "INSERT INTO catalogue_mark (id, changes) SELECT 1, 0 "
    "WHERE NOT EXISTS (SELECT 1 FROM catalogue_mark)",
)
IN_CHUNK = 500  # ids per `IN (...)` query, well under every backend's parameter limit
FETCH_ROWS = 50_000
IDLE_CONNECTIONS = 8


class StoreError(RecsysError):
    """The event store cannot be opened or used (bad URL, unreachable server, newer schema)."""


SECRET_PARAMETER = re.compile(r"((?:^|[?&;\s])(?:password|sslpassword)=)[^&;\s]*", re.IGNORECASE)


def redacted_url(url: str) -> str:
    """`url` without its password (user:password@host, or a password= parameter): for messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if at and ":" in credentials:
        rest = f"{credentials.split(':', 1)[0]}:***@{host}"
    return SECRET_PARAMETER.sub(r"\1***", f"{scheme}{sep}{rest}")


def first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def event_row(event: IncomingEvent) -> tuple[Any, ...]:
    return tuple(getattr(event, name) for name in EVENT_FIELDS)


def events_where(
    since: float | None, event_types: Collection[str] | None
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) of events at or after `since`, of `event_types`."""
    conditions, params = [], []
    if since is not None:
        conditions.append("ts >= ?")
        params.append(float(since))
    if event_types is not None:
        params.extend(event_types)
        marks = ", ".join("?" * len(event_types))
        conditions.append(f"event_type IN ({marks})" if event_types else "1 = 0")
    return (f"WHERE {' AND '.join(conditions)}" if conditions else ""), params

