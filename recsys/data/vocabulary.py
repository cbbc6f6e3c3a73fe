"""Vocabulary: external string ids <-> dense 0-based numbers. Only the boundary sees the strings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


class Vocabulary:
    """An ordered set of string ids; number i is ids[i]."""

    def __init__(self, ids: pa.Array | Sequence[str]) -> None:
        self._ids = ids if isinstance(ids, pa.Array) else pa.array(list(ids), pa.string())
        if self._ids.type != pa.string():
            self._ids = self._ids.cast(pa.string())
        self._lookup: dict[str, int] | None = None

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, external_id: object) -> bool:
        return external_id in self.lookup

    @property
    def arrow(self) -> pa.Array:
        return self._ids

    @property
    def lookup(self) -> dict[str, int]:
        if self._lookup is None:
            self._lookup = {value: i for i, value in enumerate(self._ids.to_pylist())}
        return self._lookup

    def index(self, external_id: str) -> int | None:
        """The number of `external_id`, or None when it is unknown."""
        return self.lookup.get(external_id)

    def indices(self, external_ids: Iterable[str]) -> np.ndarray:
        """Numbers of many ids at once (int64); -1 where an id is unknown."""
        lookup = self.lookup
        return np.fromiter((lookup.get(x, -1) for x in external_ids), dtype=np.int64)

    def encode(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """Numbers of a whole Arrow string column (vectorised); -1 where an id is unknown."""
        found = pc.index_in(column, value_set=self._ids)
        return np.asarray(found.fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)

    def ids(self, numbers: Iterable[int]) -> list[str]:
        """The external ids of `numbers`."""
        taken = self._ids.take(pa.array(np.asarray(list(numbers), dtype=np.int64)))
        return taken.to_pylist()

    def __getitem__(self, number: int) -> str:
        return self._ids[number].as_py()

    def extend(self, external_ids: pa.Array) -> Vocabulary:
        """A new vocabulary with the ids of `external_ids` not yet known appended, in first-seen
        order."""
        fresh = pc.unique(
            external_ids.filter(pc.invert(pc.is_in(external_ids, value_set=self._ids)))
        )
        return Vocabulary(pa.concat_arrays([self._ids, fresh.cast(pa.string())]))

    def save(self, path: Path) -> None:
        table = pa.table({"id": self._ids})
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        with pa.memory_map(str(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
        return cls(table.column("id").combine_chunks())
