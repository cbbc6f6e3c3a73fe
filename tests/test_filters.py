"""Business rules: the filter and boost grammar, its bounds, expressions compiled to item masks
over the catalogue and the live changes, and the seen= rule of personal picks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from recsys import service
from recsys.bundle import Bundle
from recsys.data.catalogue import Catalogue, fill_missing
from recsys.data.vocabulary import Vocabulary
from recsys.errors import ParameterError
from recsys.eventstore.items import StoredItem
from recsys.service import Query, Ranked, ServedBundle
from recsys.service.expressions import Comparison, Logic, parse_boosts, parse_filter
from recsys.service.item_columns import (
    ItemColumns,
    base_columns,
    expression_mask,
    live_columns,
)
from recsys.service.live import ItemOverlay, LiveItems
from recsys.service.seen import seen_capped


def test_the_grammar_gives_precedence_to_and_over_or() -> None:
    tree = parse_filter('price < 50 AND brand in ("acme", "zeta") or not category = "shoes"').tree
    assert tree == Logic("or", (
        Logic("and", (Comparison("price", "<", (50.0,), 1),
                      Comparison("brand", "in", ("acme", "zeta"), 16))),
        Logic("not", (Comparison("category", "=", ("shoes",), 49),)),
    ))  # fmt: skip
    assert parse_filter("eco == true and x not in (1, 2)").tree == Logic("and", (
        Comparison("eco", "=", (True,), 1), Comparison("x", "in", (1.0, 2.0), 17, negated=True),
    ))  # fmt: skip
    assert parse_filter("title = 'say \"hi\"'").tree == Comparison("title", "=", ('say "hi"',), 1)
    boosts = parse_boosts('brand = "acme": 1.5; price < 20: 0')
    assert [(b.expression.text, b.factor) for b in boosts.boosts] == [
        ('brand = "acme"', 1.5), ("price < 20", 0.0),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("price <", "position 8 (the end): expected a value"),
        ("price < 5 brand", "position 11 ('brand'): expected and, or, or the end"),
        ("price ! 5", "position 7: unexpected '!'"),
        ('"x" = 1', "position 1 ('\"x\"'): expected a field name"),
        ("a in ()", "position 7 (')'): expected a value"),
        ("(" * 40 + "a = 1" + ")" * 40, "nested more than 16 levels deep"),
        ("not " * 40 + "a = 1", "nested more than 16 levels deep"),
        ("a = 1 or " * 80 + "a = 1", "more than 64 tests"),
        ("a in (" + ", ".join(["1"] * 300) + ")", "more than 200 values"),
        ("x" * 10_000, "is 10000 characters long; at most 2000"),
        ("   ", "is empty"),
        ("(a = 1", "expected )"),
    ],
)
def test_bad_filters_name_the_parameter_and_the_position(text: str, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_filter(text)
    assert caught.value.parameter == "filter" and message in str(caught.value)


def test_bad_boosts_are_refused() -> None:
    for text, message in (('brand = "a"', "expected :"), ('brand = "a": 500', "from 0 to 100"),
                          ('b = "a": 2 c = 1: 2', "expected ;")):  # fmt: skip
        with pytest.raises(ParameterError, match=message) as caught:
            parse_boosts(text)
        assert caught.value.parameter == "boost"


def catalogue() -> tuple[Catalogue, Vocabulary]:
    table = pa.table({
        "item_id": ["a", "b", "c", "d"],
        "title": ["Red shoe", "Blue shoe", "Tent", "Cat food"],
        "category": ["shoes/running", "shoes", "outdoor/tents", "pets"],
        "price": [30.0, 80.0, 200.0, float("nan")],
        "in_stock": [True, True, False, True],
        "brand": ["acme", "zeta", "acme", ""],
        "rating": ["4.5", "3", "", "5"],  # a text column of numbers
    })  # fmt: skip
    return Catalogue(fill_missing(table), frozenset(table.column_names)), Vocabulary(table[0])


def matches(text: str, overlay: ItemOverlay | None = None) -> list[str]:
    found, items = catalogue()
    columns = live_columns(ItemColumns(base_columns(found, 4)), items, overlay or ItemOverlay())
    mask = expression_mask(parse_filter(text), columns, "filter")
    return [items[i] for i in np.flatnonzero(mask)]


def test_expressions_match_fields_properties_and_category_paths() -> None:
    assert matches("price < 100") == ["a", "b"]  # an unknown price matches no comparison
    assert matches('brand = "acme" and price >= 30') == ["a", "c"]
    assert matches('category = "shoes"') == ["a", "b"]  # the path and below
    assert matches('category != "shoes"') == ["c", "d"]
    assert matches('category in ("pets", "outdoor")') == ["c", "d"]
    assert matches('not brand in ("acme")') == ["b", "d"]
    assert matches("in_stock = false or rating > 4") == ["a", "c", "d"]
    assert matches('title = "Tent"') == ["c"]
    overlay = ItemOverlay().updated([StoredItem("d", {"brand": "acme", "price": 5.0, "eco": True},
                                                {}, 1)])  # fmt: skip
    assert matches('brand = "acme" and price < 10', overlay) == ["d"]
    assert matches("eco = true", overlay) == ["d"]
    stocked = ItemOverlay().updated([StoredItem("c", {"in_stock": True}, {}, 1)])
    assert matches("in_stock = false", stocked) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1", "position 1: unknown field 'colour' (known: brand, category, in_stock"),
        ('price < "cheap"', "'price' takes a number"),
        ("brand = 3", "'brand' takes text in quotes"),
        ('brand < "b"', "'brand' is compared with =, != or in, not <"),
        ("in_stock = 1", "'in_stock' takes true or false"),
    ],
)
def test_unknown_fields_and_wrong_kinds_are_refused(text: str, message: str) -> None:
    with pytest.raises(ParameterError) as caught:
        matches(text)
    assert caught.value.parameter == "filter" and message in str(caught.value)


def test_a_served_bundle_filters_and_boosts_every_answer(models_dir: Path) -> None:
    live = LiveItems()
    served = ServedBundle(Bundle.load(models_dir), live)
    plain = Query(n=10)
    top = service.popular(served, Query(n=40)).ranked.ids.tolist()
    acme = [served.item_names[i] for i in top[20:40]]
    live.overlay = live.overlay.updated([StoredItem(i, {"brand": "acme"}, {}, 1) for i in acme])
    only = Query(n=10, filter=parse_filter('brand = "acme"'))
    user, item = served.bundle.users[0], served.item_names[top[0]]
    answers = [
        service.for_user(served, user, only), service.similar(served, item, only),
        service.cross_sell(served, [item], only), service.popular(served, only),
        service.session(served, [item], only),
    ]  # fmt: skip
    for picks in answers:
        assert {served.item_names[i] for i in picks.ranked.ids.tolist()} <= set(acme)
        assert len(picks.ranked) == 10
    lifted = Query(n=10, boost=parse_boosts('brand = "acme": 100'))
    boosted = [served.item_names[i] for i in service.popular(served, lifted).ranked.ids.tolist()]
    assert set(boosted) <= set(acme)
    assert service.popular(served, plain).ranked.ids.tolist() == top[:10]
    mask = served.expression_mask(only.filter, "filter")  # type: ignore[arg-type]
    assert served.expression_mask(only.filter, "filter") is mask  # type: ignore[arg-type]


def test_a_boost_pulls_in_items_beyond_the_models_pool(models_dir: Path) -> None:
    """An item ranked far below the pool of 50 that a boost lifts above the 10th pick is found
    (an exact search over the items the boost matches), not left out."""
    live = LiveItems()
    served = ServedBundle(Bundle.load(models_dir), live)
    model = served.bundle.models[served.default_model]
    user = 0
    scores = model.item_factors @ model.user_factors[user]  # type: ignore[attr-defined]
    scores[served.purchased(user)] = -np.inf
    order = np.argsort(-scores)
    far = next(int(i) for i in order[120:] if 100 * scores[i] > 0 and scores[i] > 0.2 * scores[
        order[9]])  # fmt: skip
    live.overlay = live.overlay.updated([StoredItem(served.item_names[far], {"pushed": True}, {},
                                                    1)])  # fmt: skip
    user_id = served.bundle.users[user]
    plain = service.for_user(served, user_id, Query(n=10)).ranked.ids.tolist()
    lifted = Query(n=10, boost=parse_boosts("pushed = true: 100"))
    pushed = service.for_user(served, user_id, lifted).ranked.ids.tolist()
    assert far not in plain and pushed[0] == far and len(pushed) == 10


def test_seen_capped_keeps_the_best_seen_within_the_cap() -> None:
    ranked = Ranked(np.array([1, 2, 3, 4]), np.array([0.9, 0.8, 0.7, 0.6]))
    unseen = Ranked(np.array([5, 6, 7]), np.array([0.85, 0.5, 0.4]))
    is_seen = np.array([True, True, False, True])
    assert seen_capped(ranked, is_seen, unseen, 4, 0.5).ids.tolist() == [1, 5, 2, 6]
    assert seen_capped(ranked, is_seen, unseen, 4, 0.0).ids.tolist() == [5, 6, 7, 1]  # not short


def test_personal_picks_honour_seen(models_dir: Path) -> None:
    served = ServedBundle(Bundle.load(models_dir))
    matrix = served.bundle.interactions
    user = int(np.argmax(np.diff(matrix.indptr)))  # the longest history
    history = set(served.history(user)[0].tolist())
    user_id = served.bundle.users[user]
    shares = {}
    for mode in ("allow", "exclude", "cap"):
        picks = service.for_user(served, user_id, Query(n=10, seen=mode, seen_cap=0.2))
        ids = picks.ranked.ids.tolist()
        assert len(ids) == 10
        shares[mode] = sum(i in history for i in ids)
    assert shares["exclude"] == 0 and shares["cap"] <= 2 and shares["allow"] >= shares["cap"]
