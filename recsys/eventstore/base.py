"""The event store's logic, shared by the SQLite and PostgreSQL backends (plain DB-API SQL).

Connections come from a small pool: an operation borrows one and gives it back, so the store is safe
under any number of threads (and thread-per-request servers leak nothing). After a fork (gunicorn
workers) the child never touches the parent's connections; it opens its own. Every write is one
transaction: a crash leaves either all of a batch or none of it.

A store that cannot be reached (recsys.eventstore.outage) fails every call at once with
StoreUnavailable, tries again with a bounded backoff, and creates its schema on the first
connection that works: a server may open it while its database is down.
"""

from __future__ import annotations

import json
import os
import threading
import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, ClassVar, Self

import pyarrow as pa

from recsys.data.incoming import IncomingEvent
from recsys.eventstore.definitions import ExperimentDefinitions
from recsys.eventstore.forgetting import Forgetting
from recsys.eventstore.items import ItemChanges
from recsys.eventstore.outage import Outage, StoreUnavailable
from recsys.eventstore.schema import (
    EVENT_COLUMNS,
    EVENTS_SCHEMA,
    FETCH_ROWS,
    IDLE_CONNECTIONS,
    INSERT_EVENT,
    SCHEMA,
    SCHEMA_VERSION,
    StoreError,
    event_row,
    events_where,
    first_line,
    redacted_url,
)
from recsys.eventstore.served import ServedResponses
from recsys.privacy import ForgetKey


class EventStore(ExperimentDefinitions, ServedResponses, ItemChanges, Forgetting):
    """Incoming events, served responses (for A/B attribution), forgotten customers, and
    experiments and item changes made at run time."""

    id_column: ClassVar[str]  # the SQL of an auto-numbered primary key
    begin: ClassVar[str] = "BEGIN"
    placeholder: ClassVar[str] = "?"
    one_writer: ClassVar[bool] = False  # serialise this process's write transactions
    database_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def __init__(self, url: str, key: ForgetKey | None = None, unreachable_ok: bool = False
                 ) -> None:  # fmt: skip
        self.url = url
        self.key = key
        self._closed = False
        self._schema_ready = False
        self.outage = Outage()
        self._start_afresh()
        after_fork = weakref.WeakMethod(self._start_afresh)
        os.register_at_fork(after_in_child=lambda: (method := after_fork()) and method())
        try:
            with self._connection():  # creates the schema
                pass
        except StoreUnavailable:
            if not unreachable_ok:
                self.close()
                raise
        except BaseException:
            self.close()
            raise

    def _start_afresh(self) -> None:
        """No connections and free locks: at start, and in a forked child (a gunicorn worker),
        which must never use its parent's connections nor wait on a lock held in the parent."""
        self._pool: list[Any] = []
        self._lock = threading.Lock()
        self._schema_lock = threading.Lock()
        self.outage.forked()
        # SQLite has one writer at a time anyway; threads queueing on a lock beat connections
        # polling in SQLite's busy handler (measured: benchmarks/bench_eventstore.py).
        self._writer_turn = threading.Lock() if self.one_writer else nullcontext()
        self._pid = os.getpid()

    def _connect(self) -> Any:
        raise NotImplementedError

    def _usable(self, connection: Any) -> bool:
        return True

    def _lock_schema(self, cursor: Any) -> None:
        """Serialises schema creation between processes, where the backend needs it."""

    def _lost(self, connection: Any | None) -> bool:
        """After a database error: whether the server is out of reach (no connection could be
        made, or the one in use died), rather than the statement failing."""
        return False

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        if self._closed:
            raise StoreError(f"event store {self.shown_url} is closed")
        ticket = self.outage.check(self.shown_url)
        with self._lock:
            connection = self._pool.pop() if self._pool else None
        try:
            if connection is None:
                connection = self._connect()
            if not self._schema_ready:
                self._create_schema(connection)
            yield connection
        except self.database_errors as exc:
            if self._lost(connection):
                raise self._unreachable(exc) from exc
            raise StoreError(f"event store {self.shown_url}: {first_line(exc)}") from exc
        else:
            self.outage.recovered(ticket)
        finally:
            if connection is not None:
                self._give_back(connection)

    def _unreachable(self, exc: Exception) -> StoreUnavailable:
        """Begins (or goes on with) an outage; the idle connections, as dead as the one that
        failed, are closed."""
        reason = first_line(exc)
        self.outage.failed(reason)
        with self._lock:
            idle = self._pool if self._pid == os.getpid() else []
            self._pool = []
        for connection in idle:
            connection.close()
        return StoreUnavailable(f"event store {self.shown_url}: {reason}",
                                self.outage.retry_after())  # fmt: skip

    def _give_back(self, connection: Any) -> None:
        with self._lock:
            keep = (
                not self._closed
                and self._pid == os.getpid()
                and len(self._pool) < IDLE_CONNECTIONS
                and not self.outage.down
                and self._usable(connection)
            )
            if keep:
                self._pool.append(connection)
        if not keep:
            connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[Any]:
        with self._writer_turn, self._connection() as connection, self._begun(connection) as cursor:
            yield cursor

    @contextmanager
    def _begun(self, connection: Any) -> Iterator[Any]:
        cursor = connection.cursor()
        cursor.execute(self.begin)
        try:
            yield cursor
            cursor.execute("COMMIT")
        except BaseException:
            self._roll_back(connection)
            raise

    def _roll_back(self, connection: Any) -> None:
        """Best effort: a connection that cannot roll back is closed, never pooled again."""
        try:
            connection.cursor().execute("ROLLBACK")
        except self.database_errors:
            connection.close()

    def _sql(self, query: str) -> str:
        return query if self.placeholder == "?" else query.replace("?", self.placeholder)

    def _query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connection() as connection:
            cursor = connection.cursor()
            cursor.execute(self._sql(query), params)
            return cursor.fetchall()

    def _create_schema(self, connection: Any) -> None:
        """On the first connection that works (once per store object)."""
        with self._schema_lock:
            if self._schema_ready:
                return
            with self._begun(connection) as cursor:
                self._set_up_schema(cursor)
            self._schema_ready = True

    def _set_up_schema(self, cursor: Any) -> None:
        self._lock_schema(cursor)
        for statement in SCHEMA:
            cursor.execute(statement.format(id=self.id_column))
        cursor.execute("SELECT version FROM schema_version")
        row = cursor.fetchone()
        if row is None:
            cursor.execute(self._sql("INSERT INTO schema_version VALUES (?)"), (SCHEMA_VERSION,))
        elif row[0] > SCHEMA_VERSION:
            raise StoreError(
                f"event store {self.shown_url} has schema version {row[0]}; this recsys "
                f"reads up to {SCHEMA_VERSION}"
            )
        self._check_key(cursor)

    @property
    def shown_url(self) -> str:
        """The URL without its password, for messages."""
        return redacted_url(self.url)

    def append(self, events: Iterable[IncomingEvent]) -> int:
        """Writes the events in one transaction and returns how many were written. Events of
        forgotten customers are not stored."""
        rows = [event_row(event) for event in events]
        if not rows:
            return 0
        with self._transaction() as cursor:
            return self._insert_remembered(cursor, INSERT_EVENT, rows, 0)

    def recent_events(self, user_id: str, limit: int = 500) -> list[IncomingEvent]:
        """The user's latest `limit` events by time, oldest first (newest last)."""
        return [IncomingEvent(*row) for row in self._latest(EVENT_COLUMNS, user_id, limit)]

    def recent_activity(self, user_id: str, limit: int = 500) -> list[tuple[str, str]]:
        """(item_id, event_type) of the user's latest `limit` events, as recent_events orders
        them: the two columns a request folds in, without building whole events."""
        return [(item, kind) for item, kind in self._latest("item_id, event_type", user_id, limit)]

    def _latest(self, columns: str, user_id: str, limit: int) -> list[tuple[Any, ...]]:
        if limit < 1:
            return []
        rows = self._query(
            f"SELECT {columns} FROM events WHERE user_id = ? ORDER BY ts DESC, id DESC LIMIT ?",
            (user_id, int(limit)),
        )
        return rows[::-1]

    def count(self) -> int:
        return int(self._query("SELECT COUNT(*) FROM events")[0][0])

    def latest_event_id(self) -> int:
        """The newest event's id (0 when empty): ids only grow, so the difference between two
        readings is how many events arrived between them (an index lookup, not a count)."""
        return int(self._query("SELECT COALESCE(MAX(id), 0) FROM events")[0][0])

    def user_ids(self) -> list[str]:
        """Every user id the store holds events of, once each."""
        return [user_id for (user_id,) in self._query("SELECT DISTINCT user_id FROM events")]

    def events_table(
        self,
        since: float | None = None,
        with_ids: bool = False,
        event_types: Collection[str] | None = None,
    ) -> pa.Table:
        """Every stored event (at or after `since`, Unix seconds; of `event_types` only, if given)
        in time order, in the public event columns of API.md section 1; `with_ids` adds the
        store's own `event_id`."""
        where, params = events_where(since, event_types)
        # Sorted here, not in SQL: walking the time index fetches rows in random order, which is
        # slower than a plain scan followed by a vectorised sort.
        query = f"SELECT {EVENT_COLUMNS}, id FROM events {where}"
        table = self._arrow(query, params, EVENTS_SCHEMA)
        table = table.sort_by([("timestamp", "ascending"), ("event_id", "ascending")])
        return table if with_ids else table.drop_columns(["event_id"])

    def _arrow(
        self, query: str, params: Sequence[Any], schema: pa.Schema, json_columns: tuple = ()
    ) -> pa.Table:
        """The result of `query` as a table, converted chunk by chunk so that memory holds at
        most FETCH_ROWS rows as Python objects; `json_columns` hold JSON text to decode."""
        batches = []
        with self._connection() as connection:
            cursor = connection.cursor()
            cursor.execute(self._sql(query), params)
            while rows := cursor.fetchmany(FETCH_ROWS):
                columns = [list(values) for values in zip(*rows, strict=True)]
                for name in json_columns:
                    index = schema.get_field_index(name)
                    columns[index] = [json.loads(text) for text in columns[index]]
                batches.append(pa.record_batch(columns, schema=schema))
        return pa.Table.from_batches(batches, schema=schema)

    def close(self) -> None:
        """Closes this process's idle connections; borrowed ones close when given back."""
        with self._lock:
            self._closed = True
            pool = self._pool if self._pid == os.getpid() else []
            self._pool = []
        for connection in pool:
            connection.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.shown_url!r})"
