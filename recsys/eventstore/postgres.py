"""The PostgreSQL backend, through psycopg 3. Connections are in autocommit mode; the shared code
opens explicit transactions for writes. An advisory lock serialises schema creation when several
workers start at once."""

from __future__ import annotations

from typing import Any, ClassVar

from recsys.eventstore.base import EventStore
from recsys.eventstore.schema import StoreError
from recsys.privacy import ForgetKey

SCHEMA_LOCK = 0x7265637379  # "recsy": any constant shared by every recsys process
FORGET_LOCK = 0x7265637366  # writes of customer rows share it, a forget takes it alone
CONNECT_TIMEOUT_S = 10


def schema_url(url: str, schema: str) -> str:
    """`url` with its tables in `schema` (a libpq `options=-csearch_path=...` parameter)."""
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def psycopg_module() -> Any:
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            "PostgreSQL needs psycopg: pip install 'recsys[postgres]' (psycopg[binary])"
        ) from None
    return psycopg


class PostgresStore(EventStore):
    id_column: ClassVar[str] = "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
    placeholder: ClassVar[str] = "%s"

    def __init__(self, url: str, key: ForgetKey | None = None, unreachable_ok: bool = False
                 ) -> None:  # fmt: skip
        self.psycopg = psycopg_module()
        self.database_errors = (self.psycopg.Error,)
        super().__init__(url, key, unreachable_ok)

    def _connect(self) -> Any:
        return self.psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)

    def _lost(self, connection: Any | None) -> bool:
        return connection is None or bool(connection.closed)

    def _usable(self, connection: Any) -> bool:
        idle = self.psycopg.pq.TransactionStatus.IDLE
        return not connection.closed and connection.info.transaction_status == idle

    def _lock_schema(self, cursor: Any) -> None:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (SCHEMA_LOCK,))

    def _lock_writes(self, cursor: Any, exclusive: bool) -> None:
        """Until the transaction ends. READ COMMITTED gives each later statement a snapshot taken
        after the lock was granted, so a write waiting on a forget then sees its row."""
        kind = "" if exclusive else "_shared"
        cursor.execute(f"SELECT pg_advisory_xact_lock{kind}(%s)", (FORGET_LOCK,))
