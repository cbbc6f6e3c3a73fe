"""Served responses (request id, visitor, placement, experiment and variant, model, item ids): what
A/B attribution joins events to."""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from recsys.eventstore.schema import INSERT_SERVED, SERVED_COLUMNS, SERVED_SCHEMA


class ServedResponses:
    """The `served` table; mixed into EventStore, whose connection helpers it uses."""

    if TYPE_CHECKING:

        def _transaction(self) -> AbstractContextManager[Any]: ...
        def _insert_remembered(
            self, cursor: Any, insert: str, rows: Sequence[Sequence[Any]], user: int
        ) -> int: ...
        def _sql(self, query: str) -> str: ...
        def _arrow(
            self, query: str, params: Sequence[Any], schema: pa.Schema, json_columns: tuple = ()
        ) -> pa.Table: ...

    def record_served(
        self,
        request_id: str,
        user_id: str | None,
        placement: str,
        experiment: str | None,
        variant: str | None,
        model: str,
        item_ids: Sequence[str],
        timestamp: float,
    ) -> None:
        self.record_served_many(
            [(request_id, user_id, placement, experiment, variant, model, item_ids, timestamp)]
        )

    def record_served_many(self, rows: Sequence[Sequence[Any]]) -> int:
        """Records many responses in one transaction; each row holds record_served's arguments in
        order. Responses to forgotten customers are not stored (queued before their forget or
        not). Returns how many were written."""
        if not rows:
            return 0
        values = [(*row[:6], json.dumps(list(row[6])), float(row[7])) for row in rows]
        with self._transaction() as cursor:
            return self._insert_remembered(cursor, INSERT_SERVED, values, 1)

    def served_table(self, experiment: str | None = None) -> pa.Table:
        """Recorded responses in time order, all or those of one experiment."""
        where, params = ("WHERE experiment = ?", (experiment,)) if experiment else ("", ())
        query = f"SELECT {SERVED_COLUMNS} FROM served {where} ORDER BY ts, id"
        return self._arrow(query, params, SERVED_SCHEMA, json_columns=("item_ids",))
