"""Forgetting a customer, end to end: a real gunicorn server (2 workers) with a variant pinned to
an older bundle forgets them, and then every answer of every worker, the store's tables, the
access log, a new training from files alone, a new export, new segments and an experiment report
are searched for them; every artefact of the run is searched for the secrets."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import TEST_FORGET_SECRET
from live_server import Server, running_server

from recsys.bundle import Bundle
from recsys.versions import current_version

KEY = "e2e-private-key-7c1f"
CONFIG = """
[server]
api_keys = ["{key}"]
watch_seconds = 0.2
record_served = "all"

[models.als]
factors = 8
iterations = 3

[models.popular]

[[experiments]]
name = "pinned"
salt = "forget"
placements = ["recommendations", "batch", "cross-sell"]
variants = [ {{ name = "A", model = "als", share = 0.5 }},
             {{ name = "B", bundle = "{first}", model = "als", share = 0.5 }} ]
"""
HEADERS = {"X-API-Key": KEY}


def mentions(text: str, user: str) -> bool:
    """Whether `user` occurs in `text` as a whole id (not inside a longer one)."""
    return re.search(rf"(?<![\w-]){re.escape(user)}(?![\w-])", text) is not None


def recsys(folder: Path, env: dict[str, str], *arguments: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "recsys_training.cli", *arguments],
        cwd=folder, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


def personal(body: dict) -> bool:
    return not body["model"].startswith("fallback:")


def pinned_victim(server: Server, users: list[str]) -> str:
    """A customer the pinned variant (B) answers with personal picks."""
    for user in users:
        status, body = server.call("GET", f"/v1/users/{user}/recommendations?n=5", None, HEADERS)
        if status == 200 and body["variant"] == "B" and personal(body):
            return user
    raise AssertionError("no user of the pinned variant")


def answers(server: Server, user: str) -> list[dict]:
    """Every personal answer about `user`, many times (both workers answer some); cross-sell
    for them is asked too (its picks are the basket's, for anyone)."""
    found = []
    for _ in range(12):
        path = f"/v1/users/{user}/recommendations?n=5"
        found.append(server.call("GET", path, None, HEADERS)[1])
        batch = server.call("POST", "/v1/recommendations/batch?n=5", {"user_ids": [user]}, HEADERS)
        found.extend(batch[1]["results"])
        status, _ = server.call("POST", "/v1/cross-sell?n=3",
                                {"items": [server.item], "user_id": user}, HEADERS)  # fmt: skip
        assert status == 200
    return found


def test_a_forgotten_customer_is_gone_from_every_answer_and_artefact(
    models_dir: Path, shop: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    first = str(current_version(models))
    config = tmp_path / "recsys.toml"
    config.write_text(CONFIG.format(key=KEY, first=first))
    users = Bundle.load(models).users.arrow.to_pylist()
    env = {k: v for k, v in os.environ.items() if k != "RECSYS_DATABASE_URL"}
    responses: list[str] = []
    with running_server(tmp_path, models, config) as server:
        store_env = {**env, "RECSYS_DATABASE_URL": server.database_url}
        victim = pinned_victim(server, users[:200])
        other = next(u for u in users if u != victim)
        assert all(personal(body) for body in answers(server, victim)[:3])  # memos filled
        server.call("POST", "/v1/events", {"events": [{"user_id": victim, "item_id": server.item,
                    "event_type": "view", "timestamp": 1_790_000_000}]}, HEADERS)  # fmt: skip

        # one path segment only: the customer of a longer path is not forgotten
        status, _ = server.call("DELETE", f"/v1/users/{other}/recommendations", headers=HEADERS)
        assert status in (404, 405)
        status, body = server.call("DELETE", f"/v1/users/{victim}", headers=HEADERS)
        assert status == 200 and body["user_id"] == victim and body["forgotten"] is True
        assert personal(server.call("GET", f"/v1/users/{other}/recommendations", None, HEADERS)[1])
        status, body = server.call("DELETE", "/v1/users/a%2Fb", headers=HEADERS)
        assert (status, body["user_id"]) == (200, "a/b")  # an id holding "/" is sent as %2F

        after = answers(server, victim)
        assert not any(personal(body) for body in after), after
        stored = server.call("POST", "/v1/events", {"events": [{"user_id": victim, "item_id":
                             server.item, "event_type": "purchase", "timestamp": 1_790_000_001}]},
                             HEADERS)
        assert stored[1]["stored"] == 0  # fmt: skip
        responses += [json.dumps(body) for body in after]

        # retrained from files alone (the store only names who is forgotten), in another folder
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        out = recsys(elsewhere, store_env, "train", "--events", str(shop / "events.parquet"),
                     "--models", str(models), "--config", str(config))  # fmt: skip
        assert "events of forgotten customers" in out
        second = str(current_version(models))
        assert victim not in Bundle.load(models).users
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # both workers on the new CURRENT
            versions = {server.call("GET", "/readyz")[1].get("version") for _ in range(10)}
            if versions == {second}:
                break
            time.sleep(0.1)
        after = answers(server, victim)  # variant B still serves the pinned first bundle
        assert not any(personal(body) for body in after), after
        responses += [json.dumps(body) for body in after]
        report = server.call("GET", "/v1/experiments/pinned/report", headers=HEADERS)[1]
        responses.append(json.dumps(report))
        time.sleep(0.5)  # the served log's writer drains every 0.05 s
    for body in [*after, report]:
        assert not mentions(json.dumps(body).replace(f'"user_id": "{victim}"', ""), victim)

    database = Path(server.database_url.removeprefix("sqlite:///"))
    with sqlite3.connect(database) as connection:
        for (table,) in connection.execute("SELECT name FROM sqlite_master WHERE type='table'"):
            rows = connection.execute(f"SELECT * FROM {table}").fetchall()
            assert not mentions(repr(rows), victim), table
    access_log = (tmp_path / "server.log").read_text()
    assert f"/v1/users/{victim}" not in access_log and "/users/h:" in access_log

    out = recsys(elsewhere, store_env, "export", "--models", str(models / first), "--out",
                 str(tmp_path / "picks.csv"), "--events", str(shop / "events.parquet"))  # fmt: skip
    assert "forgotten customers left out: 1 customers" in out
    assert not mentions((tmp_path / "picks.csv").read_text(), victim)
    out = recsys(elsewhere, store_env, "segments", "--events", str(shop / "events.parquet"),
                 "--out", str(tmp_path / "segments.csv"))  # fmt: skip
    assert not mentions((tmp_path / "segments.csv").read_text(), victim)
    recsys(elsewhere, store_env, "experiment", "report", "pinned", "--config", str(config),
           "--json", str(tmp_path / "experiment.json"))  # fmt: skip
    experiment = json.loads((tmp_path / "experiment.json").read_text())
    assert "forgotten_rows_removed" in experiment and not mentions(str(experiment), victim)
    out = recsys(elsewhere, env, "segments", "--events", str(shop / "events.parquet"),
                 "--out", str(tmp_path / "unfiltered.csv"))  # fmt: skip
    assert "no forgotten list applied" in out  # no store anywhere: said, not silent
    recsys(elsewhere, store_env, "evaluate", "--events", str(shop / "events.parquet"),
           "--config", str(config), "--models", "popular", "--resamples", "10",
           "--report", str(tmp_path / "report"))  # fmt: skip

    for path in [p for p in tmp_path.rglob("*") if p.is_file()]:
        content = path.read_bytes()
        for secret in (KEY, TEST_FORGET_SECRET):
            if path != config:
                assert secret.encode() not in content, f"{secret} in {path}"
    for text in responses:
        assert KEY not in text and TEST_FORGET_SECRET not in text
    assert second != first


@pytest.mark.parametrize("path", ["/v1/users/u1/recommendations", "/v1/users/a/b"])
def test_delete_takes_one_path_segment(path: str) -> None:
    """Without a server: the route refuses a longer path before anything is forgotten."""
    from flask import Flask

    from recsys_serving.http import user_path_id

    app = Flask(__name__)
    with app.test_request_context(path, method="DELETE"), pytest.raises(Exception) as refused:
        user_path_id()
    assert getattr(refused.value, "code", None) == 404
