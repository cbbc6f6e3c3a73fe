"""Which users may have store activity (fresh events, or forgotten): a byte per hash slot in a
memory-mapped file next to the SQLite store, shared by every worker on the machine.

Personalised picks must reflect events a user just sent, through whichever worker. Asking the store
on every request costs two queries; this map answers "certainly nothing" for most users with one
hash, and only users whose slot is set (they sent events or were forgotten, or share a slot) are
looked up. Writers set a slot before their store write commits, so a reader never misses one.
With PostgreSQL (several hosts may share the store) there is no map and every request asks.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from recsys.eventstore import EventStore, sqlite_path, user_digest
from recsys.service.served import touch_pages

SLOTS = 1 << 24  # 16 MB; a slot per byte, so writers in different processes never clobber a bit


def slot(digest: str) -> int:
    return int(digest[:12], 16) % SLOTS


class ActivityMap:
    def __init__(self, path: Path, store: EventStore) -> None:
        if not path.is_file():
            build(path, store)
        # a plain view of the shared mapping: np.memmap's indexing is several times slower
        self.slots = np.memmap(path, dtype=np.uint8, mode="r+", shape=(SLOTS,)).view(np.ndarray)

    @classmethod
    def for_store(cls, url: str, store: EventStore) -> ActivityMap | None:
        if not url.startswith("sqlite:"):
            return None
        return cls(Path(f"{sqlite_path(url)}.activity"), store)

    def warm(self) -> None:
        """Maps in every page for this process (see ServedBundle.warm)."""
        touch_pages(self.slots)

    def mark(self, user_ids: Iterable[str]) -> None:
        for user_id in user_ids:
            self.slots[slot(user_digest(user_id))] = 1

    def maybe_active(self, user_id: str) -> bool:
        return bool(self.slots[slot(user_digest(user_id))])


def build(path: Path, store: EventStore) -> None:
    """The map of every user the store already holds events of, or has forgotten. Written to a
    temporary file and linked into place only if no other worker got there first (os.link never
    replaces), so all workers map the same file and never see half of one."""
    slots = np.zeros(SLOTS, np.uint8)
    users = store.user_ids()
    for digest in [user_digest(u) for u in users] + list(store.forgotten_users()):
        slots[slot(digest)] = 1
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    slots.tofile(tmp)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
