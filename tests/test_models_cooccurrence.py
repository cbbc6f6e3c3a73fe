"""Frequently bought together: baskets make the score, co-views only fill in for thin items, so
complements beat substitutes; baskets come from order ids, else sessions, else a time window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest
import scipy.sparse as sp

from recsys.config import Config, ModelConfig
from recsys.data import Events, Interactions, Vocabulary, load_events
from recsys.models import build_model
from recsys.models.base import Complements
from recsys.models.cooccurrence import Cooccurrence, group_matrix

PHONE, CASE, PHONE2, CHARGER, RARE, LONELY = range(6)


def rows(*baskets: list[int], n_items: int = 6) -> sp.csr_matrix:
    cells = [(r, i) for r, basket in enumerate(baskets) for i in basket]
    r, c = zip(*cells, strict=True)
    return sp.csr_matrix((np.ones(len(cells), np.float32), (r, c)), shape=(len(baskets), n_items))


@pytest.fixture
def fitted() -> Cooccurrence:
    """Phone + case bought together often, phone + charger sometimes, the two phones only viewed
    together; RARE was bought once, with a case; LONELY never with anything."""
    baskets = [[PHONE, CASE]] * 8 + [[PHONE, CHARGER]] * 3 + [[PHONE2]] * 6 + [[PHONE]] * 4
    baskets += [[RARE, CASE], [LONELY]]
    views = [[PHONE, PHONE2]] * 30 + [[RARE, CHARGER]] * 3
    users = Interactions(
        rows([PHONE, CASE], [PHONE2]),
        Vocabulary(["a", "b"]),
        Vocabulary([str(i) for i in range(6)]),
    )
    model = build_model("fbt", ModelConfig("cooccurrence")).fit(users)
    return model.fit_baskets(rows(*baskets), rows(*views))


def test_complements_not_substitutes(fitted: Cooccurrence) -> None:
    assert isinstance(fitted, Complements)
    ids, scores, because = fitted.complements(rows([PHONE]), 3)
    assert ids[0, 0] == CASE and ids[0, 1] == CHARGER
    assert PHONE2 not in ids[0] and because[0, 0] == PHONE
    assert np.all(np.diff(scores[0][np.isfinite(scores[0])]) <= 0)


def test_a_basket_combines_its_items_and_excludes_them(fitted: Cooccurrence) -> None:
    ids, _, because = fitted.complements(rows([PHONE, CASE]), 4)
    assert not {PHONE, CASE} & set(ids[0][ids[0] >= 0])
    assert ids[0, 0] == CHARGER and because[0, 0] == PHONE
    assert RARE in ids[0] and because[0, list(ids[0]).index(RARE)] == CASE


def test_thin_items_fall_back_to_co_views_below_basket_scores(fitted: Cooccurrence) -> None:
    ids, scores, _ = fitted.complements(rows([RARE]), 3)
    assert ids[0, 0] == CASE, "its one basket still counts first"
    assert ids[0, 1] == CHARGER, "then what was viewed with it"
    assert scores[0, 1] < 0.1 * scores[0, 0]


def test_nothing_known_is_padded_for_the_caller(fitted: Cooccurrence) -> None:
    ids, scores, because = fitted.complements(rows([LONELY]), 3)
    assert np.all(ids[0] == -1) and np.all(np.isneginf(scores[0])) and np.all(because[0] == -1)


def test_shrinkage_ranks_a_rare_pair_below_a_frequent_one() -> None:
    """Same lift (3): items 0 and 1 share 10 of their 10 baskets, item 2 its 1 basket with 3."""
    baskets = rows(*([[0, 1]] * 10 + [[2, 3]] + [[3]] * 9 + [[4]] * 10), n_items=5)
    model = Cooccurrence().fit_baskets(baskets)
    assert model.similarity[0, 1] > 2 * model.similarity[2, 3] > 0
    strict = build_model("x", ModelConfig("cooccurrence", {"min_support": 2}))
    assert strict.fit_baskets(baskets).similarity[2, 3] == 0


def events_table(columns: dict[str, list]) -> Events:
    n = len(columns["item"])
    return Events(
        users=Vocabulary(["a", "b"]),
        items=Vocabulary([str(i) for i in range(4)]),
        event_types=("view", "purchase"),
        user=np.array(columns["user"], np.int32),
        item=np.array(columns["item"], np.int32),
        event=np.ones(n, np.int8),
        timestamp=np.array(columns["time"], np.int64),
        extra=pa.table(
            {k: pa.array(columns[k], pa.string()) for k in ("order_id",) if k in columns}
        ),
    )


def test_baskets_by_order_then_by_user_and_window() -> None:
    events = events_table(
        {
            "user": [0, 0, 0, 1, 1, 1],
            "item": [0, 1, 2, 0, 3, 1],
            "time": [0, 10, 20, 0, 60, 200_000],
            "order_id": ["o1", "o1", "o2", None, None, None],
        }
    )
    baskets = group_matrix(events, np.ones(6, bool), "order_id", 24.0, 4)
    found = sorted(tuple(baskets[r].indices) for r in range(baskets.shape[0]))
    assert found == [(0, 1), (0, 3), (1,), (2,)]


def test_an_empty_order_id_in_a_csv_is_no_order(tmp_path: Path) -> None:
    """Two customers' purchases without order ids are two baskets (by user and time window), not
    one basket of every row whose order_id is "" (the Spark engine reads them the same way)."""
    path = tmp_path / "events.csv"
    lines = ["user_id,item_id,event_type,timestamp,order_id", "a,x,purchase,0,", "a,y,purchase,5,"]
    lines += ["b,z,purchase,0,", "b,w,purchase,9,", "c,x,purchase,0,o1", "c,w,purchase,0,o1"]
    path.write_text("\n".join(lines) + "\n")
    events = load_events(path, ("purchase",))
    baskets = group_matrix(events, np.ones(len(events), bool), "order_id", 24.0, 4)
    found = {frozenset(events.items.ids(baskets[r].indices)) for r in range(baskets.shape[0])}
    assert found == {frozenset("xy"), frozenset("zw"), frozenset("xw")}


@pytest.fixture(scope="module")
def shop_model(shop: Path) -> tuple[Cooccurrence, Events]:
    config = Config()
    events = load_events(shop / "events.parquet", tuple(config.events.weights))
    model = build_model("fbt", ModelConfig("cooccurrence"))
    model.fit(Interactions.from_events(events, config.events)).fit_events(events)
    return model, events


def truth(shop: Path, name: str, column: str, items: Vocabulary) -> dict[int, set[int]]:
    table = pcsv.read_csv(
        shop / name,
        convert_options=pcsv.ConvertOptions(
            column_types={"item_id": pa.string(), column: pa.string()}
        ),
    ).to_pylist()
    pairs: dict[int, set[int]] = {}
    for row in table:
        a, b = items.index(row["item_id"]), items.index(row[column])
        if a is not None and b is not None:
            pairs.setdefault(a, set()).add(b)
    return pairs


def test_tells_complements_from_substitutes_on_a_generated_shop(
    shop: Path, shop_model: tuple[Cooccurrence, Events]
) -> None:
    """Top-5 cross-sell of each item with known complements: most find one, few are
    substitutes; item similarity (bm25) on the same data is the contrast."""
    model, events = shop_model
    complements = truth(shop, "complements.csv", "complement_id", events.items)
    substitutes = truth(shop, "substitutes.csv", "substitute_id", events.items)
    items = np.array(sorted(complements))
    ids, _, _ = model.complements(rows(*([i] for i in items), n_items=model.n_items), 5)
    similar, _ = (
        build_model("bm25", ModelConfig("bm25"))
        .fit(Interactions.from_events(events, Config().events))
        .similar_items(items, 5)
    )

    def rates(found: np.ndarray) -> tuple[float, float]:
        hit = np.mean([bool(set(r) & complements[i]) for r, i in zip(found, items, strict=True)])
        subs = np.mean(
            [
                len(set(r[r >= 0]) & substitutes.get(i, set())) / 5
                for r, i in zip(found, items, strict=True)
            ]
        )
        return float(hit), float(subs)

    hit, substitute_rate = rates(ids)
    knn_hit, knn_substitute_rate = rates(similar)
    assert hit > 0.5 and hit > 1.5 * knn_hit
    assert substitute_rate < 0.25 and substitute_rate < knn_substitute_rate / 2


def test_the_trainer_feeds_it_the_events(
    shop: Path, shop_model: tuple[Cooccurrence, Events], tmp_path: Path
) -> None:
    from recsys.bundle import Bundle
    from recsys.config import config_from_dict
    from recsys_training.pipeline import train

    config = config_from_dict({"models": {"fbt": {"kind": "cooccurrence"}}})
    train(shop / "events.parquet", tmp_path, config)
    served = Bundle.load(tmp_path).models["fbt"]
    model, _ = shop_model
    basket = rows([0, 1], [5], n_items=model.n_items)
    for got, expected in zip(
        served.complements(basket, 5), model.complements(basket, 5), strict=True
    ):
        np.testing.assert_array_equal(got, expected)
