"""Train/test splits of events that never leak the future into training.

Every split returns a `Split`: training events numbered compactly (only the users and items they
hold, as a model trained on them would know), and the relevant test pairs as a binary matrix whose
rows are test users and whose columns are the training items followed by test items the training
part never saw. Test users and items unseen in training are counted in `info`, never silently
dropped: unseen items stay relevant (no model can find them, so they lower recall honestly); unseen
users cannot be scored by a model that never saw them and are reported with their pair count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa
import scipy.sparse as sp

from recsys.data.events import Events
from recsys.data.vocabulary import Vocabulary
from recsys.errors import ParameterError

RELEVANT = ("purchase",)


@dataclass
class Split:
    """`test[r, c]` = 1 when test user r (a row of `rows`) had a relevant event on item c (columns
    of `columns`: training items first). `history` (users split only) holds the held-out users'
    earlier events, items numbered as in `train`, rows aligned to `test`."""

    train: Events
    test: sp.csr_matrix
    rows: Vocabulary
    columns: Vocabulary
    info: dict[str, Any] = field(default_factory=dict)
    history: Events | None = None


def temporal_split(
    events: Events,
    test_fraction: float = 0.2,
    cutoff: int | None = None,
    relevant: tuple[str, ...] = RELEVANT,
) -> Split:
    """Events before one global cut-off time train; relevant events from it on test. The cut-off is
    `cutoff` (Unix seconds) or the time leaving the newest `test_fraction` of events to test."""
    if cutoff is None:
        if not 0 < test_fraction < 1:
            raise ParameterError("test_fraction", f"must be between 0 and 1, got {test_fraction}")
        cutoff = int(np.quantile(events.timestamp, 1 - test_fraction, method="higher"))
    before = events.timestamp < cutoff
    if not before.any() or before.all():
        raise ParameterError("cutoff", f"{iso(cutoff)} leaves no training or no test events")
    train = subset(events, before)
    test_mask = ~before & events.is_type(*relevant)
    split = held_out(train, events, test_mask, train.users)
    split.info = {"kind": "temporal", "cutoff": iso(cutoff), **summary(train), **split.info}
    return split


def leave_last_split(events: Events, n: int = 1, relevant: tuple[str, ...] = RELEVANT) -> Split:
    """Each user's last `n` relevant events test; only what the user did before them trains."""
    if n < 1:
        raise ParameterError("n", f"must be >= 1, got {n}")
    is_relevant = events.is_type(*relevant)
    cut = user_cutoffs(events, is_relevant, n)
    before = events.timestamp < cut[events.user]
    train = subset(events, before)
    split = held_out(train, events, ~before & is_relevant, train.users)
    dropped = int((~before & ~is_relevant).sum())
    split.info = {
        "kind": "leave-last",
        "n": n,
        **summary(train),
        **split.info,
        "dropped_after_cutoff": dropped,
    }
    return split


def user_split(
    events: Events,
    fraction: float = 0.1,
    n: int = 1,
    seed: int = 0,
    relevant: tuple[str, ...] = RELEVANT,
) -> Split:
    """Strong generalisation: a random `fraction` of users is held out of training entirely; at test
    time their events before their last `n` relevant ones are folded in (`Split.history`)."""
    if not 0 < fraction < 1:
        raise ParameterError("fraction", f"must be between 0 and 1, got {fraction}")
    is_relevant = events.is_type(*relevant)
    cut = user_cutoffs(events, is_relevant, n)
    before = events.timestamp < cut[events.user]
    eligible = np.flatnonzero(
        np.bincount(events.user[before], minlength=len(events.users)).astype(bool)
        & np.bincount(events.user[is_relevant], minlength=len(events.users)).astype(bool)
    )
    count = max(1, round(fraction * len(eligible)))
    if len(eligible) < 2:
        raise ParameterError("split", "too few users with earlier and relevant events to hold out")
    chosen = np.zeros(len(events.users), bool)
    chosen[np.random.default_rng(seed).choice(eligible, size=count, replace=False)] = True
    held = chosen[events.user]
    train = subset(events, ~held)
    history = subset(events, held & before, items=train.items)
    split = held_out(train, events, held & ~before & is_relevant, history.users)
    split.history = history
    split.info = {
        "kind": "users",
        "fraction": fraction,
        "n": n,
        "seed": seed,
        **summary(train),
        "held_out_users": count,
        "history_events": len(history),
        "history_events_unseen_items": history.skipped.get("items unseen in training", 0),
        **split.info,
    }
    return split


def given_test_split(
    train_events: Events, test_events: Events, relevant: tuple[str, ...] = RELEVANT
) -> Split:
    """A test file given with the data (as published datasets come); all of `train_events`
    trains."""
    train = subset(train_events, np.ones(len(train_events), bool))
    split = held_out(train, test_events, test_events.is_type(*relevant), train.users)
    split.info = {"kind": "given", **summary(train), **split.info}
    return split


def user_cutoffs(events: Events, is_relevant: np.ndarray, n: int) -> np.ndarray:
    """Per user number: the time of their n-th last relevant event (their first one if they have
    fewer; int64 max for users without any, so that all their events train)."""
    cut = np.full(len(events.users), np.iinfo(np.int64).max, np.int64)
    rows = np.flatnonzero(is_relevant)
    if len(rows) == 0:
        return cut
    order = rows[np.argsort(events.user[rows], kind="stable")]  # by user, then time
    users = events.user[order]
    ends = np.flatnonzero(np.r_[users[1:] != users[:-1], True])
    starts = np.r_[0, ends[:-1] + 1]
    picks = np.maximum(ends - n + 1, starts)
    cut[users[ends]] = events.timestamp[order[picks]]
    return cut


def subset(events: Events, mask: np.ndarray, items: Vocabulary | None = None) -> Events:
    """The events under `mask`, users numbered compactly; items numbered compactly too, or by
    `items` (events on items it lacks are left out and counted in `skipped`)."""
    user_numbers, user = np.unique(events.user[mask], return_inverse=True)
    skipped = events.skipped.copy()
    if items is None:
        item_numbers, item = np.unique(events.item[mask], return_inverse=True)
        items = Vocabulary(events.items.arrow.take(pa.array(item_numbers)))
        keep = np.ones(len(user), bool)
    else:
        item = items.encode(events.items.arrow)[events.item[mask]]
        keep = item >= 0
        if not keep.all():
            skipped["items unseen in training"] += int((~keep).sum())
    rows = np.flatnonzero(mask)[keep]
    return Events(
        users=Vocabulary(events.users.arrow.take(pa.array(user_numbers))),
        items=items,
        event_types=events.event_types,
        user=user[keep].astype(np.int32),
        item=item[keep].astype(np.int32),
        event=events.event[rows],
        timestamp=events.timestamp[rows],
        extra=events.extra.take(pa.array(rows)),
        skipped=skipped,
    )


def held_out(train: Events, source: Events, mask: np.ndarray, rows: Vocabulary) -> Split:
    """The relevant test pairs of `source[mask]` as a binary matrix over `rows` x (training items +
    unseen ones), with the counts of what training never saw."""
    user = rows.encode(source.users.arrow)[source.user[mask]]
    known_item = train.items.encode(source.items.arrow)[source.item[mask]]
    raw_item = source.item[mask]
    unseen_items, unseen_code = np.unique(raw_item[known_item < 0], return_inverse=True)
    item = known_item.copy()
    item[known_item < 0] = len(train.items) + unseen_code
    columns = Vocabulary(
        pa.concat_arrays([train.items.arrow, source.items.arrow.take(pa.array(unseen_items))])
    )
    known_user = user >= 0
    pairs = sp.csr_matrix(
        (np.ones(int(known_user.sum()), np.float32), (user[known_user], item[known_user])),
        shape=(len(rows), len(columns)),
    )
    pairs.sum_duplicates()
    pairs.data[:] = 1.0
    source_users = source.user[mask]
    info = {
        "test_events": int(mask.sum()),
        "test_users": len(np.unique(source_users)),
        "test_users_scored": int((np.diff(pairs.indptr) > 0).sum()),
        "test_users_unseen": len(np.unique(source_users[~known_user])),
        "test_pairs": int(pairs.nnz),
        "test_pairs_of_unseen_users": len(
            np.unique(
                source_users[~known_user].astype(np.int64) * len(source.items)
                + raw_item[~known_user]
            )
        ),
        "test_items": len(np.unique(raw_item)),
        "test_items_unseen": len(unseen_items),
        "test_pairs_of_unseen_items": int(pairs[:, len(train.items) :].nnz),
    }
    return Split(train, pairs, rows, columns, info)


def summary(train: Events) -> dict[str, Any]:
    return {
        "train_events": len(train),
        "train_users": len(train.users),
        "train_items": len(train.items),
        "train_until": iso(int(train.timestamp.max())) if len(train) else None,
    }


def iso(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="seconds")
