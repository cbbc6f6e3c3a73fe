"""Item changes made at run time (POST /v1/items, DELETE /v1/items/{id}), kept in the store so that
every server process, every restart and the next `recsys train` see them.

One row per changed item holds its changed fields merged (`fields`), when each field was last set
(`times`, for training's "a newer catalogue file wins"), and `seq`, the value of the change counter
at its last write. The counter (table `catalogue_mark`, one row) is bumped by every write, under
its row lock, so writers take turns and `seq` grows in commit order: a reader that remembers the
highest `seq` it has read asks only for the rows written since.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from recsys.eventstore.schema import IN_CHUNK

COLUMNS = "item_id, fields, times, seq"
ADDED = "added"  # the field holding when the store first heard of an item (Unix seconds)


@dataclass(frozen=True)
class StoredItem:
    item_id: str
    fields: dict[str, Any]  # field or property -> value (None: cleared)
    times: dict[str, float]  # field or property -> Unix seconds it was last set
    seq: int


class ItemChanges:
    """The `item_changes` table; mixed into EventStore, whose connection helpers it uses."""

    if TYPE_CHECKING:

        def _transaction(self) -> AbstractContextManager[Any]: ...
        def _query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
        def _sql(self, query: str) -> str: ...

    def change_items(self, changes: Sequence[tuple[str, dict[str, Any]]], at: float) -> int:
        """Merges each change into its item's stored fields, in one transaction; returns the
        change counter's new value. Changing a deleted item brings it back. An item's first
        change also stores when it was made (`added`: new arrivals are ordered by it)."""
        with self._transaction() as cursor:
            cursor.execute("UPDATE catalogue_mark SET changes = changes + 1 WHERE id = 1")
            cursor.execute("SELECT changes FROM catalogue_mark WHERE id = 1")
            seq = int(cursor.fetchone()[0])
            ids = list(dict.fromkeys(item_id for item_id, _ in changes))
            merged = self._stored(cursor, ids)
            for item_id, change in changes:
                if item_id not in merged:  # first heard of: when (recsys.service.content)
                    merged[item_id] = {ADDED: at}, {ADDED: at}
                fields, times = merged[item_id]
                if fields.get("deleted") and "deleted" not in change:
                    change = {**change, "deleted": False}
                fields, times = {**fields, **change}, {**times, **dict.fromkeys(change, at)}
                merged[item_id] = fields, times
            rows = [(i, json.dumps(merged[i][0]), json.dumps(merged[i][1]), seq) for i in ids]
            cursor.executemany(
                self._sql(
                    f"INSERT INTO item_changes ({COLUMNS}) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (item_id) DO UPDATE SET fields = excluded.fields, "
                    "times = excluded.times, seq = excluded.seq"
                ),
                rows,
            )
            return seq

    def _stored(
        self, cursor: Any, ids: list[str]
    ) -> dict[str, tuple[dict[str, Any], dict[str, float]]]:
        found = {}
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start : start + IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            cursor.execute(
                self._sql(f"SELECT item_id, fields, times FROM item_changes WHERE item_id IN "
                          f"({marks})"),
                chunk,
            )  # fmt: skip
            for item_id, fields, times in cursor.fetchall():
                found[item_id] = json.loads(fields), json.loads(times)
        return found

    def catalogue_mark(self) -> int:
        """The change counter: moves with every item change, so a reader re-reads only then."""
        return int(self._query("SELECT changes FROM catalogue_mark WHERE id = 1")[0][0])

    def items_changed_since(self, seq: int = 0, times: bool = True) -> list[StoredItem]:
        """The items whose last change came after counter value `seq` (all of them for 0);
        without `times`, their times are left empty (a server needs none)."""
        columns = COLUMNS if times else "item_id, fields, '{}', seq"
        rows = self._query(
            f"SELECT {columns} FROM item_changes WHERE seq > ? ORDER BY seq", (int(seq),)
        )
        return [stored_item(row) for row in rows]


def stored_item(row: Sequence[Any]) -> StoredItem:
    item_id, fields, times, seq = row
    return StoredItem(item_id, orjson.loads(fields), orjson.loads(times), int(seq))
