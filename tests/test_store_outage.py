"""A store outage degrades instead of failing (in-process; tests/test_store_outage_live.py stops a
real PostgreSQL under a real server): the backoff, a store opened while unreachable, and the app's
answers while the store is down, with its outage clock frozen so that no try falls due."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from live_server import free_port

from recsys.bundle import Bundle
from recsys.eventstore import StoreError, StoreUnavailable, open_store
from recsys.eventstore.outage import Outage
from recsys_serving import create_app
from recsys_serving.state import ServedLog

KEY = "k-outage"
H = {"X-API-Key": KEY}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_backoff_fails_fast_tries_once_when_due_and_doubles_to_its_bound() -> None:
    clock = Clock()
    outage = Outage(first=0.25, longest=1.0, clock=clock)
    assert outage.check("db") == 0 and not outage.down
    assert outage.failed("refused") and not outage.failed("refused again")  # one outage
    waits = []
    for _ in range(5):
        with pytest.raises(StoreUnavailable) as caught:
            outage.check("db")
        waits.append(caught.value.retry_after)
        clock.now += caught.value.retry_after
        outage.check("db")  # this caller's try; the others fail until the next one is due
        with pytest.raises(StoreUnavailable):
            outage.check("db")
    assert waits == [0.25, 0.25, 0.5, 1.0, 1.0]
    outage.recovered(0)  # a call under way before the outage began ends nothing
    assert outage.down
    clock.now += 5
    outage.tried_in_background = True  # a server's watch thread makes the tries, never a request
    with pytest.raises(StoreUnavailable):
        outage.check("db")
    with outage.trying():
        outage.recovered(outage.check("db"))
    assert not outage.down and outage.check("db") == 1


def test_a_store_opened_while_unreachable_fails_fast_until_it_answers() -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"  # nothing listens there
    with pytest.raises(StoreUnavailable, match="event store"):
        open_store(url)
    store = open_store(url, unreachable_ok=True)
    assert store.outage.down
    started = time.perf_counter()
    for _ in range(100):
        with pytest.raises(StoreUnavailable):
            store.append([])  # nothing to write: returns before the store
            store.count()
    assert time.perf_counter() - started < 1.0  # no connect attempt each time
    assert isinstance(StoreUnavailable("x", 1.0), StoreError)  # every 503 path still holds


@pytest.fixture
def app(models_dir: Path, tmp_path: Path) -> Flask:
    return create_app({
        "models_dir": models_dir, "database_url": f"sqlite:///{tmp_path / 'events.db'}",
        "api_keys": [KEY], "watch": False, "config": {"server": {"record_served": "all"}},
    })  # fmt: skip


def take_down(app: Flask) -> None:
    """An outage whose next try never falls due (the clock is frozen)."""
    store = app.extensions["recsys"].store
    store.outage = Outage(clock=Clock())
    store.outage.failed("the test took it down")


def event(user: str, item: str) -> dict[str, Any]:
    return {"events": [{"user_id": user, "item_id": item, "event_type": "view"}]}


def assert_refused(response: Any) -> None:
    assert response.status_code == 503, response.json
    assert response.json["error"]["code"] == "store_unavailable"
    assert int(response.headers["Retry-After"]) >= 1


def test_while_the_store_is_down_picks_come_from_the_bundle_and_writes_are_refused(
    app: Flask, models_dir: Path
) -> None:
    bundle = Bundle.load(models_dir)
    user, gone, item = bundle.users[0], bundle.users[1], bundle.items[0]
    client: FlaskClient = app.test_client()
    assert client.post("/v1/events", json=event(user, item), headers=H).status_code == 202
    assert client.delete(f"/v1/users/{gone}", headers=H).status_code == 200
    app.extensions["recsys"].watch.refresh()
    fresh = client.get(f"/v1/users/{user}/recommendations", headers=H).json
    assert "degraded" not in fresh
    take_down(app)

    picks = client.get(f"/v1/users/{user}/recommendations", headers=H)
    assert picks.status_code == 200 and picks.json["degraded"] == "store_unavailable"
    forgotten = client.get(f"/v1/users/{gone}/recommendations", headers=H).json
    assert forgotten["model"] == "fallback:popular"  # never their personal picks
    batch = client.post("/v1/recommendations/batch", json={"user_ids": [user]}, headers=H)
    assert batch.status_code == 200 and batch.json["results"][0]["degraded"] == "store_unavailable"
    similar = client.get(f"/v1/items/{item}/similar", headers=H)
    assert similar.status_code == 200 and "degraded" not in similar.json
    basket = client.post("/v1/cross-sell", json={"items": [item], "user_id": gone}, headers=H)
    assert basket.status_code == 200
    assert_refused(client.post("/v1/events", json=event(user, item), headers=H))
    assert_refused(client.delete(f"/v1/users/{user}", headers=H))
    assert_refused(client.post("/v1/items", json={"items": [{"item_id": "new", "title": "x"}]},
                               headers=H))  # fmt: skip
    experiment = {"name": "e1", "variants": [{"name": "A", "share": 0.5, "model": "als"},
                                             {"name": "B", "share": 0.5, "model": "popular"}]}
    assert_refused(client.post("/admin/experiments", json=experiment, headers=H))

    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json["status"] == "degraded"
    assert ready.json["degraded"]["event_store"]["personal_picks"] == "bundle_only"
    assert_refused(client.get("/readyz?strict=true"))
    assert client.get("/readyz?strict=maybe").json["error"]["parameter"] == "strict"
    served = app.extensions["recsys"].served_log
    assert served.drain() == 0 and not served._pending  # dropped and counted, never kept
    app.extensions["recsys"].watch.refresh()  # its thread would on its next look
    metrics = app.extensions["recsys"].metrics.registry
    assert metrics.get_sample_value("recsys_store_available") == 0
    answers = metrics.get_sample_value("recsys_degraded_answers_total",
                                       {"endpoint": "recommendations"})  # fmt: skip
    assert answers == 2  # the forgotten customer's answer too: it did without the store
    assert metrics.get_sample_value("recsys_served_log_dropped_total") > 0


def test_without_a_forgotten_list_personal_picks_are_refused(models_dir: Path) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/none"
    app = create_app({"models_dir": models_dir, "database_url": url, "api_keys": [KEY],
                      "watch": False})  # fmt: skip
    client = app.test_client()
    user = Bundle.load(models_dir).users[0]
    assert client.get("/readyz").json["degraded"]["event_store"]["personal_picks"] == "refused"
    assert_refused(client.get(f"/v1/users/{user}/recommendations", headers=H))
    assert_refused(client.post("/v1/recommendations/batch", json={"user_ids": [user]}, headers=H))
    # a basket with a user id is answered as for a new visitor: nothing of theirs is used
    item = Bundle.load(models_dir).items[0]
    basket = client.post("/v1/cross-sell", json={"items": [item], "user_id": user}, headers=H)
    assert basket.status_code == 200


def test_the_served_log_drops_and_counts_rather_than_grows(tmp_path: Path) -> None:
    dropped: list[int] = []
    with open_store(f"sqlite:///{tmp_path / 'served.db'}") as store:
        store.outage = Outage(clock=Clock())
        store.outage.failed("down")
        served = ServedLog(store, capacity=50, on_drop=dropped.append, batch=20)
        for number in range(80):
            served.put(f"r{number}", "u", "recommendations", None, None, "als", ["i"], 1.0)
        assert served.drain() == 0
    assert sum(dropped) == 80 and not served._pending  # 30 over capacity, 50 refused
