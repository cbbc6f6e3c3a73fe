"""Forgetting customers in the store, atomically with respect to writes of their rows, and the
retention purge.

A forget deletes the customer's events and served responses and adds the keyed digest of their id
(recsys.privacy) in one transaction. Every write of customer rows (events, served responses) checks
the forgotten table in its own transaction, under a lock that a forget takes exclusively: SQLite's
BEGIN IMMEDIATE serialises all writers; on PostgreSQL writers share an advisory lock that a forget
takes alone, so a write is either committed before the forget (and deleted by it) or sees the
forgotten row (and drops the customer's rows).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from recsys.eventstore.schema import IN_CHUNK
from recsys.privacy import ForgetKey, ForgetSecretError, Forgotten

NO_SECRET = (
    "has forgotten customers, whose ids are keyed with the forget secret: set "
    "RECSYS_FORGET_SECRET to the server's secret"
)


class Forgetting:
    """The `forgotten` and `forget_key` tables; mixed into EventStore."""

    key: ForgetKey | None

    if TYPE_CHECKING:
        shown_url: str

        def _transaction(self) -> AbstractContextManager[Any]: ...
        def _sql(self, query: str) -> str: ...
        def _query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def _lock_writes(self, cursor: Any, exclusive: bool) -> None:
        """Orders customer-row writes against forgets, where the backend needs it."""

    def _check_key(self, cursor: Any) -> None:
        """At open: a key that did not write this store's forgotten list is refused (it would
        match nobody and silently bring every forgotten customer back)."""
        cursor.execute("SELECT key_check FROM forget_key")
        row = cursor.fetchone()
        if row is None:
            cursor.execute("SELECT COUNT(*) FROM forgotten")
            if cursor.fetchone()[0]:
                raise ForgetSecretError(
                    f"event store {self.shown_url} holds forgotten customers as unkeyed digests "
                    "(written before keyed digests); forget them again with recsys forget"
                )
        elif self.key is not None and row[0] != self.key.check:
            raise ForgetSecretError(
                f"event store {self.shown_url}: its forgotten list was written under another "
                "forget secret (RECSYS_FORGET_SECRET differs from the server's)"
            )

    def _insert_remembered(
        self, cursor: Any, insert: str, rows: Sequence[Sequence[Any]], user: int
    ) -> int:
        """Inserts the rows (user id at column `user`) of customers not forgotten, inside the
        caller's write transaction, ordered against forgets; returns how many were written."""
        self._lock_writes(cursor, exclusive=False)
        gone = self._forgotten_among(cursor, {row[user] for row in rows})
        kept = [row for row in rows if row[user] not in gone] if gone else rows
        if kept:
            cursor.executemany(self._sql(insert), kept)
        return len(kept)

    def _forgotten_among(self, cursor: Any, user_ids: Iterable[str | None]) -> set[str]:
        """Which of `user_ids` are forgotten, inside the caller's write transaction."""
        ids = {user for user in user_ids if user is not None}
        if not ids:
            return set()
        if self.key is None:
            cursor.execute("SELECT 1 FROM forget_key")
            if cursor.fetchone() is not None:
                raise ForgetSecretError(f"event store {self.shown_url} {NO_SECRET}")
            return set()
        by_digest = {self.key.digest(user): user for user in ids}
        digests = list(by_digest)
        gone: set[str] = set()
        for start in range(0, len(digests), IN_CHUNK):
            chunk = digests[start : start + IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            cursor.execute(
                self._sql(f"SELECT digest FROM forgotten WHERE digest IN ({marks})"), chunk
            )
            gone.update(by_digest[digest] for (digest,) in cursor.fetchall())
        return gone

    def forget_user(self, user_id: str) -> int:
        """Deletes the user's events and served responses and remembers the keyed digest of the
        id, so that no reader uses them again. Returns the number of rows deleted."""
        key = self._needs_key("forgetting a customer")
        with self._transaction() as cursor:
            self._lock_writes(cursor, exclusive=True)
            cursor.execute("SELECT key_check FROM forget_key")
            if cursor.fetchone() is None:
                cursor.execute(self._sql("INSERT INTO forget_key VALUES (?)"), (key.check,))
            deleted = 0
            for table in ("events", "served"):
                cursor.execute(self._sql(f"DELETE FROM {table} WHERE user_id = ?"), (user_id,))
                deleted += max(cursor.rowcount, 0)
            cursor.execute(
                self._sql("INSERT INTO forgotten VALUES (?, ?) ON CONFLICT DO NOTHING"),
                (key.digest(user_id), time.time()),
            )
        return deleted

    def is_forgotten(self, user_id: str) -> bool:
        if self.key is None:
            if self._query("SELECT 1 FROM forget_key"):
                raise ForgetSecretError(f"event store {self.shown_url} {NO_SECRET}")
            return False
        query = "SELECT 1 FROM forgotten WHERE digest = ?"
        return bool(self._query(query, (self.key.digest(user_id),)))

    def forgotten(self) -> Forgotten:
        """The forgotten list, for readers to drop those customers' rows."""
        digests = frozenset(self.forgotten_users())
        if digests and self.key is None:
            raise ForgetSecretError(f"event store {self.shown_url} {NO_SECRET}")
        return Forgotten(digests, self.key, self.shown_url)

    def forgotten_count(self) -> int:
        """How many customers were forgotten: rows are never removed, so it moves with every
        forget (a reader holding the list re-reads it only then)."""
        return int(self._query("SELECT COUNT(*) FROM forgotten")[0][0])

    def forgotten_users(self) -> set[str]:
        """The keyed digests of every forgotten user id."""
        return {digest for (digest,) in self._query("SELECT digest FROM forgotten")}

    def purge(self, before: float) -> int:
        """Deletes events and served responses older than `before` (Unix seconds): the retention
        limit. Returns the number of rows deleted."""
        with self._transaction() as cursor:
            deleted = 0
            for table in ("events", "served"):
                cursor.execute(self._sql(f"DELETE FROM {table} WHERE ts < ?"), (float(before),))
                deleted += max(cursor.rowcount, 0)
        return deleted

    def _needs_key(self, doing: str) -> ForgetKey:
        if self.key is None:
            raise ForgetSecretError(
                f"{doing} needs the forget secret: set RECSYS_FORGET_SECRET (kept outside the "
                "database; the same on every server and training host)"
            )
        return self.key
