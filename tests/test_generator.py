"""The synthetic shop generator: file format, determinism, and the structure models should find."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from recsys_data._generator_parts import CONSUMABLES, DAY_MS, SPAN_END_MS, SPAN_START_MS
from recsys_data.generator import build_shop, generate_shop

USERS, ITEMS, EVENTS, SEED = 500, 200, 20_000, 0
EVENT_SCHEMA = pa.schema([
    ("user_id", pa.string()), ("item_id", pa.string()), ("event_type", pa.string()),
    ("timestamp", pa.timestamp("ms", tz="UTC")), ("session_id", pa.string()),
    ("quantity", pa.int32()), ("price", pa.float64()), ("order_id", pa.string()),
])


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated") / "shop"  # not there yet: generate_shop makes it
    generate_shop(out, users=USERS, items=ITEMS, events=EVENTS, seed=SEED)
    return out


@pytest.fixture(scope="module")
def events(folder: Path) -> pa.Table:
    return pq.read_table(folder / "events.parquet")


@pytest.fixture(scope="module")
def catalogue(folder: Path) -> pa.Table:
    return pcsv.read_csv(folder / "catalogue.csv")


def codes(column: pa.ChunkedArray, vocabulary: pa.Array | None = None) -> np.ndarray:
    """Dense numbers for a string column (in `vocabulary` order when given)."""
    if vocabulary is not None:
        return pc.index_in(column, value_set=vocabulary).to_numpy()
    return column.combine_chunks().dictionary_encode().indices.to_numpy()


def kinds(events: pa.Table) -> np.ndarray:
    return events.column("event_type").to_numpy(zero_copy_only=False)


def co_occurrence(groups: np.ndarray, items: np.ndarray, n_items: int) -> np.ndarray:
    """items x items: in how many groups (orders, sessions) both items occur."""
    member = np.zeros((int(groups.max()) + 1, n_items), dtype=np.int64)
    member[groups, items] = 1
    return member.T @ member


def test_writes_the_files_with_exact_columns(folder: Path, events: pa.Table,
                                             catalogue: pa.Table) -> None:
    assert sorted(p.name for p in folder.iterdir()) == [
        "catalogue.csv", "complements.csv", "events.parquet", "substitutes.csv"]  # no temp files
    assert events.schema.equals(EVENT_SCHEMA), events.schema
    assert events.num_rows == EVENTS
    assert catalogue.column_names == ["item_id", "title", "category", "price", "in_stock"]
    assert catalogue.schema.field("in_stock").type == pa.bool_()
    assert pcsv.read_csv(folder / "complements.csv").column_names == ["item_id", "complement_id"]
    assert pcsv.read_csv(folder / "substitutes.csv").column_names == ["item_id", "substitute_id"]
    times = events.column("timestamp").cast(pa.int64()).to_numpy()
    assert np.all(np.diff(times) >= 0)
    assert times[0] >= SPAN_START_MS and times[-1] <= SPAN_END_MS
    assert (times[-1] - times[0]) > 170 * DAY_MS


def test_ids_categories_and_prices_look_right(folder: Path, events: pa.Table,
                                              catalogue: pa.Table) -> None:
    users = pc.unique(events.column("user_id")).to_pylist()
    assert all(re.fullmatch(r"u\d{6}", u) for u in users)
    item_ids = catalogue.column("item_id").combine_chunks()
    assert len(item_ids) == ITEMS and all(re.fullmatch(r"i\d{5}", i) for i in item_ids.to_pylist())
    assert pc.all(pc.is_in(events.column("item_id"), value_set=item_ids)).as_py()
    for name, other in (("complements.csv", "complement_id"), ("substitutes.csv", "substitute_id")):
        pairs = pcsv.read_csv(folder / name)
        assert pairs.num_rows > 0
        assert pc.all(pc.is_in(pairs.column(other), value_set=item_ids)).as_py()
    categories = catalogue.column("category").to_pylist()
    assert all(re.fullmatch(r"[a-z]+/[a-z_]+", c) for c in categories)
    assert 8 <= len({c.split("/")[0] for c in categories}) <= 15
    assert re.fullmatch(r"[A-Z][a-z ]+ item \d+", catalogue.column("title")[0].as_py())
    assert pc.min(catalogue.column("price")).as_py() > 0
    assert 0.8 < np.mean(catalogue.column("in_stock").to_numpy(zero_copy_only=False)) < 0.97
    by_item = dict(zip(item_ids.to_pylist(), catalogue.column("price").to_pylist(), strict=True))
    sample = events.slice(0, 50)
    assert sample.column("price").to_pylist() == [by_item[i] for i in
                                                   sample.column("item_id").to_pylist()]


def test_same_seed_same_content_other_seed_other_content(tmp_path: Path, folder: Path,
                                                         events: pa.Table) -> None:
    generate_shop(tmp_path / "again", users=USERS, items=ITEMS, events=EVENTS, seed=SEED)
    assert pq.read_table(tmp_path / "again" / "events.parquet").equals(events)
    for name in ("catalogue.csv", "complements.csv", "substitutes.csv"):
        assert (tmp_path / "again" / name).read_bytes() == (folder / name).read_bytes()
    generate_shop(tmp_path / "other", users=USERS, items=ITEMS, events=EVENTS, seed=SEED + 1)
    assert not pq.read_table(tmp_path / "other" / "events.parquet").equals(events)


@pytest.mark.parametrize("n_events", [1, 37, 4_321])
def test_event_count_is_exact(tmp_path: Path, n_events: int) -> None:
    messages: list[str] = []
    summary = generate_shop(tmp_path, users=40, items=70, events=n_events, seed=5,
                            progress=messages.append)
    assert pq.read_metadata(tmp_path / "events.parquet").num_rows == n_events
    assert summary["events"] == n_events
    assert sum(summary[k] for k in ("view", "add_to_cart", "purchase")) == n_events
    assert messages


def test_rewrites_an_existing_shop(tmp_path: Path) -> None:
    generate_shop(tmp_path, users=30, items=30, events=500, seed=1)
    generate_shop(tmp_path, users=30, items=30, events=800, seed=1)
    assert pq.read_metadata(tmp_path / "events.parquet").num_rows == 800
    assert len(list(tmp_path.iterdir())) == 4


@pytest.mark.parametrize("argument", ["users", "items", "events"])
def test_rejects_empty_shops(tmp_path: Path, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        generate_shop(tmp_path, **{argument: 0})


def test_funnel_proportions_are_plausible(events: pa.Table) -> None:
    kind = kinds(events)
    views, carts, buys = ((kind == k).sum() for k in ("view", "add_to_cart", "purchase"))
    assert 0.82 < views / len(kind) < 0.92
    assert 0.06 < carts / views < 0.14
    assert 0.3 < buys / carts < 0.6


def test_orders_group_purchase_lines(events: pa.Table) -> None:
    buy = kinds(events) == "purchase"
    order = events.column("order_id")
    assert pc.all(pc.is_valid(order.filter(pa.array(buy)))).as_py()
    assert order.filter(pa.array(~buy)).null_count == (~buy).sum()
    lines = events.filter(pa.array(buy))
    number = codes(lines.column("order_id"))
    for column in ("user_id", "session_id", "timestamp"):
        per_order = np.unique(np.stack([number, codes(lines.column(column))]), axis=1)
        assert per_order.shape[1] == number.max() + 1, f"an order spans several {column}"
    assert (np.bincount(number) > 1).mean() > 0.08
    assert pc.min(lines.column("quantity")).as_py() >= 1
    assert pc.max(lines.column("quantity")).as_py() > 1


def test_complements_are_bought_together_substitutes_only_viewed_together(
        folder: Path, events: pa.Table, catalogue: pa.Table) -> None:
    item_ids = catalogue.column("item_id").combine_chunks()
    item = codes(events.column("item_id"), item_ids)
    kind = kinds(events)
    buy, view = kind == "purchase", kind == "view"
    in_orders = co_occurrence(codes(events.column("order_id").filter(pa.array(buy))), item[buy],
                              ITEMS)
    in_sessions = co_occurrence(codes(events.column("session_id").filter(pa.array(view))),
                                item[view], ITEMS)
    rates = {}
    for name, other in (("complements.csv", "complement_id"), ("substitutes.csv", "substitute_id")):
        pairs = pcsv.read_csv(folder / name)
        a, b = codes(pairs.column("item_id"), item_ids), codes(pairs.column(other), item_ids)
        rates[name] = (in_orders[a, b].mean(), in_sessions[a, b].mean())
    complement_orders, _ = rates["complements.csv"]
    substitute_orders, substitute_views = rates["substitutes.csv"]
    assert complement_orders > 5 * substitute_orders
    assert substitute_views > 50 * substitute_orders


def test_popularity_is_heavy_tailed(events: pa.Table, catalogue: pa.Table) -> None:
    view = kinds(events) == "view"
    item = codes(events.column("item_id"), catalogue.column("item_id").combine_chunks())[view]
    counts = np.sort(np.bincount(item, minlength=ITEMS))[::-1]
    assert counts[: ITEMS // 10].sum() > 0.3 * counts.sum()


def test_items_are_never_seen_before_release() -> None:
    shop = build_shop(USERS, ITEMS, EVENTS, SEED)
    released = shop.catalogue.column("released_at").cast(pa.int64()).to_numpy()
    item_ids = shop.catalogue.column("item_id").combine_chunks()
    item = codes(shop.events.column("item_id").cast(pa.string()), item_ids)
    times = shop.events.column("timestamp").cast(pa.int64()).to_numpy()
    assert np.all(times >= released[item])
    first_seen = np.full(ITEMS, np.iinfo(np.int64).max)
    np.minimum.at(first_seen, item, times)
    assert (first_seen > SPAN_START_MS + 30 * DAY_MS).sum() > ITEMS // 10


def test_new_users_arrive_over_time(events: pa.Table) -> None:
    user = codes(events.column("user_id"))
    times = events.column("timestamp").cast(pa.int64()).to_numpy()
    first_seen = np.full(user.max() + 1, np.iinfo(np.int64).max)
    np.minimum.at(first_seen, user, times)
    late = first_seen > SPAN_START_MS + 60 * DAY_MS
    assert 0.15 < late.mean() < 0.8


def test_consumables_are_bought_again(events: pa.Table, catalogue: pa.Table) -> None:
    lines = events.filter(pc.equal(events.column("event_type"), "purchase"))
    item_ids = catalogue.column("item_id").combine_chunks()
    user, item = codes(lines.column("user_id")), codes(lines.column("item_id"), item_ids)
    order = codes(lines.column("order_id"))
    bought = np.unique(np.stack([user, item, order]), axis=1)
    pairs, times = np.unique(bought[:2], axis=1, return_counts=True)
    assert (times >= 2).sum() >= 10
    leaf = np.array([c.split("/")[1] for c in catalogue.column("category").to_pylist()])
    consumable = np.isin(leaf[pairs[1]], list(CONSUMABLES))
    assert (times[consumable] >= 2).mean() > 2 * (times[~consumable] >= 2).mean()
