"""Which users may have store activity (fresh events, or forgotten): a byte per hash slot in a
memory-mapped file next to the SQLite store, shared by every worker on the machine.

Personalised picks must reflect events a user just sent, through whichever worker. Asking the store
on every request costs two queries; this map answers "certainly nothing" for most users with one
hash, and only users whose slot is set (they sent events or were forgotten, or share a slot) are
looked up. Writers set a slot before their store write commits, so a reader never misses one.
With PostgreSQL (several hosts may share the store) there is no map and every request asks.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from recsys.eventstore import EventStore, sqlite_path
from recsys.privacy import ForgetKey
from recsys.service.served import touch_pages

SLOTS = 1 << 24  # 16 MB; a slot per byte, so writers in different processes never clobber a bit


def slot(digest: str) -> int:
    return int(digest[:12], 16) % SLOTS


def user_slot(key: ForgetKey | None, user_id: str) -> int:
    """The slot of a user: of the digest the forgotten list holds (without a forget secret the
    list is empty and any hash does)."""
    if key is not None:
        return slot(key.digest(user_id))
    return slot(hashlib.sha256(user_id.encode("utf-8")).hexdigest())


class ActivityMap:
    def __init__(self, path: Path, store: EventStore) -> None:
        self.key = store.key
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
            self.slots[user_slot(self.key, user_id)] = 1

    def maybe_active(self, user_id: str) -> bool:
        return bool(self.slots[user_slot(self.key, user_id)])


def build(path: Path, store: EventStore) -> None:
    """The map of every user the store already holds events of, or has forgotten. Written to a
    temporary file and linked into place only if no other worker got there first (os.link never
    replaces), so all workers map the same file and never see half of one."""
    slots = np.zeros(SLOTS, np.uint8)
    for user_id in store.user_ids():
        slots[user_slot(store.key, user_id)] = 1
    for digest in store.forgotten_users():
        slots[slot(digest)] = 1
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    slots.tofile(tmp)
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
