"""Which customer segments each bundle user is in: one bitmask per user number (bit i set: in the
i-th segment name), stored in the bundle as an Arrow file with the names in its metadata, and
memory-mapped by the server. Experiments with a `segment` audience read it per request."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa

NEW = "new"  # the segment of visitors the bundle does not know, when the names include it
MASK_COLUMN, NAMES_KEY = "mask", b"segments"
MASK_TYPE = np.uint16


class SegmentMembership:
    """Segment names and a bitmask per user number. Read-only apart from a small cache of the
    name sets (one per distinct bitmask), so threads share it freely."""

    def __init__(self, names: Sequence[str], masks: np.ndarray) -> None:
        if len(names) > np.iinfo(MASK_TYPE).bits:
            raise ValueError(f"at most {np.iinfo(MASK_TYPE).bits} segments, got {len(names)}")
        self.names = tuple(names)
        self.masks = masks
        self.unknown = frozenset({NEW}) if NEW in self.names else frozenset()
        self._sets: dict[int, frozenset[str]] = {}

    def __len__(self) -> int:
        return len(self.masks)

    @classmethod
    def from_flags(cls, table: pa.Table, names: Sequence[str]) -> SegmentMembership:
        """From a table with one boolean column per name, one row per user number (the table of
        recsys.campaigns.compute_segments)."""
        masks = np.zeros(table.num_rows, MASK_TYPE)
        for bit, name in enumerate(names):
            flags = np.asarray(table.column(name).to_numpy(zero_copy_only=False), bool)
            masks[flags] |= MASK_TYPE(1 << bit)
        return cls(names, masks)

    def of(self, user: int | None) -> frozenset[str]:
        """The segments of user number `user`. None (a visitor the bundle does not know) is in
        "new" when that is one of the names, else in none."""
        if user is None:
            return self.unknown
        mask = int(self.masks[user])
        found = self._sets.get(mask)
        if found is None:
            found = frozenset(name for bit, name in enumerate(self.names) if mask >> bit & 1)
            self._sets[mask] = found
        return found

    def counts(self) -> dict[str, int]:
        """Users per segment."""
        return {
            name: int(np.count_nonzero(self.masks & MASK_TYPE(1 << bit)))
            for bit, name in enumerate(self.names)
        }

    def save(self, path: Path) -> None:
        schema = pa.schema(
            [(MASK_COLUMN, pa.from_numpy_dtype(MASK_TYPE))],
            metadata={NAMES_KEY: json.dumps(self.names).encode()},
        )
        table = pa.table({MASK_COLUMN: self.masks}, schema=schema)
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
            writer.write_table(table)

    @classmethod
    def load(cls, path: Path) -> SegmentMembership:
        with pa.memory_map(str(path), "r") as source:
            table = pa.ipc.open_file(source).read_all()
        names = json.loads(table.schema.metadata[NAMES_KEY])
        masks = table.column(MASK_COLUMN).combine_chunks().to_numpy()
        return cls(names, masks)
