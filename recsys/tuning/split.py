"""The validation split the tuner scores on, carved from the training events alone.

By time where the log has times: each user's newest `share` of relevant events (purchases by
default) is held out, and only what the user did before it trains. Where all timestamps are equal
(as in a log of bare pairs) there is no time to cut, so a seeded random share of each user's
relevant events is held out instead, and the split says so.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from recsys.data.events import Events
from recsys.data.interactions import EventsConfig, Interactions, events_matrix

TEMPORAL, RANDOM = "newest-per-user", "random-per-user"


@dataclass
class ValidationSplit:
    """`train` masks the events models may learn from; `valid` is the binary users x items matrix
    of held-out relevant pairs (no event of such a pair is in `train`)."""

    events: Events
    train: np.ndarray
    valid: sp.csr_matrix
    method: str

    @cached_property
    def train_events(self) -> Events:
        """The events models may learn from, numbered as `events` (the full vocabularies)."""
        return event_rows(self.events, self.train)

    def matrix(self, config: EventsConfig) -> Interactions:
        """The training part weighted by `config`, over the full user and item vocabularies."""
        return Interactions.from_events(self.train_events, config, self.events.items)

    @property
    def users(self) -> np.ndarray:
        """Users with held-out pairs and something to learn from before them."""
        return np.flatnonzero(np.diff(self.valid.indptr) > 0)

    def describe(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "train_events": int(self.train.sum()),
            "valid_users": len(self.users),
            "valid_pairs": int(self.valid.nnz),
        }


def event_rows(events: Events, mask: np.ndarray) -> Events:
    """The events where `mask` holds, numbered as `events` (the full vocabularies)."""
    rows = np.flatnonzero(mask)
    return dataclasses.replace(
        events,
        user=events.user[rows],
        item=events.item[rows],
        event=events.event[rows],
        timestamp=events.timestamp[rows],
        extra=events.extra.take(pa.array(rows)),  # e.g. order ids: baskets
    )


def validation_split(
    events: Events, relevant: tuple[str, ...] = ("purchase",), share: float = 0.1, seed: int = 0
) -> ValidationSplit:
    """Holds out `share` of the relevant events (all events if none is of a relevant type)."""
    target = events.is_type(*relevant)
    if not target.any():
        target = np.ones(len(events), bool)
    if len(events) and events.timestamp.min() < events.timestamp.max():
        return newest_per_user(events, target, share)
    rows = np.flatnonzero(target)
    keys = np.random.default_rng(seed).random(len(rows))
    held = np.zeros(len(events), bool)
    held[first_share(events.user, rows, keys, share)] = True
    return finish(events, ~held, held, RANDOM)


def newest_per_user(events: Events, target: np.ndarray, share: float) -> ValidationSplit:
    """Each user's newest `share` of relevant events is held out; that user's events from the
    first held-out moment on are not trained on."""
    rows = np.flatnonzero(target)
    held_rows = first_share(events.user, rows, -events.timestamp[rows], share)
    cutoff = np.full(len(events.users), np.iinfo(np.int64).max)
    np.minimum.at(cutoff, events.user[held_rows], events.timestamp[held_rows])
    train = events.timestamp < cutoff[events.user]
    held = np.zeros(len(events), bool)
    held[held_rows] = True
    return finish(events, train, held, TEMPORAL)


def first_share(users: np.ndarray, rows: np.ndarray, keys: np.ndarray, share: float) -> np.ndarray:
    """Of each user's `rows` ordered by `keys`, the first `share` (rounded; at least one when the
    user has two or more, none of a single one, which would leave nothing to learn from)."""
    order = rows[np.lexsort((keys, users[rows]))]
    owner = users[order]
    counts = np.bincount(owner)
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    position = np.arange(len(order)) - first[owner]
    wanted = np.where(counts >= 2, np.maximum(np.round(share * counts), 1), 0)
    return order[position < wanted[owner]]


def finish(events: Events, train: np.ndarray, held: np.ndarray, method: str) -> ValidationSplit:
    """Leaves every event of a held-out (user, item) pair out of training, as the test files do (a
    purchase is mostly preceded by views of the same item), and keeps held-out pairs of users who
    still have something to learn from."""
    width = np.int64(len(events.items))
    keys = events.user.astype(np.int64) * width + events.item
    train = train & ~np.isin(keys, keys[held])
    seen = events_matrix(events, train)
    known_users = (np.diff(seen.indptr) > 0).astype(np.float32)
    valid = sp.diags(known_users) @ events_matrix(events, held)
    valid.eliminate_zeros()
    return ValidationSplit(events, train, valid.tocsr().astype(np.float32), method)
