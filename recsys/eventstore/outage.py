"""The store's reachability. After a call fails to reach the store, every call fails at once
(StoreUnavailable) except one try when it is due; the wait between tries doubles from FIRST_WAIT_S
up to LONGEST_WAIT_S, so a store that is back is used again within that bound. The first call that
reaches the store ends the outage. A process with a thread of its own for the tries (the server's
serving/store_watch.py) sets `tried_in_background`: then only calls inside `trying()` make them,
and no request ever waits on a connect.

    store.outage.down          # True while the store is unreachable
    store.outage.since         # Unix seconds it went down (None while reachable)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from recsys.eventstore.schema import StoreError

FIRST_WAIT_S = 0.25
LONGEST_WAIT_S = 2.0


class StoreUnavailable(StoreError):
    """The store cannot be reached now; `retry_after` seconds until the next try."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Outage:
    """Whether the store is reachable and when to try it again. A call takes a ticket (check),
    then reports failed(reason) or recovered(ticket): only a call that began during the outage
    (not one already under way when it began) may end it."""

    def __init__(
        self,
        first: float = FIRST_WAIT_S,
        longest: float = LONGEST_WAIT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.first = first
        self.longest = longest
        self.clock = clock
        self.since: float | None = None  # Unix seconds the outage began; None while reachable
        self.reason = ""
        self.outages = 0  # how many began in this process
        self._wait = first
        self._next_try = 0.0
        self._lock = threading.Lock()
        self.tried_in_background = False
        self._trying = threading.local()

    @contextmanager
    def trying(self) -> Iterator[None]:
        """Calls of this thread inside the block may make the due try."""
        self._trying.now = True
        try:
            yield
        finally:
            self._trying.now = False

    def forked(self) -> None:
        """In a forked child: a lock the parent may have held at the fork is replaced."""
        self._lock = threading.Lock()

    @property
    def down(self) -> bool:
        return self.since is not None

    def retry_after(self) -> float:
        """Seconds until the next try (0 when reachable)."""
        return max(0.0, self._next_try - self.clock()) if self.down else 0.0

    def check(self, shown_url: str) -> int:
        """The caller's ticket when it may use the store (it is reachable, or this caller makes
        the due try: the others fail until the next one is due); StoreUnavailable otherwise."""
        if self.since is None:
            return self.outages
        with self._lock:
            now = self.clock()
            may_try = not self.tried_in_background or getattr(self._trying, "now", False)
            if may_try and now >= self._next_try:
                self._next_try = now + self._wait
                self._wait = min(self.longest, self._wait * 2)
                return self.outages
            wait = self._next_try - now
        raise StoreUnavailable(
            f"event store {shown_url} is unreachable ({self.reason}); next try in {wait:.2f} s",
            wait,
        )

    def failed(self, reason: str) -> bool:
        """A call could not reach the store; True when that began an outage."""
        with self._lock:
            self.reason = reason
            if self.since is not None:
                return False
            self.since = time.time()
            self.outages += 1
            self._wait = self.first
            self._next_try = self.clock() + self._wait
            return True

    def recovered(self, ticket: int) -> None:
        """A call with `ticket` reached the store: the outage it began in is over."""
        if self.since is None:
            return
        with self._lock:
            if self.since is not None and ticket == self.outages:
                self.since = None
                self.reason = ""
