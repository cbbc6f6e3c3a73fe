"""The SQLite backend: embedded, no set-up. WAL mode lets readers run while one process writes;
`busy_timeout` makes concurrent writers (threads or gunicorn workers) wait their turn instead of
failing; `BEGIN IMMEDIATE` takes the write lock up front so a transaction never deadlocks on
upgrading it.

Durability is a setting of the URL: `sqlite:///events.db?synchronous=full` (the default) syncs
every commit to disk, so an acknowledged event survives a power cut; `?synchronous=normal` syncs
at WAL checkpoints only (never corrupt, but the last commits may be lost), measured in
benchmarks/bench_eventstore.py."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs

from recsys.eventstore.base import EventStore
from recsys.eventstore.schema import StoreError
from recsys.privacy import ForgetKey

BUSY_TIMEOUT_MS = 30_000
SYNCHRONOUS = ("full", "normal")  # the first is the default


class SqliteStore(EventStore):
    id_column: ClassVar[str] = "INTEGER PRIMARY KEY"
    begin: ClassVar[str] = "BEGIN IMMEDIATE"
    one_writer: ClassVar[bool] = True
    database_errors: ClassVar[tuple[type[Exception], ...]] = (sqlite3.Error,)

    def __init__(
        self, url: str, path: Path, synchronous: str = SYNCHRONOUS[0], key: ForgetKey | None = None
    ) -> None:
        self.path = path
        self.synchronous = synchronous
        super().__init__(url, key)

    def _connect(self) -> sqlite3.Connection:
        if not self.path.parent.is_dir():
            raise StoreError(
                f"event store {self.shown_url}: folder {self.path.parent} does not exist"
            )
        connection = sqlite3.connect(
            self.path,
            timeout=BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,
            check_same_thread=False,  # the pool hands a connection to one thread at a time
        )
        connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
        return connection

    def _usable(self, connection: sqlite3.Connection) -> bool:
        try:
            return not connection.in_transaction
        except sqlite3.ProgrammingError:  # closed
            return False


def sqlite_synchronous(url: str) -> str:
    """The URL's `?synchronous=` (full or normal; default full)."""
    query = parse_qs(url.partition("?")[2], keep_blank_values=True)
    unknown = sorted(set(query) - {"synchronous"})
    if unknown:
        raise StoreError(f"database URL {url!r}: unknown parameter {unknown[0]!r} "
                         "(known: synchronous)")  # fmt: skip
    value = query.get("synchronous", [SYNCHRONOUS[0]])[-1].lower()
    if value not in SYNCHRONOUS:
        raise StoreError(f"database URL {url!r}: synchronous must be full or normal")
    return value


def sqlite_path(url: str) -> Path:
    """`sqlite:///relative/path.db` or `sqlite:////absolute/path.db` -> the file's path (a
    `?synchronous=` parameter after it is the durability setting)."""
    rest = url.partition("?")[0].removeprefix("sqlite://")
    if not rest.startswith("/") or rest == "/":
        raise StoreError(f"database URL {url!r}: expected sqlite:///path/to/file.db")
    path = rest[1:]
    if path in (":memory:", "") or path.startswith("file:"):
        raise StoreError(
            f"database URL {url!r}: needs a file (in-memory databases are per connection)"
        )
    return Path(path)
