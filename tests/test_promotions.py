"""Promotions (`[[promotions]]`, recsys.service.promotions): checked when the config loads, and on
every recommendation endpoint of a server (Flask's test client over the generated shop's bundle)
each reserves its share of the slots for matching items, labelled promotion:<name>."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.errors import ConfigError
from recsys_serving import create_app

PROMOTIONS = [
    {"name": "garden", "filter": 'category = "garden"', "share": 0.2},
    {"name": "elsewhere", "filter": "no_such_field = 1", "share": 0.1},  # skipped: unknown field
]


@pytest.mark.parametrize(
    ("promotions", "key", "reason"),
    [
        ([{"name": "a", "filter": "price <", "share": 0.1}], "promotions[0].filter", "position"),
        ([{"name": "a", "filter": "price < 1", "share": 1.5}], "promotions[0].share", "between"),
        ([{"name": "a", "filter": "price < 1"}], "promotions[0].share", "required"),
        ([{"name": "a", "filter": "x = 1", "share": 0.1, "extra": 1}], "promotions[0].extra",
         "unknown"),
        ([{"name": "a", "filter": "x = 1", "share": 0.6}, {"name": "a", "filter": "x = 2",
                                                          "share": 0.1}],
         "promotions[1].name", "twice"),
        ([{"name": "a", "filter": "x = 1", "share": 0.6}, {"name": "b", "filter": "x = 2",
                                                          "share": 0.6}], "promotions", "add up"),
        ({"name": "a"}, "promotions", "array of tables"),
    ],
)  # fmt: skip
def test_bad_promotions_are_refused_naming_the_key(promotions: Any, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as raised:
        config_from_dict({"promotions": promotions})
    assert raised.value.key == key and reason in str(raised.value)


def app_of(models_dir: Path, folder: Path) -> FlaskClient:
    return create_app({
        "models_dir": models_dir, "database_url": f"sqlite:///{folder / 'events.db'}",
        "watch": False, "config": {"server": {"open": True}, "promotions": PROMOTIONS},
    }).test_client()  # fmt: skip


@pytest.fixture(scope="module")
def client(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    return app_of(models_dir, tmp_path_factory.mktemp("promotions"))


def test_a_promotion_the_bundle_cannot_apply_is_logged(
    models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="recsys.server"):
        app_of(models_dir, tmp_path)
    lines = [r.getMessage() for r in caplog.records if "promotion_skipped" in r.getMessage()]
    assert len(lines) == 1 and '"elsewhere"' in lines[0] and "no_such_field" in lines[0]


def test_each_list_gives_a_promotion_its_share(client: FlaskClient, models_dir: Path) -> None:
    bundle = Bundle.load(models_dir)
    assert bundle.catalogue is not None
    category = dict(
        zip(
            bundle.items.arrow.to_pylist(),
            bundle.catalogue.table.column("category").to_pylist(),
            strict=True,
        )
    )
    pets_item = next(i for i, c in category.items() if c.startswith("pets/"))
    user = bundle.users[0]
    calls = [("GET", f"/v1/users/{user}/recommendations", None),
             ("GET", f"/v1/items/{pets_item}/similar", None),
             ("GET", f"/v1/items/{pets_item}/cross-sell", None),
             ("POST", "/v1/sessions/recommendations", {"items": [pets_item]}),
             ("GET", "/v1/popular", None), ("GET", "/v1/popular?window=7d", None)]  # fmt: skip
    labelled = 0
    for method, path, body in calls:
        joined = "&" if "?" in path else "?"
        answer = client.open(f"{path}{joined}n=10", method=method, json=body)
        assert answer.status_code == 200, answer.json
        items = answer.json["items"]
        assert len(items) == 10 and len({e["item_id"] for e in items}) == 10, path
        in_garden = [e for e in items if category[e["item_id"]].startswith("garden/")]
        assert len(in_garden) >= 2, (path, items)
        pulled = [e for e in items if e.get("reason") == "promotion:garden"]
        assert all(category[e["item_id"]].startswith("garden/") for e in pulled)
        labelled += len(pulled)
        few = client.open(f"{path}{joined}n=4", method=method, json=body).json["items"]
        assert not any(e.get("reason") == "promotion:garden" for e in few)  # 0.2 of 4: none
    assert labelled > 0
