"""Regressions of issue 15's hostile inputs: absurd prices, someone else's request_id, and the
event store's durability setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_experiments_report import EXPERIMENT, events_table, served_table

from recsys.config import config_from_dict
from recsys.data.incoming import parse_events
from recsys.errors import ConfigError, ParameterError
from recsys.eventstore import StoreError, open_store
from recsys.experiments import Experiments
from recsys.experiments.report import experiment_report
from recsys_serving import create_app

EVENT = {"user_id": "u1", "item_id": "i1", "event_type": "purchase", "timestamp": 1.79e9}


@pytest.mark.parametrize("price", [1e15, 1_000_000.01, float("inf"), float("nan"), -1])
def test_a_price_must_be_finite_and_within_the_bound(price: float) -> None:
    with pytest.raises(ParameterError, match=r"events\.max_price|>= 0") as raised:
        parse_events({"events": [{**EVENT, "price": price}]})
    assert raised.value.parameter == "events[0].price"


def test_the_price_bound_is_a_setting(models_dir: Path, tmp_path: Path) -> None:
    assert parse_events({"events": [{**EVENT, "price": 5e6}]}, max_price=1e7)[0].price == 5e6
    with pytest.raises(ConfigError, match=r"events\.max_price"):
        config_from_dict({"events": {"max_price": -1}})
    client = create_app({
        "models_dir": models_dir, "database_url": f"sqlite:///{tmp_path / 'e.db'}",
        "watch": False, "config": {"server": {"open": True}, "events": {"max_price": 100}},
    }).test_client()  # fmt: skip
    refused = client.post("/v1/events", json={"events": [{**EVENT, "price": 101}]})
    assert refused.status_code == 400 and refused.json["error"]["parameter"] == "events[0].price"
    assert client.post("/v1/events", json={"events": [{**EVENT, "price": 99}]}).status_code == 202


def test_a_purchase_counts_only_for_its_own_users_response() -> None:
    served = served_table([("r1", "u1", "exp", "A", ["i1"], 0.0),
                           ("r2", "u2", "exp", "B", ["i1"], 0.0)])  # fmt: skip
    events = events_table([
        ("u1", "i1", "purchase", 5.0, "r1", 10.0, 1, "o1"),  # u1's own response: counts
        ("u3", "i1", "purchase", 6.0, "r2", 999.0, 1, "o2"),  # u2's request_id: not u3's
        ("u4", "i1", "purchase", 7.0, "r-unknown", 999.0, 1, "o3"),  # unknown request_id
    ])  # fmt: skip
    experiment = Experiments.from_config([EXPERIMENT]).get("exp")
    report = experiment_report(experiment, served, events)
    assert report["variants"]["A"]["revenue"] == 10.0
    assert report["variants"]["B"]["revenue"] == 0.0


def test_sqlite_durability_is_a_url_setting_that_defaults_to_full(tmp_path: Path) -> None:
    for query, level in (("", 2), ("?synchronous=normal", 1)):  # 2: FULL, 1: NORMAL
        url = f"sqlite:///{tmp_path / 'a.db'}{query}"
        with open_store(url) as store, store._connection() as connection:
            assert connection.execute("PRAGMA synchronous").fetchone()[0] == level
    assert (tmp_path / "a.db").is_file()
    for bad in ("?synchronous=off", "?fsync=1"):
        with pytest.raises(StoreError, match="database URL"):
            open_store(f"sqlite:///{tmp_path / 'c.db'}{bad}")


def test_a_batch_call_is_bounded_in_users_times_n(models_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"server\.batch_max_picks"):
        config_from_dict({"server": {"batch_max_picks": 0}})
    client = create_app({
        "models_dir": models_dir, "database_url": f"sqlite:///{tmp_path / 'e.db'}",
        "watch": False, "config": {"server": {"open": True, "batch_max_picks": 50}},
    }).test_client()  # fmt: skip
    users = {"user_ids": [f"u{number}" for number in range(10)]}
    assert client.post("/v1/recommendations/batch?n=5", json=users).status_code == 200
    refused = client.post("/v1/recommendations/batch?n=6", json=users)
    assert refused.status_code == 400 and refused.json["error"]["parameter"] == "user_ids"
    assert "server.batch_max_picks (50)" in refused.json["error"]["message"]
    default = create_app({
        "models_dir": models_dir, "database_url": f"sqlite:///{tmp_path / 'd.db'}",
        "watch": False, "config": {"server": {"open": True}},
    }).test_client()  # fmt: skip
    many = {"user_ids": [f"u{number}" for number in range(1000)]}
    assert default.post("/v1/recommendations/batch?n=20", json=many).status_code == 200
    assert default.post("/v1/recommendations/batch?n=21", json=many).status_code == 400
