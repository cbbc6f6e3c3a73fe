"""Session simulation for the synthetic shop: views, carts, cross-sells and checkouts, vectorised.

Every step works on whole arrays of sessions or events; nothing loops per session or per event.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ._generator_parts import (
    DAY_MS,
    SPAN_END_MS,
    Catalogue,
    Sampler,
    Tree,
    Users,
    build_catalogue,
    build_tree,
    build_users,
)

VIEW, CART, PURCHASE = 0, 1, 2
EVENT_TYPES = ("view", "add_to_cart", "purchase")

MEAN_VIEWS = 5.5
MAX_VIEWS = 40
REPLENISH_SHARE = 0.12  # sessions that go straight for the user's staple consumable
EXPLORE_SHARE = 0.1  # sessions whose category ignores the user's taste
# what a session's later views show: the first item's leaf, a substitute of it, its top
# category, anything
VIEW_MODES = np.cumsum([0.40, 0.30, 0.20, 0.10])
CART_RATE = 0.075
STAPLE_CART_RATE = 0.75
CROSS_SELL_RATE = 0.45  # a carted item pulls in one of its complements
CHECKOUT_RATE = 0.5
STAPLE_CHECKOUT_RATE = 0.9
LINE_KEEP = 0.9  # carted lines that survive to checkout
# hour-of-day traffic profile (UTC), evenings busiest
HOURLY = np.cumsum(1.0 + np.sin((np.arange(24) - 14) / 24 * 2 * np.pi) ** 2 * 2
                   + (np.arange(24) >= 18) * 1.5)
HOURLY /= HOURLY[-1]
LAST_START_MS = SPAN_END_MS - 6 * 3_600_000


@dataclass(frozen=True)
class World:
    tree: Tree
    catalogue: Catalogue
    users: Users
    by_leaf: Sampler
    by_top: Sampler
    anywhere: Sampler
    leaf_in_top: Sampler
    top_overall: Sampler
    taste: Sampler
    user: Sampler

    @property
    def n_tops(self) -> int:
        return len(self.tree.tops)


def build_world(rng: np.random.Generator, n_users: int, n_items: int) -> World:
    tree = build_tree()
    cat = build_catalogue(rng, tree, n_items)
    users = build_users(rng, tree, cat, n_users)
    n_tops = len(tree.tops)
    item_top = tree.leaf_top[cat.leaf]
    leaf_weight = np.bincount(cat.leaf, cat.weight, len(tree.leaves))
    return World(
        tree=tree, catalogue=cat, users=users,
        by_leaf=Sampler(cat.leaf, cat.weight),
        by_top=Sampler(item_top, cat.weight),
        anywhere=Sampler(np.zeros(n_items, np.int64), cat.weight),
        leaf_in_top=Sampler(tree.leaf_top, leaf_weight),
        top_overall=Sampler(np.zeros(n_tops, np.int64), np.bincount(item_top, cat.weight, n_tops)),
        taste=Sampler(np.repeat(np.arange(n_users), n_tops), users.taste.ravel()),
        user=Sampler(np.zeros(n_users, np.int64), users.weight),
    )


@dataclass
class Sessions:
    user: np.ndarray
    start: np.ndarray
    leaf: np.ndarray
    anchor: np.ndarray  # the first item viewed
    replenish: np.ndarray
    n_views: np.ndarray


@dataclass
class Events:
    """Event rows in generation order; `session` numbers a batch's sessions from 0."""

    session: np.ndarray  # int32
    item: np.ndarray  # int32
    kind: np.ndarray  # int8: VIEW, CART or PURCHASE
    time: np.ndarray  # int64 Unix milliseconds
    quantity: np.ndarray  # int32

    @classmethod
    def of(cls, kind: int, session: np.ndarray, item: np.ndarray, time: np.ndarray,
           quantity: np.ndarray | None = None) -> Events:
        n = len(session)
        return cls(session.astype(np.int32), item.astype(np.int32), np.full(n, kind, np.int8),
                   time.astype(np.int64),
                   np.ones(n, np.int32) if quantity is None else quantity.astype(np.int32))

    @classmethod
    def concat(cls, parts: list[Events]) -> Events:
        return cls(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(cls)))

    def take(self, index: np.ndarray) -> Events:
        return Events(*(getattr(self, f.name)[index] for f in fields(self)))


def simulate(rng: np.random.Generator, world: World, n_sessions: int) -> tuple[Sessions, Events]:
    sessions = start_sessions(rng, world, n_sessions)
    seen = views(rng, world, sessions)
    carts, cross_views = carts_and_cross_sells(rng, world, sessions, seen)
    buys = checkout(rng, world, sessions, seen, carts)
    return sessions, Events.concat([seen, cross_views, carts, buys])


def start_sessions(rng: np.random.Generator, world: World, n: int) -> Sessions:
    zeros = np.zeros(n, np.int64)
    user = world.user.sample(zeros, rng.random(n))
    start = session_starts(rng, world.users.start_ms[user])
    explore = rng.random(n) < EXPLORE_SHARE
    top = np.where(explore, world.top_overall.sample(zeros, rng.random(n)),
                   world.taste.sample(user, rng.random(n)) % world.n_tops)
    leaf = world.leaf_in_top.sample(top, rng.random(n))
    anchor = released(rng, world, world.by_leaf.sample(leaf, rng.random(n)), start, leaf)
    staple = world.users.staple[user]
    replenish = (rng.random(n) < REPLENISH_SHARE) & (staple >= 0)
    anchor = np.where(replenish, staple, anchor)
    leaf = np.where(replenish, world.catalogue.leaf[np.maximum(staple, 0)], leaf)
    n_views = np.where(replenish, rng.geometric(0.6, n), rng.geometric(1 / MEAN_VIEWS, n))
    return Sessions(user=user, start=start, leaf=leaf, anchor=anchor, replenish=replenish,
                    n_views=np.minimum(n_views, MAX_VIEWS))


def session_starts(rng: np.random.Generator, user_start: np.ndarray) -> np.ndarray:
    """A uniform day in the user's time on the site, at an hour drawn from the daily profile."""
    moment = user_start + rng.random(len(user_start)) * (LAST_START_MS - user_start)
    hour = np.searchsorted(HOURLY, rng.random(len(user_start)), side="right")
    time_of_day = (hour + rng.random(len(user_start))) * 3_600_000
    start = (moment // DAY_MS) * DAY_MS + time_of_day
    return np.clip(start, user_start, LAST_START_MS).astype(np.int64)


def released(rng: np.random.Generator, world: World, item: np.ndarray, time: np.ndarray,
             leaf: np.ndarray) -> np.ndarray:
    """Items not on sale yet at `time` are redrawn from their leaf, at worst its evergreen item."""
    item = item.copy()
    release = world.catalogue.released_ms
    bad = np.flatnonzero(release[item] > time)
    for _ in range(4):
        if len(bad) == 0:
            return item
        item[bad] = world.by_leaf.sample(leaf[bad], rng.random(len(bad)))
        bad = bad[release[item[bad]] > time[bad]]
    item[bad] = world.catalogue.evergreen[leaf[bad]]
    return item


def views(rng: np.random.Generator, world: World, s: Sessions) -> Events:
    """Each session's views: its anchor first, then items related to it or to the user's taste."""
    session = np.repeat(np.arange(len(s.user)), s.n_views)
    first = np.concatenate(([0], np.cumsum(s.n_views)[:-1]))
    gaps = (2_000 + rng.exponential(40_000.0, len(session))).astype(np.int64)
    gaps[first] = 0
    elapsed = np.cumsum(gaps)
    time = s.start[session] + elapsed - np.repeat(elapsed[first], s.n_views)
    leaf = s.leaf[session]
    mode = np.searchsorted(VIEW_MODES, rng.random(len(session)), side="right")
    mode[first] = -1
    item = np.empty(len(session), np.int64)
    item[first] = s.anchor
    pick = np.flatnonzero(mode == 0)
    item[pick] = world.by_leaf.sample(leaf[pick], rng.random(len(pick)))
    pick = np.flatnonzero(mode == 1)
    item[pick] = substitute_of(rng, world, s.anchor[session[pick]], leaf[pick])
    pick = np.flatnonzero(mode == 2)
    item[pick] = world.by_top.sample(world.tree.leaf_top[leaf[pick]], rng.random(len(pick)))
    pick = np.flatnonzero(mode == 3)
    item[pick] = world.anywhere.sample(np.zeros(len(pick), np.int64), rng.random(len(pick)))
    return Events.of(VIEW, session, released(rng, world, item, time, leaf), time)


def substitute_of(rng: np.random.Generator, world: World, anchor: np.ndarray,
                  leaf: np.ndarray) -> np.ndarray:
    """A random substitute of each anchor; a popular item of the leaf when it has none."""
    table = world.catalogue.substitutes
    count = (table[anchor] >= 0).sum(axis=1)
    column = (rng.random(len(anchor)) * np.maximum(count, 1)).astype(np.int64)
    fallback = world.by_leaf.sample(leaf, rng.random(len(anchor)))
    return np.where(count > 0, table[anchor, column], fallback)


def carts_and_cross_sells(rng: np.random.Generator, world: World, s: Sessions,
                          seen: Events) -> tuple[Events, Events]:
    """Carted views, plus complements pulled in by them: the carts, and the complements' views."""
    first = np.r_[True, seen.session[1:] != seen.session[:-1]]
    rate = np.where(first & s.replenish[seen.session], STAPLE_CART_RATE, CART_RATE)
    carted = seen.take(np.flatnonzero(rng.random(len(seen.item)) < rate))
    carted.time += (3_000 + rng.exponential(20_000.0, len(carted.time))).astype(np.int64)
    table = world.catalogue.complements
    count = (table[carted.item] >= 0).sum(axis=1)
    spawn = np.flatnonzero((rng.random(len(count)) < CROSS_SELL_RATE) & (count > 0))
    column = (rng.random(len(spawn)) * count[spawn]).astype(np.int64)
    item = table[carted.item[spawn], column]
    view_at = carted.time[spawn] + (2_000 + rng.exponential(15_000.0, len(spawn))).astype(np.int64)
    cart_at = view_at + (3_000 + rng.exponential(15_000.0, len(spawn))).astype(np.int64)
    ok = world.catalogue.released_ms[item] <= view_at
    session = carted.session[spawn][ok]
    carts = Events.concat([Events.of(CART, carted.session, carted.item, carted.time),
                           Events.of(CART, session, item[ok], cart_at[ok])])
    return carts, Events.of(VIEW, session, item[ok], view_at[ok])


def checkout(rng: np.random.Generator, world: World, s: Sessions, seen: Events,
             carts: Events) -> Events:
    """Purchase lines: one order per converting session, at one moment after its last event."""
    end = seen.time[np.cumsum(s.n_views) - 1]
    np.maximum.at(end, carts.session, carts.time)
    converts = rng.random(len(end)) < np.where(s.replenish, STAPLE_CHECKOUT_RATE, CHECKOUT_RATE)
    at = end + (20_000 + rng.exponential(60_000.0, len(end))).astype(np.int64)
    # one line per leaf (a shopper compares phones but buys one), except for consumables
    cat, tree = world.catalogue, world.tree
    leaf = cat.leaf[carts.item]
    choice = np.where(tree.consumable[leaf], len(tree.leaves) + carts.item, leaf)
    key = carts.session.astype(np.int64) * (len(tree.leaves) + len(cat.leaf)) + choice
    _, line = np.unique(key, return_index=True)
    line = np.sort(line[converts[carts.session[line]] & (rng.random(len(line)) < LINE_KEEP)])
    quantity = np.where(tree.consumable[leaf[line]],
                        np.minimum(rng.geometric(0.6, len(line)), 6),
                        1 + (rng.random(len(line)) < 0.06))
    session = carts.session[line]
    return Events.of(PURCHASE, session, carts.item[line], at[session], quantity)
