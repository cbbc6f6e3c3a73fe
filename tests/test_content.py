"""Items by content (recsys.service.content, recsys.service.arrivals) over the generated shop's
bundle, without HTTP: the index follows live changes item by item as a rebuild would, new items get
similar items and cross-sell by content, explore_new gives them its share of known lists (0: none),
new arrivals come newest first, and a live category change counts in `category=`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from recsys.bundle import Bundle
from recsys.eventstore.items import StoredItem
from recsys.service import Query, ServedBundle, cross_sell, for_user, new_arrivals, similar
from recsys.service.content import content_index
from recsys.service.live import LiveItems


@pytest.fixture()
def served(models_dir: Path) -> ServedBundle:
    found = ServedBundle(Bundle.load(models_dir), LiveItems())
    found.warm()
    return found


def change(served: ServedBundle, *items: tuple[str, dict[str, object]]) -> None:
    """Stored changes as the store returns them: each item's whole merged fields."""
    overlay = served.live_items.overlay
    seq = overlay.seq
    stored = [StoredItem(item_id, fields, {}, seq + i + 1) for i, (item_id, fields) in
              enumerate(items)]  # fmt: skip
    served.live_items.overlay = overlay.updated(stored)
    served.follow()


def first_row(served: ServedBundle) -> dict[str, object]:
    catalogue = served.bundle.catalogue
    assert catalogue is not None
    return catalogue.table.slice(0, 1).to_pylist()[0]


def shown(served: ServedBundle, picks: object) -> list[tuple[str, str | None]]:
    ranked = picks.ranked  # type: ignore[attr-defined]
    return [(served.item_names[i], r) for i, r in zip(ranked.ids.tolist(), ranked.reasons,
                                                      strict=True)]  # fmt: skip


def test_the_index_follows_changes_as_a_rebuild_would(served: ServedBundle) -> None:
    row = first_row(served)
    first = served.content()
    change(
        served, ("fresh-1", {"title": "brand new thing", "category": "new/things", "added": 5.0})
    )
    change(served, (str(row["item_id"]), {"title": "renamed entirely", "category": "other/place"}),
           ("fresh-2", {"title": "second new", "category": "new", "added": 6.0}),
           ("fresh-1", {"title": "new v2", "category": "new/things", "added": 5.0}))  # fmt: skip
    known = {"in_stock": False, "title": "renamed entirely", "category": "other/place"}
    fresh = {"title": "new", "category": "new", "added": 6.0, "in_stock": False}
    change(served, ("fresh-2", fresh), (str(row["item_id"]), known))
    followed = served.content()  # item by item, three times
    assert followed.extra_state.available is not None
    assert followed.extra_state.available.tolist() == [True, False]
    state = served.follow()
    columns, counts = served.item_columns(state), served.interaction_counts
    rebuilt = content_index(columns, served.bundle.items, counts, state, first)  # all at once
    assert followed.extras.arrow.to_pylist() == ["fresh-1", "fresh-2"]
    assert followed.size == served.n_items + 2 == rebuilt.size
    assert abs(followed.rows - rebuilt.rows).max() < 1e-6
    for item in (0, 5, served.n_items, served.n_items + 1):
        assert np.allclose(followed.scores(item), rebuilt.scores(item), atol=1e-6)
    assert followed.paths[0] == "other/place"
    assert followed.shared_path(served.n_items, served.n_items + 1) == "new"
    assert served.item_names[served.n_items :] == ["fresh-1", "fresh-2"]
    assert list(followed.added[-2:]) == [5.0, 6.0]
    assert set(followed.new.tolist()) >= {served.n_items, served.n_items + 1}


def test_a_new_item_gets_similar_items_and_cross_sell_by_content(served: ServedBundle) -> None:
    row = first_row(served)
    change(served, ("fresh-1", {"title": f"{row['title']} deluxe", "category": row["category"],
                                "in_stock": True}))  # fmt: skip
    picks = similar(served, "fresh-1", Query(n=10))
    assert picks.model == f"content@{served.version}" and len(picks.ranked) == 10
    found = shown(served, picks)
    assert found[0] == (row["item_id"], f"same_category:{row['category']}")
    assert "fresh-1" not in dict(found)
    crossed = cross_sell(served, ["fresh-1"], Query(n=10))
    assert crossed.model == f"content@{served.version}" and len(crossed.ranked) == 10
    assert "fresh-1" not in dict(shown(served, crossed))
    without = similar(served, "fresh-1", Query(n=10, exclude=(str(row["item_id"]),)))
    assert str(row["item_id"]) not in dict(shown(served, without))


def test_explore_new_takes_its_share_of_known_lists_and_zero_turns_it_off(
    served: ServedBundle,
) -> None:
    row = first_row(served)
    change(served, ("fresh-1", {"title": str(row["title"]), "category": row["category"]}))
    item, user = str(row["item_id"]), served.bundle.users[0]
    for share, slots in ((0.0, 0), (0.1, 1), (0.2, 2)):
        for picks in (similar(served, item, Query(n=10, explore_new=share)),
                      for_user(served, user, Query(n=10, explore_new=share))):  # fmt: skip
            reasons = [r or "" for _, r in shown(served, picks)]
            assert len(reasons) == 10 and sum(r.startswith("new_in:") for r in reasons) == slots
            assert picks.model.startswith("als@")
    explored = dict(shown(served, similar(served, item, Query(n=10, explore_new=0.1))))
    assert explored.get("fresh-1") == f"new_in:{row['category']}"
    hidden = Query(n=10, explore_new=0.1, exclude=("fresh-1",))
    assert "fresh-1" not in dict(shown(served, similar(served, item, hidden)))


def test_new_arrivals_newest_first_with_category_and_availability(served: ServedBundle) -> None:
    change(
        served,
        ("fresh-a", {"title": "a", "category": "new/a", "added": 10.0}),
        ("fresh-b", {"title": "b", "category": "new/b", "added": 20.0}),
        ("fresh-c", {"title": "c", "category": "new/b", "added": 30.0, "in_stock": False}),
    )
    picks = new_arrivals(served, Query(n=3))
    assert [i for i, _ in shown(served, picks)][:2] == ["fresh-b", "fresh-a"]
    assert len(picks.ranked) == 3 and picks.model == f"content@{served.version}"
    assert [i for i, _ in shown(served, new_arrivals(served, Query(n=1, category="new/a")))] == [
        "fresh-a"
    ]
    with_stock = new_arrivals(served, Query(n=1, in_stock=False))
    assert shown(served, with_stock) == [("fresh-c", "new_in:new/b")]


def test_a_live_category_change_counts_in_category(served: ServedBundle) -> None:
    item = str(first_row(served)["item_id"])
    change(served, (item, {"category": "moved/here"}))
    mask = served.allowed(Query(category="moved"))
    assert mask is not None and mask[served.bundle.items.index(item)] and mask.sum() == 1
    before = served.allowed(Query(category=str(first_row(served)["category"])))
    assert before is not None and not before[served.bundle.items.index(item)]


def test_profile_rows_and_pool_membership_equal_their_plain_formulas(served: ServedBundle) -> None:
    index = served.content()
    lengths = np.diff(index.rows.indptr)
    items = [int(np.argmax(lengths)), 0, 3, 7]
    if (lengths == 0).any():  # an item without words adds nothing
        items.append(int(np.argmin(lengths)))
    weights = np.linspace(2.0, 0.5, len(items)).astype(np.float32)
    summed = (index.rows[items].toarray() * weights[:, None]).sum(axis=0)
    expected = summed / max(float(np.linalg.norm(summed)), 1e-12)
    np.testing.assert_allclose(index.mean_row(items, weights), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(index.mean_row([3]), index.rows[3].toarray()[0], rtol=1e-5)
    numbers = np.concatenate([index.pool[::7], [-1, index.size, index.size + 5], np.arange(50)])
    np.testing.assert_array_equal(np.unique(index.pool_positions(numbers)),
                                  np.flatnonzero(np.isin(index.pool, numbers)))
