"""What a server process holds: the serving bundle (swapped atomically on reload), the file watch
on models/CURRENT and the background writer of served responses."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recsys.bundle import Bundle
from recsys.errors import BundleError, NoModelError
from recsys.eventstore import EventStore, StoreError
from recsys.service import ServedBundle
from recsys.store import CURRENT, current_version, list_versions

log = logging.getLogger("recsys.server")


class BundleHolder:
    """One reference to the serving bundle. A reload loads and verifies the new bundle completely
    before replacing the reference, so a request that took the old one finishes on it, new ones get
    the new, and a damaged bundle never replaces a good one."""

    def __init__(
        self, models_dir: Path, on_swap: Callable[[str | None, ServedBundle], None]
    ) -> None:
        self.models_dir = models_dir
        self._served: ServedBundle | None = None
        self._reload_lock = threading.Lock()
        self._on_swap = on_swap
        self.refused: dict[str, str] = {}  # version -> why it was refused

    @property
    def served(self) -> ServedBundle:
        """The serving bundle (take it once per request); NoModelError before the first load."""
        served = self._served
        if served is None:
            raise NoModelError("no model bundle is loaded yet")
        return served

    def warm(self) -> None:
        """Maps the serving bundle's arrays into this process (a forked worker's first use)."""
        served = self._served
        if served is not None:
            served.warm()

    @property
    def ready(self) -> bool:
        return self._served is not None

    @property
    def version(self) -> str | None:
        served = self._served
        return served.version if served is not None else None

    def reload(self) -> tuple[str | None, str]:
        """Loads the models folder's CURRENT bundle if it is not the one serving. Returns
        (previous version, serving version); BundleError (old bundle kept) when it is damaged.
        A process with no bundle yet falls back to the newest earlier bundle that loads."""
        with self._reload_lock:
            previous = self.version
            wanted = current_version(self.models_dir)
            if wanted is not None and wanted == previous:
                return previous, previous
            try:
                served = ServedBundle(Bundle.load(self.models_dir))
                served.warm()
            except BundleError as exc:
                if wanted:
                    self.refused[wanted] = str(exc)
                earlier = self._earlier(wanted) if previous is None else None
                if earlier is None:
                    raise
                served = earlier
            self._served = served
            self._on_swap(previous, served)
            log.info('{"event": "bundle_loaded", "version": "%s"}', served.version)
            return previous, served.version

    def _earlier(self, refused: str | None) -> ServedBundle | None:
        for entry in reversed(list_versions(self.models_dir)):
            if entry["version"] != refused:
                try:
                    return ServedBundle(Bundle.load(self.models_dir / entry["version"]))
                except BundleError:
                    continue
        return None


class Watcher:
    """A daemon thread that stats models/CURRENT every `seconds` and reloads when it changes. A
    refused version is not retried until CURRENT changes again."""

    def __init__(self, holder: BundleHolder, seconds: float) -> None:
        self.holder = holder
        self.seconds = seconds
        self._seen: tuple[int, int] | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        if self.seconds > 0:
            threading.Thread(target=self._run, name="recsys-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def check(self) -> None:
        try:
            stat = (self.holder.models_dir / CURRENT).stat()
        except OSError:
            return
        signature = (stat.st_mtime_ns, stat.st_ino)
        if signature == self._seen:
            return
        self._seen = signature
        try:
            self.holder.reload()
        except BundleError as exc:
            log.error('{"event": "bundle_refused", "reason": %r}', str(exc))

    def _run(self) -> None:
        while not self._stop.wait(self.seconds):
            self.check()


class ServedLog:
    """Records every response in the event store from a background thread, so requests never wait
    on the database. Requests only append to a deque (no lock, no wake-up: waking a thread per
    request costs the request a GIL hand-over); the thread drains it every `interval` seconds in
    transactions of up to `batch` rows (one commit per response cost more than the response).
    The backlog is bounded: when the store cannot keep up, records are dropped and counted."""

    def __init__(
        self,
        store: EventStore,
        capacity: int,
        on_drop: Callable[[], None],
        interval: float = 0.05,
        batch: int = 500,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.interval = interval
        self.batch = batch
        self._pending: deque[tuple[Any, ...]] = deque()
        self._on_drop = on_drop

    def start(self) -> None:
        threading.Thread(target=self._run, name="recsys-served", daemon=True).start()

    def put(self, *record: Any) -> None:
        if len(self._pending) >= self.capacity:
            self._on_drop()
            return
        self._pending.append(record)

    def drain(self) -> int:
        """Writes every pending record, a batch per transaction; returns how many were written."""
        written = 0
        while self._pending:
            rows = [self._pending.popleft() for _ in range(min(self.batch, len(self._pending)))]
            try:
                written += self.store.record_served_many(rows)
            except StoreError as exc:
                log.error('{"event": "served_log_failed", "rows": %d, "reason": %r}',
                          len(rows), str(exc))  # fmt: skip
        return written

    def _run(self) -> None:
        while True:
            time.sleep(self.interval)
            self.drain()


class ProcessLocal:
    """Starts per-process threads on first use in each process: with gunicorn --preload the app is
    built in the master and threads do not survive the fork into workers."""

    def __init__(self, start: Callable[[], None]) -> None:
        self._start = start
        self._pid: int | None = None
        self._lock = threading.Lock()

    def ensure(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid != os.getpid():
                self._start()
                self._pid = os.getpid()
