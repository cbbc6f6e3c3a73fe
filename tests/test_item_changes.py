"""Item changes: the checks of POST /v1/items bodies, their store on both backends, availability
laid over a bundle, and training merging them into the next bundle's catalogue."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest
from test_eventstore import store_url  # noqa: F401 (the fixture: SQLite and PostgreSQL)

from recsys import service
from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.data.catalogue import Catalogue, fill_missing
from recsys.data.item_changes import parse_item_changes
from recsys.data.vocabulary import Vocabulary
from recsys.errors import ParameterError
from recsys.eventstore import open_store
from recsys.eventstore.items import StoredItem
from recsys.eventstore.training import with_item_changes
from recsys.service import Query, ServedBundle
from recsys.service.items import item_view
from recsys.service.live import ItemOverlay, LiveItems, live_state
from recsys_training.pipeline import train


@pytest.mark.parametrize(
    ("item", "parameter"),
    [
        ({"item_id": "a", "colour": "red"}, "items[0].colour"),
        ({"item_id": "a", "in_stock": "no"}, "items[0].in_stock"),
        ({"item_id": "a", "price": "9.99"}, "items[0].price"),
        ({"item_id": "a", "price": -1}, "items[0].price"),
        ({"item_id": "a", "hidden": 1}, "items[0].hidden"),
        ({"item_id": "a", "title": 5}, "items[0].title"),
        ({"item_id": "a", "available_until": "soon"}, "items[0].available_until"),
        ({"item_id": "a", "properties": ["x"]}, "items[0].properties"),
        ({"item_id": "a", "properties": {"brand": {"x": 1}}}, "items[0].properties.brand"),
        ({"item_id": "a", "properties": {"price": 3}}, "items[0].properties.price"),
        ({"item_id": "a", "properties": {"bad name": 3}}, "items[0].properties.bad name"),
        ({"item_id": 7, "in_stock": True}, "items[0].item_id"),
        ({"in_stock": True}, "items[0].item_id"),
        ({"item_id": "a"}, "items[0]"),
    ],
)
def test_a_bad_item_is_refused_naming_its_field(item: dict[str, object], parameter: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_item_changes({"items": [item]})
    assert caught.value.parameter == parameter


def test_bodies_are_bounded_and_good_ones_flattened() -> None:
    with pytest.raises(ParameterError, match="at most 1000"):
        parse_item_changes({"items": [{"item_id": "a", "hidden": True}] * 1001})
    for body in ({}, {"items": []}, {"items": {}}, {"items": [], "more": 1}, []):
        with pytest.raises(ParameterError):
            parse_item_changes(body)
    changes = parse_item_changes({"items": [
        {"item_id": "a", "in_stock": False, "price": 12, "properties": {"brand": "acme",
                                                                          "eco": True}},
        {"item_id": "b", "available_until": "2030-01-01T00:00:00Z", "category": "shoes/run"},
    ]})  # fmt: skip
    assert changes == [
        ("a", {"in_stock": False, "price": 12.0, "brand": "acme", "eco": True}),
        ("b", {"available_until": 1893456000.0, "category": "shoes/run"}),
    ]


def test_changes_merge_per_item_and_are_read_since_a_mark(store_url: str) -> None:  # noqa: F811
    with open_store(store_url) as store:
        assert store.catalogue_mark() == 0 and store.items_changed_since(0) == []
        first = store.change_items([("a", {"in_stock": False}), ("b", {"price": 3.0})], 100.0)
        second = store.change_items([("a", {"brand": "acme"}), ("a", {"in_stock": True})], 200.0)
        assert (first, second) == (1, 2) and store.catalogue_mark() == 2
        items = {item.item_id: item for item in store.items_changed_since(0)}
        # `added`: when the store first heard of the item (new arrivals are ordered by it)
        assert items["a"].fields == {"added": 100.0, "in_stock": True, "brand": "acme"}
        assert items["a"].times == {"added": 100.0, "in_stock": 200.0, "brand": 200.0}
        assert [item.item_id for item in store.items_changed_since(first)] == ["a"]
        store.change_items([("b", {"deleted": True})], 300.0)
        store.change_items([("b", {"hidden": False})], 400.0)
        (b,) = store.items_changed_since(3)
        assert b.fields == {"added": 100.0, "price": 3.0, "deleted": False, "hidden": False}


def test_concurrent_writers_never_lose_a_change(store_url: str) -> None:  # noqa: F811
    with open_store(store_url) as store:

        def write(worker: int) -> None:
            for i in range(10):
                store.change_items([("shared", {f"p{worker}_{i}": i})], float(i))

        threads = [threading.Thread(target=write, args=(w,)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        (shared,) = store.items_changed_since(0)
        assert len(shared.fields) == 41 and store.catalogue_mark() == 40  # 40 and `added`


def catalogue_of(rows: list[dict[str, object]]) -> Catalogue:
    table = pa.Table.from_pylist(rows)
    return Catalogue(fill_missing(table), frozenset(table.column_names))


def test_availability_lays_changes_over_the_catalogue() -> None:
    catalogue = catalogue_of([
        {"item_id": "a", "in_stock": True}, {"item_id": "b", "in_stock": False},
        {"item_id": "c", "in_stock": True}, {"item_id": "d", "in_stock": True},
    ])  # fmt: skip
    items = Vocabulary(["a", "b", "c", "d"])
    now = 1000.0
    overlay = ItemOverlay().updated([
        StoredItem("a", {"in_stock": False}, {}, 1), StoredItem("b", {"in_stock": True}, {}, 2),
        StoredItem("c", {"available_until": 1500.0}, {}, 3),
        StoredItem("d", {"deleted": True}, {}, 4), StoredItem("new", {"title": "x"}, {}, 5),
    ])  # fmt: skip
    assert overlay.seq == 5
    state = live_state(catalogue, items, overlay, now)
    assert state.available.tolist() == [False, True, True, False]
    assert state.expires == 1500.0
    later = live_state(catalogue, items, overlay, 1500.0)
    assert later.available.tolist() == [False, True, False, False] and later.expires == np.inf
    assert live_state(None, items, ItemOverlay(), now).available is None
    step = ItemOverlay().updated([StoredItem("a", {"in_stock": False}, {}, 1)])
    first = live_state(catalogue, items, step, now)
    step = step.updated([StoredItem("d", {"hidden": True}, {}, 2),
                         StoredItem("a", {"in_stock": True}, {}, 3)])  # fmt: skip
    following = live_state(catalogue, items, step, now, first)  # only a and d applied again
    rebuilt = live_state(catalogue, items, step, now)
    assert following.available.tolist() == rebuilt.available.tolist() == [True, False, True, False]
    assert first.available.tolist() == [False, False, True, True]  # left as it was


def test_a_served_bundle_follows_the_overlay_and_forgets_older_answers(models_dir: Path) -> None:
    live = LiveItems()
    served = ServedBundle(Bundle.load(models_dir), live)
    query = Query(n=10)
    top = service.popular(served, query).ranked.ids.tolist()
    first = served.item_names[top[0]]
    similar = service.similar(served, first, query)
    shown = served.item_names[int(similar.ranked.ids[0])]
    live.overlay = live.overlay.updated([StoredItem(first, {"in_stock": False}, {}, 1),
                                         StoredItem(shown, {"hidden": True}, {}, 2)])  # fmt: skip
    assert top[0] not in service.popular(served, query).ranked.ids.tolist()
    again = service.similar(served, first, query)
    assert again is not similar and len(again.ranked) == 10
    assert shown not in [served.item_names[i] for i in again.ranked.ids.tolist()]
    view = item_view(served, first)
    assert view is not None and view["in_stock"] is False and view["available"] is False
    assert view["known_to_model"] and view["changed"]
    assert item_view(served, "no-such-item") is None


def test_training_merges_changes_and_a_newer_file_wins(shop: Path, tmp_path: Path) -> None:
    catalogue = shutil.copy(shop / "catalogue.csv", tmp_path / "catalogue.csv")
    db = f"sqlite:///{tmp_path / 'events.db'}"
    first_item = str(pa_csv.read_csv(catalogue).column("item_id")[0])
    with open_store(db) as store:
        written = os.stat(catalogue).st_mtime
        store.change_items([(first_item, {"price": 1.5, "brand": "acme"})], written - 10)
        store.change_items([(first_item, {"in_stock": False}), ("brand-new", {"title": "Tent",
                            "category": "outdoor/tents"})], written + 10)  # fmt: skip
    config = config_from_dict({"models": {"als": {"factors": 8, "iterations": 2}}})
    train(shop / "events.parquet", tmp_path / "models", config, catalogue, events_db=db)
    bundle = Bundle.load(tmp_path / "models")
    table = bundle.catalogue.table
    row = table.slice(bundle.items.index(first_item), 1).to_pylist()[0]
    assert row["in_stock"] is False and row["brand"] == "acme"  # the changes made after the file
    assert row["price"] != 1.5  # the file is newer than that change and sets a price
    new = table.slice(bundle.items.index("brand-new"), 1).to_pylist()[0]
    assert new["title"] == "Tent" and new["category"] == "outdoor/tents"
    merged = with_item_changes(None, None, [StoredItem("x", {"deleted": True}, {}, 1)])
    assert merged is not None and merged.table.column("hidden").to_pylist() == [True]
