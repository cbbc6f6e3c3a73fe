"""The event store as a server process sees it: followed off the request path, and what the
process answers with while the store is down (bundle-only picks, served under the last forgotten
list it read)."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from recsys.errors import RecsysError
from recsys.eventstore import EventStore, StoreUnavailable
from recsys.privacy import Forgotten
from recsys_serving.state import supervised

log = logging.getLogger("recsys.server")
TICK_SECONDS = 0.25  # how often the thread looks (a down store is tried as its backoff allows)
CHECK_SECONDS = 1.0  # a reachable store is asked this often (the forgotten list's size)


def store_failed(event: str, exc: RecsysError) -> None:
    """Logs a background refresh's store error; an outage is logged once, by StoreWatch."""
    if not isinstance(exc, StoreUnavailable):
        log.error('{"event": "%s", "reason": %s}', event, json.dumps(str(exc)))


class StoreWatch:
    """Asks the store every CHECK_SECONDS for the size of its forgotten list (a health check and
    the list's change mark in one small query) and reads the list anew when it grew; while the
    store is down, makes the tries its backoff allows (requests never do: they fail at once). Logs
    each outage's start and end and reports availability through `on_state(up)`.

    While the store is down, `is_forgotten` answers from the last list read (and the customers
    forgotten through this process since); before any list was read it cannot tell (None).
    `first_contact` runs once, when the store is first reached (the start-up privacy checks,
    deferred when the store was down at start; an error of theirs is logged)."""

    def __init__(
        self,
        store: EventStore,
        first_contact: Callable[[], None] | None,
        on_state: Callable[[bool], None],
        on_error: Callable[[str], None],
    ) -> None:
        self.store = store
        self.forgotten: Forgotten | None = None
        self._first_contact: Callable[[], None] | None = first_contact
        self._on_state = on_state
        self._on_error = on_error
        self._size: int | None = None
        self._noted: dict[str, float] = {}  # forgotten here, maybe after the list was read
        self._noted_lock = threading.Lock()
        self._asked = -CHECK_SECONDS
        self._was_down = False
        self._lock = threading.Lock()
        store.outage.tried_in_background = True
        on_state(True)
        self._report()

    def start(self) -> None:
        supervised("recsys-store", TICK_SECONDS, self.refresh, self._on_error)

    def refresh(self) -> None:
        """One look: a try of a down store when due, a check of a reachable one when due."""
        now = time.monotonic()
        if not self.store.outage.down and now - self._asked < CHECK_SECONDS:
            return
        self._asked = now
        with self._lock, self.store.outage.trying():
            try:
                self._read()
            except RecsysError as exc:  # a store error, or a wrong forget secret; outages: below
                store_failed("store_check_failed", exc)
            finally:
                self._report()

    def _read(self) -> None:
        size = self.store.forgotten_count()
        if self._first_contact is not None:
            first, self._first_contact = self._first_contact, None
            first()
        if size == self._size:
            return
        self._size = size  # a list that cannot be read (no secret) is not retried until it grows
        began = time.monotonic()
        self.forgotten = self.store.forgotten()
        with self._noted_lock:
            self._noted = {user: at for user, at in self._noted.items() if at >= began}

    def _report(self) -> None:
        outage = self.store.outage
        if outage.down != self._was_down:
            self._was_down = outage.down
            self._on_state(not outage.down)
            if outage.down:
                log.error('{"event": "store_unavailable", "store": %s, "reason": %s}',
                          json.dumps(self.store.shown_url), json.dumps(outage.reason))  # fmt: skip
            else:
                log.info('{"event": "store_available", "store": %s}',
                         json.dumps(self.store.shown_url))  # fmt: skip

    def noted_forgotten(self, user_id: str) -> None:
        """A customer this process just forgot: left out at once, also while the store is down."""
        with self._noted_lock:
            self._noted[user_id] = time.monotonic()

    def is_forgotten(self, user_id: str) -> bool | None:
        """From the last list read, while the store is down; None when no list was read."""
        listed = self.forgotten
        if listed is None:
            return None
        return user_id in self._noted or user_id in listed

    def unavailable(self, why: str) -> StoreUnavailable:
        """The error of an answer refused while the store is down (503 with Retry-After)."""
        return StoreUnavailable(f"event store {self.store.shown_url} is unreachable: {why}",
                                self.store.outage.retry_after())  # fmt: skip

    def degraded(self) -> dict[str, Any]:
        """What /readyz reports as degraded (nothing while the store is up)."""
        outage = self.store.outage
        since = outage.since
        if since is None:
            return {}
        personal = "bundle_only" if self.forgotten is not None else "refused"
        return {"event_store": {"since": round(since, 3), "personal_picks": personal,
                                "writes": "refused", "retry_in": round(outage.retry_after(), 3)}}
