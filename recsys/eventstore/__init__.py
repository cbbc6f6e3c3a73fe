"""The event store: events sent to the server, responses served (for A/B attribution), forgotten
customers and experiments defined through the server's admin API. SQLite (WAL) by default,
embedded; PostgreSQL when the URL names one.

    store = open_store("sqlite:///./recsys.db")     # or "postgresql://user:pw@host/db"
    store.append(parse_events(body)); store.recent_events("u1"); store.forget_user("u1")
"""

from __future__ import annotations

from recsys.eventstore.base import EventStore
from recsys.eventstore.postgres import PostgresStore
from recsys.eventstore.schema import StoreError, forgotten_mask, user_digest
from recsys.eventstore.sqlite import SqliteStore, sqlite_path, sqlite_synchronous

DEFAULT_URL = "sqlite:///./recsys.db"

__all__ = [
    "DEFAULT_URL",
    "EventStore",
    "StoreError",
    "forgotten_mask",
    "open_store",
    "sqlite_path",
    "user_digest",
]


def open_store(url: str | None = None) -> EventStore:
    """Opens (and on first use creates) the store at `url`: `sqlite:///path.db` (default
    ./recsys.db) or `postgresql://...`. Raises StoreError for a bad URL or an unreachable
    database."""
    url = url or DEFAULT_URL
    if url.startswith("sqlite:"):
        return SqliteStore(url, sqlite_path(url), sqlite_synchronous(url))
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url)
    raise StoreError(f"database URL {url!r}: must start with sqlite:/// or postgresql://")
