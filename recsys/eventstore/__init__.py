"""The event store: events sent to the server, responses served (for A/B attribution), forgotten
customers and experiments defined through the server's admin API. SQLite (WAL) by default,
embedded; PostgreSQL when the URL names one.

    store = open_store("sqlite:///./recsys.db")     # or "postgresql://user:pw@host/db"
    store.append(parse_events(body)); store.recent_events("u1"); store.forget_user("u1")
"""

from __future__ import annotations

from recsys.eventstore.base import EventStore
from recsys.eventstore.outage import StoreUnavailable
from recsys.eventstore.postgres import PostgresStore
from recsys.eventstore.schema import StoreError, redacted_url
from recsys.eventstore.sqlite import SqliteStore, sqlite_path, sqlite_synchronous
from recsys.privacy import ForgetKey

DEFAULT_URL = "sqlite:///./recsys.db"

__all__ = [
    "DEFAULT_URL",
    "EventStore",
    "StoreError",
    "StoreUnavailable",
    "open_store",
    "sqlite_path",
]


def open_store(
    url: str | None = None, key: ForgetKey | None = None, unreachable_ok: bool = False
) -> EventStore:
    """Opens (and on first use creates) the store at `url`: `sqlite:///path.db` (default
    ./recsys.db) or `postgresql://...`; `key` keys its forgotten list (recsys.privacy). Raises
    StoreError for a bad URL or an unreachable database (StoreUnavailable; with `unreachable_ok`
    the store opens anyway, raises StoreUnavailable until the database answers and creates its
    schema then), ForgetSecretError for a key that did not write its forgotten list."""
    url = url or DEFAULT_URL
    if url.startswith("sqlite:"):
        return SqliteStore(url, sqlite_path(url), sqlite_synchronous(url), key)
    if url.startswith(("postgresql://", "postgres://")):
        return PostgresStore(url, key, unreachable_ok)
    raise StoreError(
        f"database URL {redacted_url(url)!r}: must start with sqlite:/// or postgresql://"
    )
