"""The item changes a server process serves (POST /v1/items, kept in the event store). Every
process follows the store on its own, so all workers and restarts serve the same catalogue."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from recsys.eventstore import EventStore, StoreError
from recsys.service import ServedBundle
from recsys.service.live import LiveItems
from recsys_serving.store_watch import store_failed

log = logging.getLogger("recsys.server")


class LiveCatalogue:
    """Reads the item changes written since the last read when the store's change counter has
    moved, checked every `seconds` by a daemon thread (one small query, never on the request path),
    publishes the new overlay to `live`, then rebuilds the availability of every loaded bundle
    (`bundles()`), so requests find it ready."""

    def __init__(
        self,
        store: EventStore,
        seconds: float,
        live: LiveItems,
        bundles: Callable[[], Iterable[ServedBundle]],
    ) -> None:
        self.store = store
        self.seconds = seconds
        self.live = live
        self.bundles = bundles
        self._mark: int | None = None
        self._lock = threading.Lock()

    def refresh(self) -> None:
        """Publishes the changes made since the last refresh. A store that cannot be read is
        logged; the catalogue stays as it is."""
        with self._lock:
            try:
                mark = self.store.catalogue_mark()
                if mark != self._mark:
                    overlay = self.live.overlay
                    stored = self.store.items_changed_since(overlay.seq, times=False)
                    self.live.overlay = overlay.updated(stored)
                    self._mark = mark
            except StoreError as exc:
                store_failed("catalogue_refresh_failed", exc)
            for served in self.bundles():
                served.follow()  # also when an available_until has passed

    def start(self) -> None:
        """Refreshes at once (a forked worker may hold its parent's older overlay), then every
        `seconds` in a daemon thread."""
        self.refresh()
        threading.Thread(target=self._run, name="recsys-catalogue", daemon=True).start()

    def _run(self) -> None:
        while True:
            time.sleep(self.seconds)
            self.refresh()
