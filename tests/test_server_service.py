"""The picks logic without HTTP: candidates, filters that never starve, fallbacks, fresh events,
blending, diversity and cross-sell paths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pytest

from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.data import load_events
from recsys.models.vector import VectorModel
from recsys.service import Query, ServedBundle, cross_sell, for_user, popular, session, similar
from recsys.service import picks as picks_module
from recsys.service import served as served_module
from recsys.service.cross_sell import cross_sell_picks
from recsys.service.rerank import category_cap, mmr, pool_size, unit_scale
from recsys_training.pipeline import train


@pytest.fixture(scope="module")
def served(models_dir: Path) -> ServedBundle:
    return ServedBundle(Bundle.load(models_dir))


@pytest.fixture(scope="module")
def with_complements(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> ServedBundle:
    folder = tmp_path_factory.mktemp("complements")
    config = config_from_dict(
        {"models": {"als": {"factors": 16, "iterations": 3}, "together": {"kind": "cooccurrence"}}}
    )
    train(shop / "events.parquet", folder, config, shop / "catalogue.csv")
    return ServedBundle(Bundle.load(folder))


@pytest.fixture(scope="module")
def with_repeats(shop: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[ServedBundle, str]:
    """A bundle whose catalogue marks every other item the heaviest buyer bought as a repeat
    purchase (`repeat_purchase`), and that buyer's id."""
    folder = tmp_path_factory.mktemp("repeats")
    events = load_events(shop / "events.parquet", ("view", "add_to_cart", "purchase"))
    bought = events.is_type("purchase")
    buyer = int(np.argmax(np.bincount(events.user[bought])))
    items = events.items.ids(np.unique(events.item[bought & (events.user == buyer)]))
    catalogue = pacsv.read_csv(shop / "catalogue.csv")
    repeat = pc.is_in(catalogue.column("item_id"), pa.array(items[::2]))
    pacsv.write_csv(catalogue.append_column("repeat_purchase", repeat), folder / "catalogue.csv")
    config = config_from_dict({"models": {"als": {"factors": 16, "iterations": 3}}})
    train(shop / "events.parquet", folder / "models", config, folder / "catalogue.csv")
    return ServedBundle(Bundle.load(folder / "models")), events.users[buyer]


def heavy_user(served: ServedBundle) -> tuple[str, int]:
    """A user with a long history and purchases (no blending)."""
    counts = np.diff(served.bundle.purchased.indptr)
    user = int(np.argmax(counts))
    return served.bundle.users[user], user


def ids_of(served: ServedBundle, picks: object) -> list[int]:
    return picks.ranked.ids.tolist()  # type: ignore[attr-defined]


def test_precomputed_candidates_are_the_exact_top_items(served: ServedBundle) -> None:
    model = served.bundle.models["als"]
    assert isinstance(model, VectorModel) and model.candidates is not None
    rows = np.asarray(model.candidate_rows)
    assert (rows >= 0).all()  # the default server.candidates_days = 0: every known user has some
    users = np.arange(len(rows))[::37]
    _, exact = model.index.exact_search(model.user_factors[users], 20)
    candidates = np.stack([model.candidates_for(user)[:20] for user in users])
    scores = np.einsum("ud,ucd->uc", model.user_factors[users], model.item_factors[candidates])
    assert np.allclose(scores, exact, atol=1e-4)  # the same top 20 (ties may swap places)


def test_users_without_precomputed_candidates_are_searched(models_dir: Path) -> None:
    """Users without candidates (server.candidates_days left them out) are searched per request."""
    served = ServedBundle(Bundle.load(models_dir))
    model = served.bundle.models["als"]
    assert isinstance(model, VectorModel)
    model.candidate_rows = np.full(len(model.user_factors), -1, np.int32)
    history = np.diff(served.bundle.interactions.indptr)
    user = int(np.flatnonzero(history >= 5)[0])
    picks = for_user(served, served.bundle.users[user], Query(n=10, in_stock=False))
    assert picks.model == served.label("als") and len(picks.ranked) == 10
    _, exact = model.index.exact_search(
        model.user_factors[[user]], 10, served.bundle.purchased[[user]]
    )
    assert np.allclose(np.sort(picks.ranked.scores), np.sort(exact[0]), atol=1e-4)


def test_personal_picks_leave_out_purchases_and_excluded_items(served: ServedBundle) -> None:
    user_id, user = heavy_user(served)
    picks = for_user(served, user_id, Query(n=20))
    assert picks.model == served.label("als") and len(picks.ranked) == 20
    bought = set(served.purchased(user).tolist())
    assert bought and not bought & set(ids_of(served, picks))
    top = served.bundle.items.ids(picks.ranked.ids[:3])
    again = for_user(served, user_id, Query(n=20, exclude=tuple(top)))
    assert not set(picks.ranked.ids[:3].tolist()) & set(ids_of(served, again))
    seen = set(served.bundle.items.ids(served.bundle.interactions[user].indices))
    for pick, reason in zip(served.bundle.items.ids(picks.ranked.ids), picks.ranked.reasons,
                            strict=True):  # fmt: skip
        kind, item = reason.split(":", 1)
        assert (kind, item) == ("viewed", pick) if pick in seen else kind == "similar_to"
        assert item in seen, "a reason names the user's own history"
    assert np.all(np.diff(picks.ranked.scores) <= 1e-6)


def test_repeat_purchase_items_come_back_and_other_purchases_do_not(
    with_repeats: tuple[ServedBundle, str],
) -> None:
    served, user_id = with_repeats
    user = served.bundle.users.index(user_id)
    bought = served.bundle.purchased[user].indices
    repeatable = set(bought[served.repeatable[bought]].tolist())
    ordinary = set(bought.tolist()) - repeatable
    assert repeatable and ordinary
    picked = set(ids_of(served, for_user(served, user_id, Query(n=100, in_stock=False))))
    assert picked & repeatable and not picked & ordinary


def test_a_narrow_filter_is_refilled_until_the_category_runs_out(served: ServedBundle) -> None:
    user_id, user = heavy_user(served)
    categories = served.categories.astype(str)
    bought = np.zeros(served.n_items, bool)
    bought[served.purchased(user)] = True
    leaf = categories[served.stock][0]
    for category, n in ((leaf, 100), (leaf.split("/")[0], 30)):
        inside = np.char.startswith(categories, category) & served.stock & ~bought
        picks = for_user(served, user_id, Query(n=n, category=category))
        assert len(picks.ranked) == min(n, int(inside.sum())) > 0
        assert inside[picks.ranked.ids].all()


def test_stock_filter_is_on_by_default_and_can_be_lifted(served: ServedBundle) -> None:
    out = np.flatnonzero(~served.stock)
    assert len(out)
    listed = popular(served, Query(n=100)).ranked.ids
    assert not set(out.tolist()) & set(listed.tolist())
    everything = popular(served, Query(n=100, in_stock=False)).ranked.ids
    assert set(out.tolist()) & set(everything.tolist())


def test_unknown_and_forgotten_users_fall_back_to_popular(served: ServedBundle) -> None:
    user_id, _ = heavy_user(served)
    for picks in (
        for_user(served, "who-is-this", Query(n=5)),
        for_user(served, user_id, Query(n=5), forgotten=True),
    ):
        assert picks.model == "fallback:popular" and picks.fallback == "popular"
        assert len(picks.ranked) == 5


def test_fresh_events_move_the_picks_and_short_histories_blend(served: ServedBundle) -> None:
    user_id, _ = heavy_user(served)
    before = for_user(served, user_id, Query(n=10))
    item = served.bundle.items[int(before.ranked.ids[0])]
    fresh = [(item, "purchase")] + [(served.bundle.items[i], "view") for i in range(200, 230)]
    after = for_user(served, user_id, Query(n=10), fresh=fresh)
    assert int(before.ranked.ids[0]) not in ids_of(served, after)  # just bought: excluded
    assert ids_of(served, after) != ids_of(served, before)
    newcomer = for_user(served, "newcomer", Query(n=10), fresh=[(item, "view")])
    assert newcomer.model == f"blend:{served.label('als')}+popular"
    assert len(newcomer.ranked) == 10


def test_answers_are_remembered_per_event_list_and_never_for_the_forgotten(
    served: ServedBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    computed: list[tuple[str, bool]] = []
    compute = picks_module.user_picks

    def counted(*args: object, **kwargs: object) -> object:
        computed.append((str(args[1]), bool(kwargs.get("forgotten"))))
        return compute(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(picks_module, "user_picks", counted)
    user_id = served.bundle.users[5]
    items = served.bundle.items
    viewed = [(items[40], "view"), (items[41], "add_to_cart")]
    first = for_user(served, user_id, Query(n=7), fresh=viewed)
    assert for_user(served, user_id, Query(n=7), fresh=list(viewed)) is first  # same events
    assert len(computed) == 1
    bought = for_user(served, user_id, Query(n=7), fresh=[*viewed, (items[42], "purchase")])
    assert len(computed) == 2 and 42 not in ids_of(served, bought)  # a new event: a new answer
    for _ in range(2):  # a forgotten customer is computed afresh every time, as an unknown user
        gone = for_user(served, user_id, Query(n=7), forgotten=True)
        assert gone.model == "fallback:popular"
    assert computed[2:] == [(user_id, True), (user_id, True)]
    assert for_user(served, user_id, Query(n=7), fresh=viewed) is first


def test_diversity_spreads_the_picks(served: ServedBundle) -> None:
    user_id, _ = heavy_user(served)
    plain = for_user(served, user_id, Query(n=10))
    varied = for_user(served, user_id, Query(n=10, diversity=0.9))
    assert len(varied.ranked) == 10 and ids_of(served, varied) != ids_of(served, plain)
    vectors = np.asarray(served.bundle.models["als"].item_factors)

    def spread(ids: np.ndarray) -> float:
        unit = vectors[ids] / np.linalg.norm(vectors[ids], axis=1, keepdims=True)
        return float((unit @ unit.T).mean())

    assert spread(varied.ranked.ids) < spread(plain.ranked.ids)


def test_mmr_without_diversity_keeps_score_order_and_category_cap_by_hand() -> None:
    rng = np.random.default_rng(0)
    scores = np.sort(rng.random(8))[::-1].astype(np.float32)
    assert mmr(scores, rng.random((8, 4)), 5, 0.0).tolist() == [0, 1, 2, 3, 4]
    categories = np.array(["a", "a", "a", "b", "a", "c"])
    assert category_cap(categories, 4, 0.5).tolist() == [0, 1, 3, 5]


def test_one_min_max_scaling_for_mmr_and_the_blend() -> None:
    scores = np.array([3.0, 1.0, 2.0], np.float32)
    assert unit_scale(scores).tolist() == [1.0, 0.0, 0.5]
    assert unit_scale(np.full(3, 7.0, np.float32)).tolist() == [1.0] * 3
    assert len(unit_scale(np.empty(0, np.float32))) == 0


def test_each_request_path_computes_its_pool_once(
    served: ServedBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[int, float]] = []

    def counted(n: int, diversity: float, boosted: bool = False) -> int:
        calls.append((n, diversity))
        return pool_size(n, diversity, boosted)

    monkeypatch.setattr(picks_module, "pool_size", counted)
    items = served.bundle.items
    query = Query(n=5, diversity=0.4, exclude=(items[7],))
    paths = {  # cross-sell without a complements model goes on to similar items
        "user": lambda: picks_module.user_picks(served, served.bundle.users[2], query, None),
        "similar": lambda: picks_module.similar_picks(served, items[0], query, None),
        "cross-sell": lambda: cross_sell_picks(served, [items[0]], query, None),
        "session": lambda: session(served, [items[3]], query),
    }
    for name, path in paths.items():
        calls.clear()
        found = path()
        assert calls == [(5, 0.4)], name
        assert len(found.ranked) == 5 and 7 not in found.ranked.ids.tolist(), name


def test_similar_items_and_cross_sell_without_a_complements_model(served: ServedBundle) -> None:
    item = served.bundle.items[0]
    picks = similar(served, item, Query(n=5))
    assert 0 not in ids_of(served, picks) and len(picks.ranked) == 5
    assert picks.ranked.reasons == [f"similar_to:{item}"] * 5
    basket = cross_sell(served, [item, served.bundle.items[1]], Query(n=5))
    assert basket.model == f"fallback:similar_items:{served.label('als')}"
    assert not {0, 1} & set(ids_of(served, basket))


def test_cross_sell_uses_the_complements_model_and_refills(
    with_complements: ServedBundle,
) -> None:
    served = with_complements
    counts = np.diff(served.bundle.purchased.tocsc().indptr)
    item = served.bundle.items[int(np.argmax(counts))]
    picks = cross_sell(served, [item], Query(n=100))
    assert picks.model == served.label("together")
    assert picks.ranked.reasons[0] == f"bought_with:{item}"
    assert len(picks.ranked) == 100 and len(set(ids_of(served, picks))) == 100


def test_a_short_cross_sell_list_is_refilled_from_complementary_categories(
    with_complements: ServedBundle,
) -> None:
    """The refill comes from the categories most bought with the item's category, never from its
    own category, whose best sellers are substitutes (generated shop: complements.csv)."""
    served = with_complements
    model = served.bundle.models["together"]
    lengths = np.diff(model.similarity.indptr)  # type: ignore[attr-defined]
    thin = [i for i in np.flatnonzero((lengths > 0) & (lengths < 3))[:20].tolist()]
    assert thin, "some items have only a few complements"
    refilled = 0
    for item in thin:
        picks = cross_sell(served, [served.bundle.items[item]], Query(n=10))
        own = served.category_of(item)
        extra = [int(i) for i, reason in zip(picks.ranked.ids, picks.ranked.reasons, strict=True)
                 if not str(reason).startswith("bought_with:")]  # fmt: skip
        refilled += len(extra)
        assert all(served.category_of(i) != own for i in extra)
    assert refilled


def test_cross_sell_without_evidence_says_it_fell_back(with_complements: ServedBundle) -> None:
    served = with_complements
    model = served.bundle.models["together"]
    similarity = model.similarity  # type: ignore[attr-defined]
    unknown = np.flatnonzero(np.diff(similarity.indptr) == 0)
    assert len(unknown), "some catalogue items have no baskets, views or interactions"
    picks = cross_sell(served, [served.bundle.items[int(unknown[0])]], Query(n=5))
    assert picks.model.startswith("fallback:popular") and len(picks.ranked) == 5


def test_session_picks_are_filtered_like_the_others(served: ServedBundle) -> None:
    seen = [served.bundle.items[i] for i in (3, 4, 5)]
    picks = session(served, seen, Query(n=8, category="pets"))
    assert len(picks.ranked) == 8
    assert all(served.category_of(i).startswith("pets") for i in picks.ranked.ids)
    assert not {3, 4, 5} & set(ids_of(served, picks))


def test_the_memo_keeps_what_is_asked_again_and_stays_bounded(
    served: ServedBundle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(served_module, "MEMO_SIZE", 5)
    monkeypatch.setattr(served, "_memo", {})
    computed: list[str] = []

    def answer(key: str) -> str:
        return served.memo(("test", key), lambda: computed.append(key) or key)  # type: ignore[func-returns-value]

    for visitor in range(20):  # one-off visitors stream through; a returning one stays
        assert answer("returning") == "returning"
        assert answer(f"once-{visitor}") == f"once-{visitor}"
        assert len(served._memo) <= 5
    assert computed.count("returning") == 1
    answer("once-0")
    assert computed.count("once-0") == 2  # long since dropped, the least recently used
