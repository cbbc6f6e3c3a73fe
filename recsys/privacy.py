"""Who is forgotten: the one definition every reader of customer data uses (serving, training,
export, segments, evaluation, experiment reports).

A forgotten customer is remembered only as a keyed hash of their id (HMAC-SHA256 under the
server's forget secret, kept outside the database): the forgotten table alone names nobody, not
even for guessable ids. Readers get a `Forgotten` (the digests and the key that made them) from the
event store and drop matching rows; a reader with no store says that no list was applied.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.errors import RecsysError

KEY_CHECK = "recsys forgotten-list key check"  # hashed and stored: tells a wrong secret apart
PSEUDONYM_CHARS = 16


class ForgetSecretError(RecsysError):
    """Forgetting, or reading a forgotten list, needs the forget secret, and the right one."""


class ForgetKey:
    """HMAC-SHA256 under the forget secret: how a forgotten id is remembered."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ForgetSecretError("the forget secret is empty")
        self._secret = secret.encode("utf-8")

    def digest(self, user_id: str) -> str:
        return hmac.new(self._secret, user_id.encode("utf-8"), hashlib.sha256).hexdigest()

    @property
    def check(self) -> str:
        """The digest of a fixed text, stored beside the list: a reader holding another secret
        would match nobody, so it is refused instead."""
        return self.digest(KEY_CHECK)

    def pseudonym(self, user_id: str) -> str:
        """A short stable stand-in for an id in logs (not reversible without the secret)."""
        return f"h:{self.digest(user_id)[:PSEUDONYM_CHARS]}"

    def __repr__(self) -> str:
        return "ForgetKey(***)"


@dataclass(frozen=True)
class Forgotten:
    """The forgotten customers as a reader sees them. `source` names the store the list came
    from; None when no store was read (nothing can be left out, and readers say so)."""

    digests: frozenset[str] = frozenset()
    key: ForgetKey | None = None
    source: str | None = None

    @property
    def applied(self) -> bool:
        return self.source is not None

    def __contains__(self, user_id: object) -> bool:
        if not self.digests or self.key is None or not isinstance(user_id, str):
            return False
        return self.key.digest(user_id) in self.digests

    def __len__(self) -> int:
        return len(self.digests)

    def mask(self, user_ids: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Boolean mask of the rows whose user id is forgotten (each distinct id hashed once)."""
        if not self.digests or self.key is None or len(user_ids) == 0:
            return np.zeros(len(user_ids), dtype=bool)
        distinct = pc.unique(user_ids).to_pylist()
        gone = [user for user in distinct if user is not None and user in self]
        found = pc.is_in(user_ids, value_set=pa.array(gone, pa.string())).fill_null(False)
        return np.asarray(found.to_numpy(zero_copy_only=False), dtype=bool)

    def drop(self, table: pa.Table, column: str = "user_id") -> tuple[pa.Table, int]:
        """`table` without the forgotten customers' rows, and how many rows were removed."""
        if column not in table.column_names:
            return table, 0
        gone = self.mask(table.column(column))
        removed = int(gone.sum())
        return (table.filter(pa.array(~gone)) if removed else table), removed

    def keep(self, user_ids: pa.Array) -> tuple[pa.Array, int]:
        """The ids that are not forgotten, and how many were left out."""
        gone = self.mask(user_ids)
        removed = int(gone.sum())
        return (user_ids.filter(pa.array(~gone)) if removed else user_ids), removed

    def summary(self, removed: int, what: str = "rows") -> str:
        """One line for a command's output: what was left out, or that no list was applied."""
        if not self.applied:
            return (
                "no forgotten list applied (no event store: set RECSYS_DATABASE_URL or pass "
                "--db to leave forgotten customers out)"
            )
        return f"forgotten customers left out: {removed:,} {what} (list of {self.source})"


NOT_APPLIED = Forgotten()
