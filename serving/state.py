"""What a server process holds: the serving bundle (swapped atomically on reload), the bundle
versions experiment variants pin, the file watch on models/CURRENT and the background writer of
served responses."""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from recsys.bundle import Bundle
from recsys.errors import BundleError, NoModelError
from recsys.eventstore import EventStore, StoreUnavailable
from recsys.service import ServedBundle
from recsys.service.live import LiveItems
from recsys.versions import CURRENT, current_version, list_versions, version_folder

log = logging.getLogger("recsys.server")


class BundleHolder:
    """One reference to the serving bundle. A reload loads and verifies the new bundle completely
    before replacing the reference, so a request that took the old one finishes on it, new ones get
    the new, and a damaged bundle never replaces a good one. Versions pinned by experiment
    variants are held beside it for the process's life, whatever CURRENT does; one object per
    version (CURRENT moving onto a pinned version reuses it). Every bundle serves under `live`,
    the process's live catalogue."""

    def __init__(
        self,
        models_dir: Path,
        on_swap: Callable[[str | None, ServedBundle], None],
        live: LiveItems | None = None,
    ) -> None:
        self.models_dir = models_dir
        self.live = live or LiveItems()
        self._served: ServedBundle | None = None
        self._reload_lock = threading.Lock()
        self._on_swap = on_swap
        self.refused: dict[str, str] = {}  # version -> why it was refused
        self.pinned: dict[str, ServedBundle] = {}  # version -> bundle, for experiment variants

    @property
    def served(self) -> ServedBundle:
        """The serving bundle (take it once per request); NoModelError before the first load."""
        served = self._served
        if served is None:
            raise NoModelError("no model bundle is loaded yet")
        return served

    def loaded(self) -> list[ServedBundle]:
        """The serving bundle and the pinned ones, each once."""
        bundles = [self._served, *self.pinned.values()]
        return list({id(b): b for b in bundles if b is not None}.values())

    def warm(self) -> None:
        """Maps the serving and pinned bundles' arrays into this process (a forked worker's first
        use)."""
        for served in self.loaded():
            served.warm()

    def _load(self, folder: Path) -> ServedBundle:
        return ServedBundle(Bundle.load(folder), self.live)

    def pin(self, version: str) -> ServedBundle:
        """The bundle `version` of the models folder, loaded and verified once, then kept (an
        experiment variant serves it). BundleError when it is missing or damaged; a refused
        version is not retried."""
        found = self.pinned.get(version)
        if found is not None:
            return found
        with self._reload_lock:
            if version in self.pinned:
                return self.pinned[version]
            if version in self.refused:
                raise BundleError(self.refused[version])
            served = self._served
            if served is None or served.version != version:
                try:
                    served = self._load(version_folder(self.models_dir, version))
                except BundleError as exc:
                    self.refused[version] = str(exc)
                    raise
            self.pinned[version] = served
            return served

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
                served = self.pinned.get(wanted or "") or self._load(self.models_dir)
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
        """The newest bundle older than the refused one that loads: never a newer one (it may be
        the very version an operator rolled back from)."""
        for entry in reversed(list_versions(self.models_dir)):
            if refused is None or entry["version"] < refused:
                try:
                    pinned = self.pinned.get(entry["version"])
                    return pinned or self._load(self.models_dir / entry["version"])
                except BundleError:
                    continue
        return None


def supervised(
    name: str, seconds: float, step: Callable[[], Any], on_error: Callable[[str], None],
    stop: threading.Event | None = None,
) -> threading.Thread:
    """Starts a daemon thread running step() every `seconds` until `stop` is set. An exception
    from a step is logged (with its traceback) and counted through on_error(name), and the loop
    goes on: a background thread never dies silently."""
    stopped = stop or threading.Event()

    def run() -> None:
        while not stopped.wait(seconds):
            try:
                step()
            except Exception:  # whatever it was, the loop must go on
                log.exception('{"event": "background_error", "thread": "%s"}', name)
                on_error(name)

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    return thread


class Watcher:
    """A daemon thread that stats models/CURRENT every `seconds` and reloads when it changes. A
    refused version is not retried until CURRENT changes again; any other error is logged and
    counted (`on_error`), and the watch goes on."""

    def __init__(
        self, holder: BundleHolder, seconds: float, on_error: Callable[[str], None]
    ) -> None:
        self.holder = holder
        self.seconds = seconds
        self.on_error = on_error
        self._seen: tuple[int, int] | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        if self.seconds > 0:
            supervised("recsys-watch", self.seconds, self.check, self.on_error, self._stop)

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



class ServedLog:
    """Records every response in the event store from a background thread, so requests never wait
    on the database. Requests only append to a deque (no lock, no wake-up: waking a thread per
    request costs the request a GIL hand-over); the thread drains it every `interval` seconds in
    transactions of up to `batch` rows (one commit per response cost more than the response).
    The backlog is bounded: when the store cannot keep up, records are dropped and counted
    (on_drop(count)), as are the rows of a batch the store refused (all of them, at once, while
    it is down). What is pending is written at
    exit (atexit, and gunicorn's worker_exit through serving/gunicorn.conf.py)."""

    def __init__(
        self,
        store: EventStore,
        capacity: int,
        on_drop: Callable[[int], None],
        interval: float = 0.05,
        batch: int = 500,
        on_error: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.interval = interval
        self.batch = batch
        self._pending: deque[tuple[Any, ...]] = deque()
        self._on_drop = on_drop
        self._on_error = on_error
        self._drain_lock = threading.Lock()

    def start(self) -> None:
        supervised("recsys-served", self.interval, self.drain, self._on_error)
        atexit.register(self.drain)

    def put(self, *record: Any) -> None:
        if len(self._pending) >= self.capacity:
            self._on_drop(1)
            return
        self._pending.append(record)

    def drain(self) -> int:
        """Writes every pending record, a batch per transaction; returns how many were written.
        A batch the store refuses (for whatever reason) is logged and counted as dropped."""
        written = 0
        with self._drain_lock:  # the thread and an exit hook may both drain
            while self._pending:
                size = min(self.batch, len(self._pending))
                rows = [self._pending.popleft() for _ in range(size)]
                try:
                    written += self.store.record_served_many(rows)
                except StoreUnavailable:  # the outage is logged once, by serving/store_watch.py
                    self._on_drop(len(rows))
                except Exception as exc:  # counted, and the log goes on
                    log.error('{"event": "served_log_failed", "rows": %d, "reason": %s}',
                              len(rows), json.dumps(str(exc)))  # fmt: skip
                    self._on_drop(len(rows))
        return written


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
