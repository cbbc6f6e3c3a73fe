"""The server as clients see it: a real gunicorn process on a loopback port, real HTTP."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import Server, served_copy

from recsys.eventstore import open_store
from recsys.versions import MANIFEST, current_version, publish, set_current

KEY = "test-key-0123"
MAX_BODY = 65_536


@pytest.fixture(scope="session")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """gunicorn (2 gthread workers) serving a copy of `models_dir`, stopped at the end."""
    config = (
        f'[server]\nopen = true\napi_keys = ["{KEY}"]\nmax_body_bytes = {MAX_BODY}\n'
        'watch_seconds = 0.2\n'
        'cors_origins = ["https://shop.example"]\nrecord_served = "all"\n'
    )
    with served_copy(tmp_path_factory.mktemp("server"), models_dir, config) as found:
        yield found


def quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def assert_picks(body: dict[str, Any], n: int | None = None) -> None:
    assert set(body) == {"request_id", "model", "experiment", "variant", "items"}
    assert body["request_id"] and body["model"]
    ids = [item["item_id"] for item in body["items"]]
    assert len(ids) == len(set(ids))
    assert all(isinstance(item["score"], float | int) for item in body["items"])
    if n is not None:
        assert len(ids) == n


def test_every_endpoint_answers_its_happy_path(server: Server) -> None:
    status, body = server.call("GET", f"/v1/users/{server.user}/recommendations?n=5")
    assert status == 200 and body["model"].startswith(("als@", "blend:als@"))
    assert_picks(body, 5)
    status, body = server.call("GET", f"/v1/items/{server.item}/similar?n=4&diversity=0.5")
    assert status == 200 and body["items"][0]["reason"] == f"similar_to:{server.item}"
    assert_picks(body, 4)
    status, body = server.call("POST", "/v1/cross-sell?n=3", {"items": [server.item]})
    assert status == 200 and body["items"][0]["reason"].startswith(("bought_with:", "similar_to:"))
    assert_picks(body, 3)
    status, body = server.call("GET", f"/v1/items/{server.item}/cross-sell?n=3")
    assert status == 200
    assert_picks(body, 3)
    for window in ("", "&window=7d"):
        status, body = server.call("GET", f"/v1/popular?n=6&category=pets{window}")
        assert status == 200 and all("pets" in i["reason"] for i in body["items"])
    status, body = server.call("POST", "/v1/sessions/recommendations?n=5", {"items": [server.item]})
    assert status == 200 and server.item not in [i["item_id"] for i in body["items"]]
    assert_picks(body, 5)
    status, body = server.call("POST", "/v1/recommendations/batch?n=2",
                               {"user_ids": [server.user, "nobody"]})  # fmt: skip
    assert status == 200 and [r["user_id"] for r in body["results"]] == [server.user, "nobody"]
    assert body["results"][1]["model"] == "fallback:popular"
    assert server.call("GET", "/healthz") == (200, {"status": "ok"})
    assert server.call("GET", "/v1/experiments")[0] == 200
    status, spec = server.call("GET", "/openapi.json")
    assert status == 200 and "/v1/users/{user_id}/recommendations" in spec["paths"]
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert "recsys_requests_total" in text and "recsys_request_seconds_bucket" in text
    assert "recsys_model_version" in text and "recsys_fallbacks_total" in text


def test_every_response_is_recorded_for_attribution(server: Server) -> None:
    _, body = server.call("GET", f"/v1/users/{server.user}/recommendations?n=3")
    store = open_store(server.database_url)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        served = store.served_table().to_pylist()
        found = [row for row in served if row["request_id"] == body["request_id"]]
        if found:
            break
        time.sleep(0.1)
    store.close()
    assert found and found[0]["item_ids"] == [item["item_id"] for item in body["items"]]
    assert found[0]["placement"] == "recommendations" and found[0]["model"] == body["model"]


def test_unknown_users_and_items_fall_back_to_popular(server: Server) -> None:
    status, body = server.call("GET", "/v1/users/never-seen/recommendations?n=3&category=pets")
    assert status == 200 and body["model"] == "fallback:popular"
    assert all(i["reason"].startswith("popular_in:pets") for i in body["items"])
    status, body = server.call("GET", "/v1/items/no-such-item/similar?n=3")
    assert status == 200 and body["model"] == "fallback:popular" and len(body["items"]) == 3
    status, body = server.call("POST", "/v1/cross-sell", {"items": []})
    assert status == 200 and body["model"] == "fallback:popular"


BAD_REQUESTS = [
    ("GET", "/v1/users/u/recommendations?n=0", None, 400, "n"),
    ("GET", "/v1/users/u/recommendations?n=10000", None, 400, "n"),
    ("GET", "/v1/users/u/recommendations?n=abc", None, 400, "n"),
    ("GET", "/v1/users/u/recommendations?diversity=2", None, 400, "diversity"),
    ("GET", "/v1/users/u/recommendations?in_stock=maybe", None, 400, "in_stock"),
    ("GET", "/v1/users/u/recommendations?colour=red", None, 400, "colour"),
    ("GET", "/v1/users/" + "x" * 300 + "/recommendations", None, 400, "user_id"),
    ("GET", "/v1/popular?window=30d", None, 400, "window"),
    ("GET", "/v1/users/u/recommendations?category=petz", None, 400, "category"),
    ("POST", "/v1/cross-sell", {"items": "sku-1"}, 400, "items"),
    ("POST", "/v1/cross-sell", {"items": [1, 2]}, 400, "items[0]"),
    ("POST", "/v1/cross-sell", {"basket": []}, 400, "basket"),
    ("POST", "/v1/events", {"events": [{"user_id": "u"}]}, 400, "events[0].item_id"),
    ("POST", "/v1/recommendations/batch", {"user_ids": None}, 400, "user_ids"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "parameter"), BAD_REQUESTS)
def test_bad_parameters_get_a_400_naming_them(
    server: Server, method: str, path: str, body: Any, status: int, parameter: str
) -> None:
    got, answer = server.call(method, path, body)
    assert got == status and answer["error"]["parameter"] == parameter
    assert parameter in answer["error"]["message"]


def test_unicode_ids_malformed_bodies_and_keys_get_their_4xx_and_the_server_stays_up(
    server: Server,
) -> None:
    status, body = server.call("GET", f"/v1/users/{quoted('Zoë/ü 北京')}/recommendations")
    assert status == 200 and body["model"] == "fallback:popular"
    assert server.call("POST", "/v1/cross-sell", raw=b'{"items": [')[0] == 400
    assert server.call("POST", "/v1/cross-sell", raw=b"\xff\xfe")[0] == 400
    status, body = server.call("POST", "/v1/cross-sell", raw=b"items=a", content_type="text/plain")
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
    status, body = server.call("POST", "/v1/events", raw=b"[" + b'"x",' * MAX_BODY + b'"x"]')
    assert status == 413 and body["error"]["code"] == "request_entity_too_large"
    assert server.call("GET", "/v1/nothing-here")[0] == 404
    assert server.call("PUT", "/v1/popular")[0] == 405
    assert server.call("POST", "/admin/reload")[0] == 401
    assert server.call("POST", "/admin/reload", headers={"X-API-Key": "wrong"})[0] == 403
    assert server.call("DELETE", "/v1/users/u1", headers={"Authorization": "Bearer no"})[0] == 403
    assert server.call("GET", "/healthz")[0] == 200


def test_cors_headers_for_a_configured_origin_only(server: Server) -> None:
    def origin_header(origin: str) -> str | None:
        request = urllib.request.Request(server.base + "/healthz", headers={"Origin": origin})
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.headers.get("Access-Control-Allow-Origin")

    assert origin_header("https://shop.example") == "https://shop.example"
    assert origin_header("https://evil.example") is None


def test_fresh_events_change_picks_at_once_and_forgetting_stops_them(server: Server) -> None:
    user = "fresh-visitor-1"
    status, before = server.call("GET", f"/v1/users/{user}/recommendations?n=5")
    assert before["model"] == "fallback:popular"
    events = [{"user_id": user, "item_id": server.item, "event_type": "purchase",
               "timestamp": "2026-11-20T10:00:00Z"}]  # fmt: skip
    assert server.call("POST", "/v1/events", {"events": events})[0] == 202
    status, after = server.call("GET", f"/v1/users/{user}/recommendations?n=5")
    assert status == 200 and "als@" in after["model"]
    assert server.item not in [i["item_id"] for i in after["items"]]  # just bought
    status, _ = server.call("DELETE", f"/v1/users/{user}", headers={"X-API-Key": KEY})
    assert status == 200
    _, gone = server.call("GET", f"/v1/users/{user}/recommendations?n=5")
    assert gone["model"] == "fallback:popular"
    status, _ = server.call("DELETE", f"/v1/users/{server.user}", headers={"X-API-Key": KEY})
    _, known = server.call("GET", f"/v1/users/{server.user}/recommendations?n=5")
    assert known["model"] == "fallback:popular"  # their vector is no longer used


def test_events_posted_from_many_threads_all_land_in_the_store(server: Server) -> None:
    store = open_store(server.database_url)
    before = store.count()
    threads, posts, per_post = 12, 8, 5
    statuses: list[int] = []

    def post(thread: int) -> None:
        for p in range(posts):
            events = [{"user_id": f"load-{thread}", "item_id": f"i-{p}-{k}",
                       "event_type": "view", "timestamp": 1_790_000_000 + k}
                      for k in range(per_post)]  # fmt: skip
            statuses.append(server.call("POST", "/v1/events", {"events": events})[0])

    workers = [threading.Thread(target=post, args=(t,)) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert statuses == [202] * threads * posts
    assert store.count() - before == threads * posts * per_post
    store.close()


def test_reload_under_traffic_drops_no_request_and_refuses_a_damaged_bundle(
    server: Server,
) -> None:
    first = current_version(server.models)
    failures: list[Any] = []
    answered = [0]
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                status, _ = server.call("GET", f"/v1/users/{server.user}/recommendations?n=5")
            except OSError as exc:
                failures.append(exc)
                continue
            answered[0] += 1
            if status != 200:
                failures.append(status)

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        second = publish_copy(server.models).name
        status, body = server.call("POST", "/admin/reload", headers={"X-API-Key": KEY})
        assert status == 200 and body["version"] in (first, second)
        wait_for_version(server, second)
        damaged = damaged_copy(server.models)
        set_current(server.models, damaged)
        status, body = server.call("POST", "/admin/reload", headers={"X-API-Key": KEY})
        assert status == 409 and body["error"]["code"] == "bundle_refused"
        time.sleep(0.5)  # both workers' file watches see the damaged bundle and refuse it
        assert all(server.call("GET", "/readyz")[1]["version"] == second for _ in range(10))
    finally:
        stop.set()
        for worker in workers:
            worker.join()
        set_current(server.models, first)
    assert failures == [] and answered[0] > 0


def publish_copy(models: Path) -> Path:
    source = models / str(current_version(models))

    def write(folder: Path) -> dict[str, Any]:
        for path in source.iterdir():
            if path.name != MANIFEST:
                (shutil.copytree if path.is_dir() else shutil.copy2)(path, folder / path.name)
        manifest = json.loads((source / MANIFEST).read_text())
        return {k: v for k, v in manifest.items() if k not in ("version", "files")}

    return publish(models, write)


def damaged_copy(models: Path) -> str:
    name = "damaged-copy"
    shutil.copytree(models / str(current_version(models)), models / name)
    with open(models / name / "models" / "als" / "item_factors.npy", "r+b") as fh:
        fh.seek(-4, os.SEEK_END)
        fh.write(b"\x00\x01\x02\x03")
    return name


def wait_for_version(server: Server, version: str) -> None:
    """Until ten answers in a row (whichever worker) come from `version`."""
    deadline, streak = time.monotonic() + 20, 0
    while streak < 10 and time.monotonic() < deadline:
        streak = streak + 1 if server.call("GET", "/readyz")[1]["version"] == version else 0
        time.sleep(0.02)
    assert streak >= 10, f"version {version} not served by every worker"
