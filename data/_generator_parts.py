"""The synthetic shop's world: category tree, catalogue, users, and samplers to draw from them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa

DAY_MS = 86_400_000
SPAN_END_MS = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp() * 1000)
SPAN_START_MS = SPAN_END_MS - 180 * DAY_MS

# top category -> leaf -> median price
TAXONOMY: dict[str, dict[str, float]] = {
    "electronics": {"phones": 450, "phone_cases": 15, "chargers": 20, "headphones": 80,
                    "laptops": 900, "laptop_bags": 40, "mice": 25, "cameras": 550,
                    "memory_cards": 18},
    "home": {"coffee_machines": 180, "cookware": 45, "bedding": 60, "lighting": 35, "storage": 20},
    "grocery": {"coffee": 9, "tea": 5, "snacks": 3, "pasta": 2, "sauces": 3},
    "beauty": {"shampoo": 7, "skincare": 22, "makeup": 15, "fragrance": 55},
    "fashion": {"shoes": 70, "socks": 8, "jackets": 110, "t_shirts": 18, "handbags": 60},
    "sports": {"running_shoes": 95, "yoga_mats": 30, "fitness_trackers": 120,
               "water_bottles": 14, "bikes": 600, "bike_helmets": 55},
    "toys": {"building_sets": 40, "puzzles": 15, "dolls": 25, "board_games": 30},
    "books": {"fiction": 12, "cookbooks": 22, "children": 9, "comics": 11},
    "pets": {"dog_food": 35, "cat_food": 25, "pet_toys": 10, "cat_litter": 15},
    "baby": {"diapers": 20, "wipes": 4, "strollers": 350, "baby_bottles": 12},
    "office": {"printers": 150, "ink": 30, "paper": 8, "pens": 5, "notebooks": 7},
    "garden": {"lawn_mowers": 280, "seeds": 3, "fertiliser": 12, "garden_tools": 25,
               "planters": 18},
}
CONSUMABLES = frozenset({"coffee", "tea", "snacks", "pasta", "sauces", "shampoo", "skincare",
                         "dog_food", "cat_food", "cat_litter", "diapers", "wipes", "ink", "paper",
                         "fertiliser"})
COMPLEMENT_LEAVES: dict[str, tuple[str, ...]] = {
    "phones": ("phone_cases", "chargers", "headphones"),
    "laptops": ("laptop_bags", "mice", "chargers"),
    "cameras": ("memory_cards",),
    "coffee_machines": ("coffee",),
    "cookware": ("cookbooks",),
    "pasta": ("sauces",),
    "shoes": ("socks",),
    "jackets": ("t_shirts",),
    "running_shoes": ("socks", "fitness_trackers", "water_bottles"),
    "bikes": ("bike_helmets", "water_bottles"),
    "yoga_mats": ("water_bottles",),
    "dog_food": ("pet_toys",),
    "cat_food": ("cat_litter",),
    "diapers": ("wipes",),
    "strollers": ("baby_bottles",),
    "printers": ("ink", "paper"),
    "notebooks": ("pens",),
    "lawn_mowers": ("garden_tools",),
    "seeds": ("fertiliser", "planters"),
}
ZIPF_EXPONENT = 1.1
NEW_ITEM_SHARE = 0.3  # items released during the span; the rest were on sale before it
NEW_USER_SHARE = 0.45  # users who sign up during the span
COMPLEMENTS_PER_ITEM = 2
SUBSTITUTE_OFFSETS = (-1, 1, -2, 2)  # neighbours by price within the leaf, nearest first
FOUR_DIGITS = (48 + np.arange(10_000)[:, None] // np.array([1000, 100, 10, 1]) % 10).astype(
    np.uint8)


class Sampler:
    """Draws, for each requested group, one member with probability proportional to its weight.

    Members are sorted by group and each group's cumulative weights are scaled into
    [group, group + 1), so a single searchsorted serves every group at once.
    """

    def __init__(self, group: np.ndarray, weight: np.ndarray) -> None:
        keep = np.flatnonzero(weight > 0)
        order = keep[np.argsort(group[keep], kind="stable")]
        groups = np.asarray(group[order], dtype=np.int64)
        cum = np.cumsum(weight[order])
        firsts = np.flatnonzero(np.r_[True, groups[1:] != groups[:-1]])
        lasts = np.r_[firsts[1:] - 1, len(groups) - 1]
        sizes = lasts - firsts + 1
        base = np.repeat(cum[firsts] - weight[order][firsts], sizes)
        total = np.repeat(cum[lasts], sizes) - base
        within = np.clip((cum - base) / total, 0.0, 1.0)
        within[lasts] = 1.0
        self.members = order
        self.keys = groups + within

    def sample(self, groups: np.ndarray, uniform: np.ndarray) -> np.ndarray:
        """One member per entry of `groups` (each must have a member), given uniforms in [0, 1)."""
        queries = groups + uniform
        if len(self.keys) > 1 << 16:  # sorted queries keep a big table's binary searches in cache
            order = np.argsort(queries)
            position = np.empty(len(queries), np.int64)
            position[order] = np.searchsorted(self.keys, queries[order], side="right")
        else:
            position = np.searchsorted(self.keys, queries, side="right")
        return self.members[np.minimum(position, len(self.members) - 1)]


@dataclass(frozen=True)
class Tree:
    """The category tree; leaves are numbered top by top."""

    tops: tuple[str, ...]
    leaves: tuple[str, ...]  # "electronics/phones"
    leaf_top: np.ndarray
    leaf_price: np.ndarray
    consumable: np.ndarray  # per leaf
    complement_leaves: np.ndarray  # (leaves, 3), -1 padded


def build_tree() -> Tree:
    tops = tuple(TAXONOMY)
    pairs = [(top, leaf) for top in tops for leaf in TAXONOMY[top]]
    number = {leaf: i for i, (_, leaf) in enumerate(pairs)}
    width = max(len(v) for v in COMPLEMENT_LEAVES.values())
    complements = np.full((len(pairs), width), -1, dtype=np.int64)
    for leaf, targets in COMPLEMENT_LEAVES.items():
        complements[number[leaf], : len(targets)] = [number[t] for t in targets]
    return Tree(
        tops=tops,
        leaves=tuple(f"{top}/{leaf}" for top, leaf in pairs),
        leaf_top=np.array([tops.index(top) for top, _ in pairs], dtype=np.int64),
        leaf_price=np.array([TAXONOMY[top][leaf] for top, leaf in pairs], dtype=np.float64),
        consumable=np.array([leaf in CONSUMABLES for _, leaf in pairs]),
        complement_leaves=complements,
    )


@dataclass(frozen=True)
class Catalogue:
    leaf: np.ndarray
    price: np.ndarray
    in_stock: np.ndarray
    released_ms: np.ndarray
    weight: np.ndarray  # popularity: leaf share times a Zipf weight within the leaf
    evergreen: np.ndarray  # per leaf, its most popular item (on sale before the span); -1 if none
    complements: np.ndarray  # (items, COMPLEMENTS_PER_ITEM), -1 padded
    substitutes: np.ndarray  # (items, len(SUBSTITUTE_OFFSETS)), -1 padded


def build_catalogue(rng: np.random.Generator, tree: Tree, n_items: int) -> Catalogue:
    n_leaves = len(tree.leaves)
    size = rng.gamma(3.0, size=n_leaves)
    covered = min(n_items, n_leaves)
    leaf = np.concatenate([rng.permutation(n_leaves)[:covered],
                           rng.choice(n_leaves, n_items - covered, p=size / size.sum())])
    leaf = rng.permutation(leaf)
    rank = _ranks_within(rng, leaf)
    zipf = (rank + 1.0) ** -ZIPF_EXPONENT
    leaf_share = size * rng.gamma(2.0, size=n_leaves)
    weight = leaf_share[leaf] * zipf / np.bincount(leaf, zipf, n_leaves)[leaf]
    price = tree.leaf_price[leaf] * rng.lognormal(0.0, 0.35, n_items)
    price = np.where(price > 5, np.floor(price) + 0.99, np.round(price, 2))
    new = (rng.random(n_items) < NEW_ITEM_SHARE) & (rank > 0)
    released = np.where(
        new,
        SPAN_START_MS + rng.random(n_items) * (SPAN_END_MS - SPAN_START_MS - 14 * DAY_MS),
        SPAN_START_MS - rng.random(n_items) * 730 * DAY_MS,
    ).astype(np.int64)
    evergreen = np.full(n_leaves, -1, dtype=np.int64)
    evergreen[leaf[rank == 0]] = np.flatnonzero(rank == 0)
    return Catalogue(
        leaf=leaf, price=price, in_stock=rng.random(n_items) < 0.9, released_ms=released,
        weight=weight, evergreen=evergreen,
        complements=_complements(rng, tree, leaf, weight),
        substitutes=_substitutes(leaf, price),
    )


def _ranks_within(rng: np.random.Generator, group: np.ndarray) -> np.ndarray:
    """A random 0-based rank of each member within its group."""
    order = np.lexsort((rng.random(len(group)), group))
    starts = np.searchsorted(group[order], group[order], side="left")
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - starts
    return rank


def _complements(rng: np.random.Generator, tree: Tree, leaf: np.ndarray,
                 weight: np.ndarray) -> np.ndarray:
    """Per item, up to COMPLEMENTS_PER_ITEM popular items from its leaf's complement leaves."""
    n_items = len(leaf)
    stocked = np.bincount(leaf, minlength=len(tree.leaves)) > 0
    targets = np.where(tree.complement_leaves >= 0, tree.complement_leaves, 0)
    usable = (tree.complement_leaves >= 0) & stocked[targets]
    targets = np.take_along_axis(targets, np.argsort(~usable, axis=1, kind="stable"), axis=1)
    n_targets = usable.sum(axis=1)[leaf]
    by_leaf = Sampler(leaf, weight)
    out = np.full((n_items, COMPLEMENTS_PER_ITEM), -1, dtype=np.int64)
    has = np.flatnonzero(n_targets > 0)
    for k in range(COMPLEMENTS_PER_ITEM):
        column = (rng.random(len(has)) * n_targets[has]).astype(np.int64)
        out[has, k] = by_leaf.sample(targets[leaf[has], column], rng.random(len(has)))
    duplicate = out[:, 1:] == out[:, :1]
    out[:, 1:][duplicate] = -1
    return out


def _substitutes(leaf: np.ndarray, price: np.ndarray) -> np.ndarray:
    """Per item, its nearest neighbours by price in the same leaf (symmetric by construction)."""
    order = np.lexsort((price, leaf))
    position = np.empty(len(leaf), dtype=np.int64)
    position[order] = np.arange(len(leaf))
    out = np.full((len(leaf), len(SUBSTITUTE_OFFSETS)), -1, dtype=np.int64)
    for k, offset in enumerate(SUBSTITUTE_OFFSETS):
        other = position + offset
        inside = (other >= 0) & (other < len(leaf))
        neighbour = order[np.clip(other, 0, len(leaf) - 1)]
        out[:, k] = np.where(inside & (leaf[neighbour] == leaf), neighbour, -1)
    return np.take_along_axis(out, np.argsort(out < 0, axis=1, kind="stable"), axis=1)


@dataclass(frozen=True)
class Users:
    start_ms: np.ndarray
    weight: np.ndarray  # share of sessions: activity times time on the site
    taste: np.ndarray  # (users, tops): preference over top categories, empty tops zeroed
    staple: np.ndarray  # a consumable the user keeps re-buying (-1 if the shop has none)


def build_users(rng: np.random.Generator, tree: Tree, catalogue: Catalogue,
                n_users: int) -> Users:
    n_tops = len(tree.tops)
    new = rng.random(n_users) < NEW_USER_SHARE
    start = np.where(new, SPAN_START_MS + rng.random(n_users) * (SPAN_END_MS - SPAN_START_MS
                                                                 - 7 * DAY_MS), SPAN_START_MS)
    start = start.astype(np.int64)
    activity = rng.lognormal(0.0, 1.0, n_users)
    top_weight = np.bincount(tree.leaf_top[catalogue.leaf], catalogue.weight, n_tops)
    stocked = top_weight > 0
    alpha = 3.0 * np.maximum(top_weight, 1e-12) / top_weight.sum()
    taste = (rng.dirichlet(alpha, n_users) + 1e-9) * stocked
    taste /= taste.sum(axis=1, keepdims=True)
    return Users(start_ms=start, weight=activity * (SPAN_END_MS - start), taste=taste,
                 staple=_staples(rng, tree, catalogue, taste))


def _staples(rng: np.random.Generator, tree: Tree, catalogue: Catalogue,
             taste: np.ndarray) -> np.ndarray:
    """Per user a consumable, from a top category they like, on sale before the span."""
    n_users, n_tops = taste.shape
    top = tree.leaf_top[catalogue.leaf]
    eligible = tree.consumable[catalogue.leaf] & (catalogue.released_ms <= SPAN_START_MS)
    if not eligible.any():
        return np.full(n_users, -1, dtype=np.int64)
    has_top = np.bincount(top[eligible], minlength=n_tops) > 0
    by_top = Sampler(top, np.where(eligible, catalogue.weight, 0.0))
    chosen = Sampler(np.repeat(np.arange(n_users), n_tops), (taste * has_top).ravel())
    user_top = chosen.sample(np.arange(n_users), rng.random(n_users)) % n_tops
    return by_top.sample(user_top, rng.random(n_users))


def fixed_width_ids(prefix: str, numbers: np.ndarray, width: int,
                    valid: np.ndarray | None = None) -> pa.Array:
    """Ids like 'u000123' built straight into Arrow buffers (no Python strings); null where not
    `valid`."""
    numbers = np.asarray(numbers, dtype=np.int64)
    kept = numbers if valid is None else numbers[valid]
    size = len(prefix) + width
    chars = np.empty((len(kept), size), dtype=np.uint8)
    chars[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    rest, column = kept, size
    while column > len(prefix):  # four digits per step, from the right
        step = min(4, column - len(prefix))
        rest, chunk = np.divmod(rest, 10_000)
        chars[:, column - step : column] = FOUR_DIGITS[chunk, 4 - step :]
        column -= step
    lengths = np.full(len(numbers), size) if valid is None else np.where(valid, size, 0)
    offsets = np.concatenate(([0], np.cumsum(lengths, dtype=np.int64)))
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    nulls = 0 if valid is None else len(numbers) - len(kept)
    return pa.Array.from_buffers(pa.large_string(), len(numbers),
                                 [bitmap, pa.py_buffer(offsets), pa.py_buffer(chars)],
                                 null_count=nulls)


def id_width(count: int, minimum: int) -> int:
    return max(minimum, len(str(max(count - 1, 0))))
