"""Experiment definitions created at run time (POST /admin/experiments), kept in the store so that
every server process and every restart serves them. A definition is stored as it was sent and never
changed afterwards (new shares would move visitors between variants); stopping one only records
when. Rows are never deleted, so a name is never reused."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

COLUMNS = "name, definition, created, stopped"


@dataclass(frozen=True)
class StoredDefinition:
    name: str
    definition: dict[str, Any]  # the JSON body of POST /admin/experiments
    created: float  # Unix seconds
    stopped: float | None  # Unix seconds, None while running


class ExperimentDefinitions:
    """The `experiments` table; mixed into EventStore, whose connection helpers it uses."""

    if TYPE_CHECKING:

        def _transaction(self) -> AbstractContextManager[Any]: ...
        def _query(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
        def _sql(self, query: str) -> str: ...

    def add_experiment(self, name: str, definition: Mapping[str, Any], created: float) -> bool:
        """Stores a new definition; False (nothing written) when the name is taken, by a
        running or a stopped experiment."""
        with self._transaction() as cursor:
            cursor.execute(
                self._sql(
                    "INSERT INTO experiments (name, definition, created) VALUES (?, ?, ?) "
                    "ON CONFLICT (name) DO NOTHING"
                ),
                (name, json.dumps(dict(definition)), float(created)),
            )
            return bool(cursor.rowcount == 1)

    def stop_experiment(self, name: str, at: float) -> StoredDefinition | None:
        """Records that the experiment stopped at `at` (a second stop keeps the first time);
        None when no experiment of that name is stored."""
        with self._transaction() as cursor:
            cursor.execute(
                self._sql("UPDATE experiments SET stopped = ? WHERE name = ? AND stopped IS NULL"),
                (float(at), name),
            )
            cursor.execute(self._sql(f"SELECT {COLUMNS} FROM experiments WHERE name = ?"), (name,))
            row = cursor.fetchone()
        return definition_of(row) if row is not None else None

    def experiment_definitions(self) -> list[StoredDefinition]:
        """Every stored definition, running and stopped, in creation order."""
        rows = self._query(f"SELECT {COLUMNS} FROM experiments ORDER BY id")
        return [definition_of(row) for row in rows]

    def experiment_definition(self, name: str) -> StoredDefinition | None:
        rows = self._query(f"SELECT {COLUMNS} FROM experiments WHERE name = ?", (name,))
        return definition_of(rows[0]) if rows else None

    def experiments_mark(self) -> tuple[int, int]:
        """Changes whenever a definition is added or stopped (rows are never deleted and a stop
        is never undone), so a reader re-reads the definitions only when it moved."""
        stored, stopped = self._query("SELECT COUNT(*), COUNT(stopped) FROM experiments")[0]
        return int(stored), int(stopped)


def definition_of(row: Sequence[Any]) -> StoredDefinition:
    name, definition, created, stopped = row
    stopped = float(stopped) if stopped is not None else None
    return StoredDefinition(name, json.loads(definition), float(created), stopped)
