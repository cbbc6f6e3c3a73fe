"""The Flask app in-process (app.test_client()): parsing details, errors, keys, OpenAPI, start-up
without a bundle."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import TEST_FORGET_SECRET
from flask import Flask
from flask.testing import FlaskClient

from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.data.incoming import IncomingEvent
from recsys.eventstore import open_store
from recsys.privacy import ForgetKey
from recsys.versions import current_version, set_current
from recsys_serving import create_app
from recsys_serving.activity import ActivityMap
from recsys_serving.observe import OwnHandler, access_log
from recsys_serving.openapi import openapi_path
from recsys_serving.state import ServedLog
from recsys_training.pipeline import train

KEY = "k-in-process"


def make_app(
    models: Path, tmp_path: Path, experiments: list[dict[str, Any]] | None = None, **server: Any
) -> Flask:
    return create_app(
        {
            "models_dir": models,
            "database_url": f"sqlite:///{tmp_path / 'events.db'}",
            "api_keys": [KEY],
            "watch": False,
            "config": {
                "server": {"open": True, "max_body_bytes": 4096, **server},
                "experiments": experiments or [],
            },
        }
    )


@pytest.fixture(scope="module")
def client(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    app = make_app(models_dir, tmp_path_factory.mktemp("app"), cors_origins=["*"])
    return app.test_client()


@pytest.fixture(scope="module")
def user(models_dir: Path) -> str:
    return Bundle.load(models_dir).users[0]


@pytest.mark.parametrize(
    "query",
    ["n=1", "n=100", "diversity=0", "diversity=1", "diversity=.25", "in_stock=false",
     "in_stock=TRUE", "exclude=a,,b", "category=pets/cat_food", "experiment=none"],
)  # fmt: skip
def test_valid_parameters_are_accepted(client: FlaskClient, user: str, query: str) -> None:
    response = client.get(f"/v1/users/{user}/recommendations?{query}")
    assert response.status_code == 200, response.json


@pytest.mark.parametrize(
    ("query", "parameter"),
    [("n=101", "n"), ("n=-1", "n"), ("n=1.5", "n"), ("n=%205", "n"), ("n=", "n"),
     ("n=1&n=2", "n"), ("diversity=nan", "diversity"), ("diversity=-0.1", "diversity"),
     ("diversity=1e1", "diversity"), ("in_stock=2", "in_stock"), ("category=", "category"),
     ("exclude=" + ",".join(["x"] * 1001), "exclude"), ("exclude=" + "y" * 300, "exclude[0]")],
)  # fmt: skip
def test_invalid_parameters_are_named(client: FlaskClient, query: str, parameter: str) -> None:
    response = client.get(f"/v1/users/u/recommendations?{query}")
    assert response.status_code == 400
    assert response.json["error"] == {
        "code": "bad_parameter",
        "message": response.json["error"]["message"],
        "parameter": parameter,
    }


def test_responses_carry_request_ids_and_cors(client: FlaskClient) -> None:
    response = client.get("/v1/popular?n=2", headers={"X-Request-ID": "abc-123", "Origin": "x"})
    assert response.json["request_id"] == "abc-123" == response.headers["X-Request-ID"]
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    fresh = client.get("/v1/popular?n=2", headers={"X-Request-ID": "bad id with spaces"})
    assert fresh.json["request_id"].startswith("r-")


def test_body_limit_and_content_type(client: FlaskClient) -> None:
    big = client.post("/v1/cross-sell", json={"items": ["x" * 100] * 100})
    assert big.status_code == 413 and big.json["error"]["code"] == "request_entity_too_large"
    wrong = client.post("/v1/cross-sell", data="{}", content_type="text/plain")
    assert wrong.status_code == 415
    listed = client.post("/v1/cross-sell", json=["a"])
    assert listed.status_code == 400 and listed.json["error"]["parameter"] == "body"


def test_api_keys_in_either_header(client: FlaskClient) -> None:
    assert client.post("/admin/reload").status_code == 401
    assert client.post("/admin/reload", headers={"Authorization": "Basic abc"}).status_code == 401
    assert client.post("/admin/reload", headers={"X-API-Key": KEY + "x"}).status_code == 403
    assert client.post("/admin/reload", headers={"X-API-Key": KEY}).status_code == 200
    good = client.post("/admin/reload", headers={"Authorization": f"Bearer {KEY}"})
    assert good.status_code == 200 and good.json["reloaded"] is False


def test_openapi_describes_exactly_the_registered_routes(client: FlaskClient) -> None:
    app = client.application
    spec = client.get("/openapi.json").json
    routes = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    described = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert described == routes
    assert spec["paths"]["/v1/users/{user_id}/recommendations"]["get"]["summary"]


def test_popular_answers_the_trending_window_of_the_bundle(shop: Path, tmp_path: Path) -> None:
    config = config_from_dict({"models": {"popular": {"window_days": 3}}})
    train(shop / "events.parquet", tmp_path / "models", config)
    client = make_app(tmp_path / "models", tmp_path).test_client()
    assert client.get("/v1/popular?window=3d").status_code == 200
    response = client.get("/v1/popular?window=7d")
    assert response.status_code == 400 and response.json["error"]["parameter"] == "window"
    assert "3d" in response.json["error"]["message"]


def test_the_server_starts_without_a_bundle(tmp_path: Path) -> None:
    client = make_app(tmp_path / "empty", tmp_path).test_client()
    assert client.get("/healthz").status_code == 200
    for response in (client.get("/readyz"), client.get("/v1/users/u/recommendations")):
        assert response.status_code == 503 and response.json["error"]["code"] == "no_model"
    refused = client.post("/admin/reload", headers={"X-API-Key": KEY})
    assert refused.status_code == 409 and refused.json["error"]["code"] == "bundle_refused"


def test_a_bug_is_a_logged_json_500_without_traceback(models_dir: Path, tmp_path: Path) -> None:
    app = make_app(models_dir, tmp_path)
    app.add_url_rule("/boom", "boom", lambda: 1 // 0)
    response = app.test_client().get("/boom", headers={"X-API-Key": KEY})  # unlisted: private
    assert response.status_code == 500 and response.json["error"]["code"] == "internal"
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_process_starting_on_a_damaged_bundle_serves_the_newest_good_one(
    models_dir: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    good = current_version(models)
    shutil.copytree(models / str(good), models / "zz-damaged")
    (models / "zz-damaged" / "items.arrow").write_bytes(b"not arrow")
    set_current(models, "zz-damaged")
    client = make_app(models, tmp_path).test_client()
    assert client.get("/readyz").json["version"] == good


def test_experiment_variants_choose_the_model_and_are_named(
    models_dir: Path, tmp_path: Path, user: str
) -> None:
    experiment = {"name": "home", "placements": ["recommendations"], "salt": "s",
                  "variants": [{"name": "pop", "model": "popular", "share": 1.0},
                               {"name": "als", "model": "als", "share": 0.0}]}  # fmt: skip
    app = make_app(models_dir, tmp_path, [experiment])
    body = app.test_client().get(f"/v1/users/{user}/recommendations?n=3").json
    assert (body["experiment"], body["variant"]) == ("home", "pop")
    assert body["model"].startswith(("popular@", "blend:popular@"))
    listed = app.test_client().get("/v1/experiments").json
    assert [e["name"] for e in listed["experiments"]] == ["home"]


def test_only_responses_in_an_experiment_are_recorded_by_default(
    models_dir: Path, tmp_path: Path, user: str
) -> None:
    """Only experiment reports read the served log: other responses are not written unless
    server.record_served = "all" (the live-server tests cover that mode)."""
    experiment = {"name": "home", "placements": ["recommendations"],
                  "variants": [{"name": "A", "model": "als", "share": 0.5},
                               {"name": "B", "model": "popular", "share": 0.5}]}  # fmt: skip
    app = make_app(models_dir, tmp_path, [experiment])
    client = app.test_client()
    inside = client.get(f"/v1/users/{user}/recommendations?n=3").json
    outside = client.get(f"/v1/items/{Bundle.load(models_dir).items[0]}/similar?n=3").json
    assert inside["experiment"] == "home" and outside["experiment"] is None
    app.extensions["recsys"].served_log.drain()
    with open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        recorded = store.served_table().column("request_id").to_pylist()
    assert recorded == [inside["request_id"]]


def test_served_log_drains_in_batches_and_drops_beyond_its_bound(tmp_path: Path) -> None:
    dropped = []
    with open_store(f"sqlite:///{tmp_path / 'served.db'}") as store:
        served = ServedLog(store, capacity=1200, on_drop=dropped.append, batch=500)
        for i in range(1250):
            served.put(f"r{i}", "u", "recommendations", None, None, "als@v", ["a"], float(i))
        assert served.drain() == 1200 and len(dropped) == 50
        assert store.served_table().column("request_id").to_pylist()[-1] == "r1199"
        assert served.drain() == 0


def test_access_log_lines_are_json_with_the_request_id(client: FlaskClient, user: str) -> None:
    handler = access_log.handlers[0]
    assert isinstance(handler, OwnHandler)
    previous = handler.setStream(io.StringIO())
    try:
        response = client.get(f"/v1/users/{user}/recommendations?n=2")
        handler.write_queued()  # the background thread does this every FLUSH_SECONDS
        lines = [json.loads(line) for line in handler.stream.getvalue().splitlines()]
    finally:
        handler.setStream(previous)
    mine = [line for line in lines if line["request_id"] == response.json["request_id"]]
    assert len(mine) == 1 and mine[0]["status"] == 200 and mine[0]["model"]


def test_the_activity_map_built_after_a_restart_knows_stored_and_forgotten_users(
    tmp_path: Path,
) -> None:
    """A worker starting on an existing store must still see who has fresh events, or their
    next picks would silently ignore them."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url, ForgetKey(TEST_FORGET_SECRET)) as store:
        store.append([IncomingEvent("active-user", "i1", "view", 1_790_000_000.0)])
        store.forget_user("gone-user")
        activity = ActivityMap.for_store(url, store)
        assert activity is not None
        assert activity.maybe_active("active-user") and activity.maybe_active("gone-user")
        assert not activity.maybe_active("someone-else")
        activity.mark(["someone-else"])
        assert ActivityMap.for_store(url, store).maybe_active("someone-else")  # shared file
