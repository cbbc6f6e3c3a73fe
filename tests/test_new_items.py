"""New products from the first minute, through a real server (gunicorn, 2 workers, loopback): an
item posted to POST /v1/items gets similar items and cross-sell by content on every worker within
the refresh time, appears in known items' similar lists and personal picks through explore_new,
and leads the new arrivals, which honour availability and category."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import Server, served_copy

from recsys.bundle import Bundle

KEY = "new-items-key-0123"
REFRESH = 0.3
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("new-items")
    config = (f'[server]\nopen = true\napi_keys = ["{KEY}"]\n'
              f"catalogue_refresh_seconds = {REFRESH}\nexplore_new = 0.1\n")  # fmt: skip
    with served_copy(folder, models_dir, config) as found:
        yield found


def known_item(server: Server) -> tuple[str, str, str]:
    """The server's known item: id, title and category."""
    catalogue = Bundle.load(server.models).catalogue
    assert catalogue is not None
    row = catalogue.table.slice(0, 1).to_pylist()[0]
    assert row["item_id"] == server.item
    return row["item_id"], row["title"], row["category"]


def on_every_worker(check: Callable[[], bool], rounds: int = 8) -> None:
    """Until `check` holds `rounds` times in a row (both workers answer), at most 3 x refresh."""
    deadline = time.monotonic() + 3 * REFRESH + 2
    streak = 0
    while streak < rounds:
        streak = streak + 1 if check() else 0
        if streak < rounds:
            assert time.monotonic() < deadline, "not served by every worker in time"
            time.sleep(0.02)


def answer(server: Server, method: str, path: str, body: Any = None) -> dict[str, Any]:
    status, found = server.call(method, path, body)
    assert status == 200, found
    return found


def ids(found: dict[str, Any]) -> list[str]:
    return [entry["item_id"] for entry in found["items"]]


def test_a_new_item_gets_similar_items_and_cross_sell_by_content(server: Server) -> None:
    item, title, category = known_item(server)
    new = {"item_id": "brand-new-1", "title": f"{title} deluxe", "category": category,
           "in_stock": True, "price": 9.5, "properties": {"brand": "acme"}}  # fmt: skip
    assert server.call("POST", "/v1/items", {"items": [new]}, AUTH)[0] == 200
    similar = "/v1/items/brand-new-1/similar?n=10"
    on_every_worker(lambda: answer(server, "GET", similar)["model"].startswith("content@"))
    found = answer(server, "GET", similar)
    assert len(found["items"]) == 10 and "brand-new-1" not in ids(found)
    assert item in ids(found)[:3]  # the look-alike it was copied from
    assert found["items"][0]["reason"] == f"same_category:{category}"
    for path, body in (("/v1/items/brand-new-1/cross-sell?n=10", None),
                       ("/v1/cross-sell?n=10", {"items": ["brand-new-1"]})):  # fmt: skip
        crossed = answer(server, "GET" if body is None else "POST", path, body)
        assert crossed["model"].startswith("content@"), crossed
        assert len(crossed["items"]) == 10 and "brand-new-1" not in ids(crossed)
    filtered = answer(server, "GET", f"{similar}&filter=" + urllib.parse.quote("price < 5"))
    assert filtered["items"]  # refilled, every one under 5
    assert server.call("GET", "/v1/items/brand-new-1/similar?filter=nope%20%3D%201")[0] == 400


def test_explore_new_puts_new_items_in_known_lists(server: Server) -> None:
    item, title, category = known_item(server)
    new = {"item_id": "brand-new-2", "title": f"{title} limited", "category": category}
    assert server.call("POST", "/v1/items", {"items": [new]}, AUTH)[0] == 200

    def explored() -> bool:
        found = answer(server, "GET", f"/v1/items/{item}/similar?n=10")
        entries = {e["item_id"]: e.get("reason") for e in found["items"]}
        return len(entries) == 10 and entries.get("brand-new-2") == f"new_in:{category}"

    on_every_worker(explored)
    picks = answer(server, "GET", f"/v1/users/{server.user}/recommendations?n=10")
    reasons = [entry.get("reason") or "" for entry in picks["items"]]
    assert len(reasons) == 10 and sum(r.startswith("new_in:") for r in reasons) == 1, reasons
    few = answer(server, "GET", f"/v1/users/{server.user}/recommendations?n=3")
    assert not any((e.get("reason") or "").startswith("new_in:") for e in few["items"])


def test_new_arrivals_are_newest_first_and_honour_availability_and_category(
    server: Server,
) -> None:
    _, _, category = known_item(server)
    other = "elsewhere/new"
    items = [{"item_id": "arrival-a", "title": "First arrival", "category": category},
             {"item_id": "arrival-b", "title": "Second arrival", "category": other}]  # fmt: skip
    for entry in items:  # two writes: b is newer
        assert server.call("POST", "/v1/items", {"items": [entry]}, AUTH)[0] == 200
        time.sleep(0.01)

    def newest() -> bool:
        return ids(answer(server, "GET", "/v1/new-arrivals?n=2")) == ["arrival-b", "arrival-a"]

    on_every_worker(newest)
    found = answer(server, "GET", "/v1/new-arrivals?n=20")
    assert found["model"].startswith("content@") and len(found["items"]) == 20  # refilled
    assert found["items"][0]["reason"] == f"new_in:{other}"
    top = category.split("/")[0]
    in_category = answer(server, "GET", f"/v1/new-arrivals?n=5&category={top}")
    assert "arrival-a" in ids(in_category) and "arrival-b" not in ids(in_category)
    assert ids(answer(server, "GET", "/v1/new-arrivals?n=1&category=elsewhere")) == ["arrival-b"]
    gone = {"items": [{"item_id": "arrival-b", "in_stock": False}]}
    assert server.call("POST", "/v1/items", gone, AUTH)[0] == 200
    on_every_worker(lambda: "arrival-b" not in ids(answer(server, "GET", "/v1/new-arrivals")))
    assert "arrival-b" in ids(answer(server, "GET", "/v1/new-arrivals?in_stock=false"))
    assert server.call("GET", "/v1/new-arrivals?n=0")[0] == 400
    assert server.call("GET", "/v1/new-arrivals?diversity=0.5")[1]["error"]["parameter"] == (
        "diversity"
    )
