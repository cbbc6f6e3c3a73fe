"""Experiments defined through POST /admin/experiments: kept in the event store (SQLite, and
PostgreSQL when RECSYS_TEST_POSTGRES_URL is set), validated like [[experiments]] tables, served
after the config's, stopped with DELETE; one end-to-end run through gunicorn with two workers."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from live_server import Server, running_server
from test_eventstore import store_url  # noqa: F401 (the SQLite / PostgreSQL fixture)
from werkzeug.test import TestResponse

from recsys.bundle import Bundle
from recsys.eventstore import EventStore, open_store
from recsys.experiments import Experiments
from recsys_serving import create_app
from recsys_training.cli import main

KEY = "k-admin"
AUTH = {"X-API-Key": KEY}
HOME = {
    "name": "home",
    "placements": ["recommendations"],
    "variants": [
        {"name": "A", "model": "als", "share": 0.3},
        {"name": "B", "model": "popular", "share": 0.3},
    ],
}  # 60% of visitors: the rest can join experiments added after it


EVERYONE = [{"name": "A", "model": "als", "share": 0.5},
            {"name": "B", "model": "popular", "share": 0.5}]  # fmt: skip


def definition(name: str, **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "placements": ["recommendations"],
        "variants": [
            {"name": "A", "model": "als", "share": 0.5},
            {"name": "B", "strategy": "als+diversity=0.3", "share": 0.5},
        ],
        **changes,
    }


def strategy(text: str) -> dict[str, Any]:
    """A definition whose variant B serves the strategy `text`."""
    return definition("x", variants=[{"name": "A", "model": "als", "share": 0.5},
                                     {"name": "B", "strategy": text, "share": 0.5}])  # fmt: skip


def make_app(models: Path, database_url: str) -> Flask:
    return create_app(
        {
            "models_dir": models,
            "database_url": database_url,
            "api_keys": [KEY],
            "watch": False,
            "config": {"server": {"open": True, "max_body_bytes": 4096}, "experiments": [HOME]},
        }
    )


@pytest.fixture
def client(models_dir: Path, tmp_path: Path) -> FlaskClient:
    return make_app(models_dir, f"sqlite:///{tmp_path / 'events.db'}").test_client()


@pytest.fixture(scope="module")
def users(models_dir: Path) -> list[str]:
    bundle = Bundle.load(models_dir)
    return [bundle.users[i] for i in range(300)]


def create(client: FlaskClient, body: Any) -> TestResponse:
    return client.post("/admin/experiments", json=body, headers=AUTH)


def placed(client: FlaskClient, user: str) -> tuple[str, str] | None:
    """The (experiment, variant) the app serves `user` on recommendations."""
    experiments: Experiments = client.application.extensions["recsys"].experiments
    found = experiments.assign("recommendations", user)
    return (found.experiment, found.variant) if found is not None else None


def test_definitions_round_trip(store_url: str) -> None:  # noqa: F811
    with open_store(store_url) as store:
        marks = [store.experiments_mark()]
        assert store.add_experiment("first", definition("first"), 100.0)
        assert store.add_experiment("second", definition("second", salt="s"), 200.0)
        assert not store.add_experiment("first", definition("first", mode="interleave"), 300.0)
        marks.append(store.experiments_mark())
        stopped = store.stop_experiment("first", 400.0)
        assert stopped is not None and stopped.stopped == 400.0
        marks.append(store.experiments_mark())
        assert store.stop_experiment("first", 500.0).stopped == 400.0  # type: ignore[union-attr]
        assert store.stop_experiment("nope", 500.0) is None
        assert store.experiments_mark() == marks[-1]
    assert len(set(marks)) == 3
    with open_store(store_url) as reopened:
        stored = reopened.experiment_definitions()
        assert [(d.name, d.created, d.stopped) for d in stored] == [
            ("first", 100.0, 400.0),
            ("second", 200.0, None),
        ]
        assert stored[0].definition == definition("first")
        assert reopened.experiment_definition("second").definition["salt"] == "s"  # type: ignore[union-attr]
        assert reopened.experiment_definition("nope") is None


def test_create_lists_and_assigns(client: FlaskClient, users: list[str]) -> None:
    created = create(client, definition("later"))
    assert created.status_code == 201, created.json
    body = created.json
    assert (body["name"], body["source"], body["active"]) == ("later", "admin", True)
    assert (body["start"], body["end"]) == (None, None)
    assert body["variants"][1] == {"name": "B", "share": 0.5, "model": "als",
                                   "params": {"diversity": 0.3}}  # fmt: skip
    listed = client.get("/v1/experiments").json["experiments"]
    assert [(e["name"], e["source"]) for e in listed] == [("home", "config"), ("later", "admin")]
    seen = {client.get(f"/v1/users/{u}/recommendations?n=3").json["experiment"] for u in users}
    assert seen == {"home", "later"}  # "later" takes everyone "home" leaves
    report = client.get("/v1/experiments/later/report")
    assert report.status_code == 200 and set(report.json["variants"]) == {"A", "B"}


def test_adding_an_experiment_never_moves_running_visitors(
    client: FlaskClient, users: list[str]
) -> None:
    before = {user: placed(client, user) for user in users}
    assert create(client, definition("later")).status_code == 201
    after = {user: placed(client, user) for user in users}
    home = [u for u, a in before.items() if a is not None]
    assert home and all(after[u] == before[u] for u in home)
    joined = [u for u in users if before[u] is None]
    assert joined and all(after[u] in {("later", "A"), ("later", "B")} for u in joined)


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        (definition("x", variants=[{"name": "A", "model": "als", "share": 0.5},
                                   {"name": "B", "model": "als", "share": 0.9}]), "variants"),
        (definition("x", variants=[{"name": "A", "share": 0.5},
                                   {"name": "B", "share": "half"}]), "variants[1].share"),
        (definition("x", variants=[{"name": "A", "share": 0.5, "colour": 1},
                                   {"name": "B", "share": 0.5}]), "variants[0].colour"),
        (definition("x", mode="sequential"), "mode"),
        (definition("x", placements=["home"]), "placements[0]"),
        (definition("x", start="next week"), "start"),
        (definition("x", start="2026-12-01T00:00:00Z", end="2026-11-01T00:00:00Z"), "end"),
        (definition("x", control="C"), "control"),
        (definition(""), "name"),
        (definition("a/b"), "name"),
        (definition("x", colour="red"), "colour"),
        ({"name": "x"}, "variants"),
        ({}, "name"),
        (definition("x", start=1e20), "start"),
        (definition("x", end=float("-1e300")), "end"),
        (strategy("als+diversity=high"), "variants[1].strategy"),
        (strategy("als+diversity=5"), "variants[1].strategy"),
        (strategy("als+diversity=nan"), "variants[1].strategy"),
        (strategy("als+boost=1"), "variants[1].strategy"),
        (strategy("svd+diversity=0.3"), "variants[1].strategy"),
        (definition("x", variants=[{"name": "A", "model": "als", "share": 0.5},
                                   {"name": "B", "model": "svd", "share": 0.5}]),
         "variants[1].model"),
        (definition("x", variants=[{"name": "A", "share": 0.5},
                                   {"name": "B", "share": 0.5, "params": {"diversity": 5}}]),
         "variants[1].params.diversity"),
    ],
)  # fmt: skip
def test_a_bad_definition_is_a_400_naming_the_key(
    client: FlaskClient, body: dict[str, Any], parameter: str
) -> None:
    response = client.post("/admin/experiments", json=body, headers=AUTH)
    assert response.status_code == 400, response.json
    assert response.json["error"]["parameter"] == parameter, response.json
    assert len(client.get("/v1/experiments").json["experiments"]) == 1


def test_bodies_are_parsed_strictly(client: FlaskClient) -> None:
    post = client.post
    not_object = post("/admin/experiments", json=[definition("x")], headers=AUTH)
    assert not_object.status_code == 400 and not_object.json["error"]["parameter"] == "body"
    broken = post("/admin/experiments", data="{", content_type="application/json", headers=AUTH)
    assert broken.status_code == 400 and broken.json["error"]["parameter"] == "body"
    form = post("/admin/experiments", data="name=x", headers=AUTH)
    assert form.status_code == 415
    huge = definition("x", salt="s" * 5000)
    assert post("/admin/experiments", json=huge, headers=AUTH).status_code == 413


def test_admin_endpoints_need_the_api_key(client: FlaskClient) -> None:
    for headers, status in (({}, 401), ({"X-API-Key": "wrong"}, 403)):
        assert client.post("/admin/experiments", json=definition("x"), headers=headers
                           ).status_code == status  # fmt: skip
        assert client.delete("/admin/experiments/x", headers=headers).status_code == status
    assert client.post("/admin/experiments", json=definition("x"),
                       headers={"Authorization": f"Bearer {KEY}"}).status_code == 201  # fmt: skip


def test_conflicts_and_unknown_names(client: FlaskClient) -> None:
    post, delete = client.post, client.delete
    taken = post("/admin/experiments", json=definition("home"), headers=AUTH)
    assert taken.status_code == 409 and taken.json["error"]["code"] == "conflict"
    configured = delete("/admin/experiments/home", headers=AUTH)
    assert configured.status_code == 409 and "config file" in configured.json["error"]["message"]
    assert delete("/admin/experiments/nope", headers=AUTH).status_code == 404
    assert post("/admin/experiments", json=definition("once"), headers=AUTH).status_code == 201
    assert post("/admin/experiments", json=definition("once"), headers=AUTH).status_code == 409
    assert delete("/admin/experiments/once", headers=AUTH).status_code == 200
    reused = post("/admin/experiments", json=definition("once", salt="new"), headers=AUTH)
    assert reused.status_code == 409 and "never reused" in reused.json["error"]["message"]


def test_stop_ends_assignment_keeps_listing_and_report(
    client: FlaskClient, users: list[str]
) -> None:
    assert create(client, definition("all", variants=EVERYONE)).status_code == 201
    joined = [u for u in users if placed(client, u) in {("all", "A"), ("all", "B")}]
    assert joined
    picks = client.get(f"/v1/users/{joined[0]}/recommendations?n=3").json
    assert picks["experiment"] == "all"

    stopped = client.delete("/admin/experiments/all", headers=AUTH)
    assert stopped.status_code == 200 and stopped.json["active"] is False and stopped.json["end"]
    again = client.delete("/admin/experiments/all", headers=AUTH)
    assert again.status_code == 200 and again.json["end"] == stopped.json["end"]
    picks = client.get(f"/v1/users/{joined[0]}/recommendations?n=3").json
    assert picks["experiment"] is None
    listed = {e["name"]: e for e in client.get("/v1/experiments").json["experiments"]}
    assert listed["all"]["active"] is False and listed["all"]["end"] == stopped.json["end"]
    assert client.get("/v1/experiments/all/report").status_code == 200


def test_every_process_follows_the_store(models_dir: Path, tmp_path: Path) -> None:
    """Two apps on one store stand for two workers: the second serves what the first created once
    it refreshes, and a restart serves it from the start."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    first, second = make_app(models_dir, url), make_app(models_dir, url)
    assert first.test_client().post("/admin/experiments", json=definition("shared"),
                                    headers=AUTH).status_code == 201  # fmt: skip
    assert "shared" not in second.extensions["recsys"].experiments
    second.extensions["recsys.experiments"].refresh()
    assert "shared" in second.extensions["recsys"].experiments
    assert "shared" in make_app(models_dir, url).extensions["recsys"].experiments


def test_a_stored_definition_that_no_longer_validates_is_skipped(
    models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url) as store:  # as earlier versions stored them, unchecked
        store.add_experiment("old", definition("old", retired_key=True), time.time())
        store.add_experiment("far", definition("far", start=1e20), time.time())
        store.add_experiment("high", {**strategy("als+diversity=high"), "name": "high"}, 1.0)
        store.add_experiment("fine", definition("fine"), time.time())
    with caplog.at_level("ERROR", "recsys.server"):
        client = make_app(models_dir, url).test_client()
    assert caplog.text.count("stored_experiment_skipped") == 3 and "retired_key" in caplog.text
    listed = client.get("/v1/experiments")
    assert listed.status_code == 200
    assert [e["name"] for e in listed.json["experiments"]] == ["home", "fine"]
    stopped = client.delete("/admin/experiments/old", headers=AUTH)
    assert stopped.status_code == 200 and stopped.json["active"] is False


def test_cli_reports_a_stored_experiment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    store: EventStore
    with open_store(url) as store:
        store.add_experiment("stored", definition("stored"), time.time())
        store.record_served("r-1", "u1", "recommendations", "stored", "A", "als", ["i1"], 1.0)
    out = tmp_path / "report.json"
    assert main(["experiment", "report", "stored", "--db", url, "--json", str(out)]) == 0
    assert '"experiment": "stored"' in out.read_text()
    assert main(["experiment", "report", "missing", "--db", url]) == 2
    assert "known: stored" in capsys.readouterr().err


E2E_CONFIG = """
[server]
open = true
api_keys = ["k-e2e"]
experiments_refresh_seconds = 0.2

[[experiments]]
name = "similar-items"
placements = ["similar"]
variants = [ { name = "A", model = "als", share = 0.5 },
             { name = "B", model = "popular", share = 0.5 } ]
"""


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("admin-server")
    shutil.copytree(models_dir, folder / "models")
    (folder / "recsys.toml").write_text(E2E_CONFIG)
    with running_server(folder, folder / "models", folder / "recsys.toml", workers=2) as found:
        yield found


def answers_in_a_row(server: Server, user: str, wanted: tuple[str | None, str | None]) -> None:
    """Until 20 answers in a row (each on a new connection, so from either worker) show the user
    in `wanted` (experiment, variant)."""
    deadline, streak = time.monotonic() + 30, 0
    while streak < 20 and time.monotonic() < deadline:
        status, body = server.call("GET", f"/v1/users/{user}/recommendations?n=3")
        assert status == 200, body
        streak = streak + 1 if (body["experiment"], body["variant"]) == wanted else 0
        if not streak:
            time.sleep(0.02)
    assert streak == 20, f"not every worker serves {wanted}"


def test_every_worker_serves_a_created_experiment(server: Server) -> None:
    auth = {"X-API-Key": "k-e2e"}
    everyone = definition("live", variants=EVERYONE)
    status, created = server.call("POST", "/admin/experiments", everyone, headers=auth)
    assert status == 201, created
    variant = Experiments.from_config([everyone]).assign("recommendations", server.user)
    assert variant is not None
    answers_in_a_row(server, server.user, ("live", variant.variant))
    status, listed = server.call("GET", "/v1/experiments")
    assert [(e["name"], e["source"]) for e in listed["experiments"]] == [
        ("similar-items", "config"), ("live", "admin"),
    ]  # fmt: skip
    status, report = server.call("GET", "/v1/experiments/live/report")
    assert status == 200 and report["experiment"] == "live"

    status, stopped = server.call("DELETE", "/admin/experiments/live", headers=auth)
    assert status == 200 and stopped["active"] is False
    answers_in_a_row(server, server.user, (None, None))
    status, report = server.call("GET", "/v1/experiments/live/report")
    assert status == 200 and report["experiment"] == "live"
