"""A realistic synthetic shop: events, catalogue, and the ground truth a recommender should find.

The shop has a category tree (12 top categories, 60 leaves), Zipf-popular items, users with
tastes over top categories, users and items arriving over 180 days that end on 2026-11-01 UTC,
browsing sessions with a view -> add_to_cart -> purchase funnel, cross-sold complements,
compared-but-not-co-bought substitutes, and consumables that the same users buy again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from ._generator_parts import fixed_width_ids, id_width
from ._generator_sessions import EVENT_TYPES, PURCHASE, Events, World, build_world, simulate

Progress = Callable[[str], None]
Summary = dict[str, int | float | str]
EVENTS_PER_SESSION_GUESS = 5.85
BATCH_MARGIN = 1.02


@dataclass(frozen=True)
class Shop:
    """A generated shop in memory. `events` holds dictionary-encoded and large strings (the file
    reads back as plain strings); `catalogue` also has `released_at`, which the CSV leaves out."""

    events: pa.Table
    catalogue: pa.Table
    complements: pa.Table
    substitutes: pa.Table
    summary: Summary


def generate_shop(out: Path, users: int = 10_000, items: int = 2_000, events: int = 500_000,
                  seed: int = 0, *, progress: Progress | None = None) -> Summary:
    """Writes a synthetic shop to `out` and returns its summary (counts and time span).

    Files: events.parquet (user_id, item_id, event_type, timestamp, session_id, quantity, price,
    order_id; sorted by timestamp), catalogue.csv (item_id, title, category, price, in_stock),
    complements.csv (item_id, complement_id) and substitutes.csv (item_id, substitute_id). Each
    file is written under a temporary name in `out` and then renamed into place.

    Exactly `events` events are written: whole sessions are simulated until the target is passed
    and the last session is cut short. The same arguments give the same content.
    """
    shop = build_shop(users, items, events, seed, progress=progress)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _say(progress, f"writing {out / 'events.parquet'}")
    with _atomic(out / "events.parquet") as tmp:
        pq.write_table(shop.events, tmp, store_schema=False,
                       use_dictionary=["user_id", "item_id", "event_type"])
    columns = ["item_id", "title", "category", "price", "in_stock"]
    for name, table in (("catalogue.csv", shop.catalogue.select(columns)),
                        ("complements.csv", shop.complements),
                        ("substitutes.csv", shop.substitutes)):
        with _atomic(out / name) as tmp:
            pcsv.write_csv(table, tmp, pcsv.WriteOptions(quoting_style="none"))
    return shop.summary


def build_shop(users: int = 10_000, items: int = 2_000, events: int = 500_000, seed: int = 0, *,
               progress: Progress | None = None) -> Shop:
    """The shop of `generate_shop`, in memory."""
    for name, value in (("users", users), ("items", items), ("events", events)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    rng = np.random.default_rng(seed)
    _say(progress, "building catalogue and users")
    world = build_world(rng, users, items)
    _say(progress, f"simulating sessions for {events:,} events")
    user, ev = _simulate_exactly(rng, world, events)
    _say(progress, "assembling tables")
    return Shop(events=_events_table(world, user, ev), catalogue=_catalogue_table(world),
                complements=_pairs(world.catalogue.complements, items, "complement_id"),
                substitutes=_pairs(world.catalogue.substitutes, items, "substitute_id"),
                summary=_summary(ev, user, users, items))


def _simulate_exactly(rng: np.random.Generator, world: World,
                      target: int) -> tuple[np.ndarray, Events]:
    """Exactly `target` events, sorted by time, with their users; sessions numbered by start."""
    user, start, ev = _simulate_at_least(rng, world, target)
    # Sessions are independent draws, so keeping those before the one that passes the target
    # (and that one's earliest events) is an unbiased sample.
    per_session = np.cumsum(np.bincount(ev.session))
    last = int(np.searchsorted(per_session, target))
    room = target - (int(per_session[last - 1]) if last else 0)
    in_last = np.flatnonzero(ev.session == last)
    keep = ev.session < last
    keep[in_last[np.lexsort((ev.kind[in_last], ev.time[in_last]))][:room]] = True
    kept = np.flatnonzero(keep)
    ev = ev.take(kept[np.argsort(ev.time[kept], kind="stable")])
    rank = np.empty(last + 1, np.int32)
    rank[np.argsort(start[: last + 1], kind="stable")] = np.arange(last + 1)
    ev_user = user[ev.session]
    ev.session = rank[ev.session]
    return ev_user, ev


def _simulate_at_least(rng: np.random.Generator, world: World,
                       target: int) -> tuple[np.ndarray, np.ndarray, Events]:
    """Batches of sessions until there are `target` events: each session's user and start, and
    the events (sessions numbered across batches)."""
    users, starts, batches, total, rate = [], [], [], 0, EVENTS_PER_SESSION_GUESS
    while total < target:
        wanted = int(np.ceil((target - total) / rate * BATCH_MARGIN)) + 8
        sessions, ev = simulate(rng, world, wanted)
        ev.session += sum(len(u) for u in users)
        users.append(sessions.user)
        starts.append(sessions.start)
        batches.append(ev)
        total += len(ev.time)
        rate = total / sum(len(u) for u in users)
    return np.concatenate(users), np.concatenate(starts), Events.concat(batches)


def _events_table(world: World, user: np.ndarray, ev: Events) -> pa.Table:
    n_users, n_items = len(world.users.start_ms), len(world.catalogue.leaf)
    purchase = ev.kind == PURCHASE
    sessions_bought = ev.session[purchase]
    _, first_line = np.unique(sessions_bought, return_index=True)
    order_number = np.zeros(int(ev.session.max()) + 1, np.int64)
    order_number[sessions_bought[np.sort(first_line)]] = np.arange(len(first_line))
    n_sessions = int(ev.session.max()) + 1
    return pa.table({
        "user_id": pa.DictionaryArray.from_arrays(
            pa.array(user.astype(np.int32)), fixed_width_ids("u", np.arange(n_users),
                                                             id_width(n_users, 6))),
        "item_id": pa.DictionaryArray.from_arrays(
            pa.array(ev.item), fixed_width_ids("i", np.arange(n_items), id_width(n_items, 5))),
        "event_type": pa.DictionaryArray.from_arrays(pa.array(ev.kind),
                                                     pa.array(EVENT_TYPES, pa.large_string())),
        "timestamp": pa.array(ev.time, pa.timestamp("ms", tz="UTC")),
        "session_id": fixed_width_ids("s", ev.session, id_width(n_sessions, 7)),
        "quantity": pa.array(ev.quantity, pa.int32()),
        "price": pa.array(world.catalogue.price[ev.item], pa.float64()),
        "order_id": fixed_width_ids("o", order_number[ev.session],
                                    id_width(len(first_line), 7), valid=purchase),
    })


def _catalogue_table(world: World) -> pa.Table:
    tree = world.tree
    cat = world.catalogue
    n_items = len(cat.leaf)
    order = np.argsort(cat.leaf, kind="stable")
    ordinal = np.empty(n_items, np.int64)
    ordinal[order] = np.arange(n_items) - np.searchsorted(cat.leaf[order], cat.leaf[order])
    labels = [leaf.split("/")[1].replace("_", " ").capitalize() for leaf in tree.leaves]
    titles = [f"{labels[leaf]} item {k + 1}" for leaf, k in zip(cat.leaf.tolist(),
                                                               ordinal.tolist(), strict=True)]
    return pa.table({
        "item_id": fixed_width_ids("i", np.arange(n_items), id_width(n_items, 5)).cast(pa.string()),
        "title": pa.array(titles, pa.string()),
        "category": pa.array(np.array(tree.leaves, dtype=object)[cat.leaf], pa.string()),
        "price": pa.array(cat.price, pa.float64()),
        "in_stock": pa.array(cat.in_stock, pa.bool_()),
        "released_at": pa.array(cat.released_ms, pa.timestamp("ms", tz="UTC")),
    })


def _pairs(table: np.ndarray, n_items: int, other: str) -> pa.Table:
    """(item, partner) rows from a -1 padded partner table, in item order."""
    item, column = np.nonzero(table >= 0)
    ids = fixed_width_ids("i", np.arange(n_items), id_width(n_items, 5)).cast(pa.string())
    return pa.table({"item_id": ids.take(pa.array(item)),
                     other: ids.take(pa.array(table[item, column]))})


def _summary(ev: Events, user: np.ndarray, n_users: int, n_items: int) -> Summary:
    counts = np.bincount(ev.kind, minlength=len(EVENT_TYPES))
    first, last = (datetime.fromtimestamp(int(t) / 1000, UTC) for t in (ev.time[0], ev.time[-1]))
    return {
        "users": n_users,
        "active_users": int(np.count_nonzero(np.bincount(user, minlength=n_users))),
        "items": n_items,
        "sessions": int(ev.session.max()) + 1,
        "events": len(ev.time),
        **{name: int(c) for name, c in zip(EVENT_TYPES, counts, strict=True)},
        "orders": int(np.count_nonzero(np.bincount(ev.session[ev.kind == PURCHASE]))),
        "first_event": first.isoformat(),
        "last_event": last.isoformat(),
        "days": round((last - first).total_seconds() / 86_400, 1),
    }


@contextmanager
def _atomic(final: Path) -> Iterator[Path]:
    """A temporary path beside `final` that replaces it on success and is removed on failure."""
    tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)
