"""What the events say about each customer lately: recent purchases and abandoned carts.

The bundle keeps only the purchase matrix (everything ever bought), so the time-windowed rules of
campaigns read the events themselves.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recsys.data.events import Events
from recsys.data.interactions import events_matrix

DAY = 86_400


def now_of(events: Events) -> int:
    """The reference time of every window: the newest event."""
    return int(events.timestamp.max())


def last_purchase(events: Events) -> np.ndarray:
    """Per user number, the Unix time of the latest purchase (-1 if none)."""
    bought = events.is_type("purchase")
    last = np.full(len(events.users), -1, np.int64)
    np.maximum.at(last, events.user[bought], events.timestamp[bought])
    return last


def recent_purchases(events: Events, days: float, now: int | None = None) -> sp.csr_matrix:
    """users x items (events numbering), 1 where the user bought the item in the last `days`."""
    now = now_of(events) if now is None else now
    recent = events.timestamp >= now - days * DAY
    return events_matrix(events, events.is_type("purchase") & recent)


def abandoned_carts(events: Events, days: float, now: int | None = None) -> sp.csr_matrix:
    """users x items (events numbering): items added to the cart in the last `days` after the user's
    latest purchase (none bought since). The value is the latest cart time, so that the freshest
    items can come first."""
    now = now_of(events) if now is None else now
    carts = events.is_type("add_to_cart") & (events.timestamp >= now - days * DAY)
    carts &= events.timestamp > last_purchase(events)[events.user]
    n_items = len(events.items)
    keys = events.user[carts].astype(np.int64) * n_items + events.item[carts]
    times = events.timestamp[carts]
    unique, last = np.unique(keys[::-1], return_index=True)  # events are in time order
    latest = times[::-1][last]
    return sp.csr_matrix(
        (latest.astype(np.float64), (unique // n_items, unique % n_items)),
        shape=(len(events.users), n_items),
    )
