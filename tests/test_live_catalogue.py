"""The live catalogue through a real server (gunicorn, 2 workers, loopback): an item changed on one
worker's request stops being recommended by every worker within the refresh time, on every
endpoint, after a restart too, and in `recsys export`."""

from __future__ import annotations

import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow.csv as pa_csv
import pytest
from live_server import Server, running_server

from recsys_training.cli import main

KEY = "catalogue-key-0123"
REFRESH = 0.3
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def folder(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    found = tmp_path_factory.mktemp("live-catalogue")
    shutil.copytree(models_dir, found / "models")
    (found / "recsys.toml").write_text(
        f'[server]\nopen = true\napi_keys = ["{KEY}"]\ncatalogue_refresh_seconds = {REFRESH}\n'
    )
    return found


@pytest.fixture(scope="module")
def server(folder: Path) -> Iterator[Server]:
    with running_server(folder, folder / "models", folder / "recsys.toml") as found:
        yield found


def quoted(value: str) -> str:
    return urllib.parse.quote(value, safe="")


def recommended(server: Server, rounds: int = 8) -> set[str]:
    """Every item id any endpoint recommends, asked `rounds` times (both workers answer)."""
    item, user = server.item, server.user
    calls: list[tuple[str, str, Any]] = [
        ("GET", f"/v1/users/{user}/recommendations?n=30", None),
        ("GET", f"/v1/items/{item}/similar?n=30", None),
        ("GET", f"/v1/items/{item}/cross-sell?n=30", None),
        ("POST", "/v1/cross-sell?n=30", {"items": [item]}),
        ("GET", "/v1/popular?n=30", None),
        ("GET", "/v1/popular?n=30&window=7d", None),
        ("POST", "/v1/sessions/recommendations?n=30", {"items": [item]}),
    ]
    found: set[str] = set()
    for _ in range(rounds):
        for method, path, body in calls:
            status, answer = server.call(method, path, body)
            assert status == 200, answer
            assert len(answer["items"]) == 30, path  # refilled, never short
            found.update(entry["item_id"] for entry in answer["items"])
        status, answer = server.call("POST", "/v1/recommendations/batch?n=30",
                                     {"user_ids": [user, "someone-new"]})  # fmt: skip
        assert status == 200
        for result in answer["results"]:
            assert len(result["items"]) == 30
            found.update(entry["item_id"] for entry in result["items"])
    return found


def popular_ids(server: Server, n: int) -> list[str]:
    return [entry["item_id"] for entry in server.call("GET", f"/v1/popular?n={n}")[1]["items"]]


def test_changed_items_leave_every_worker_within_the_refresh_time(server: Server) -> None:
    top = popular_ids(server, 4)
    before = recommended(server, rounds=1)
    assert set(top) <= before
    gone = {top[0]: {"in_stock": False}, top[1]: {"hidden": True},
            top[2]: {"available_until": time.time() - 5}}  # fmt: skip
    body = {"items": [{"item_id": item, **change} for item, change in gone.items()]}
    assert server.call("POST", "/v1/items", body, AUTH)[0] == 200
    status, answer = server.call("DELETE", f"/v1/items/{top[3]}", headers=AUTH)
    assert status == 200 and answer["deleted"] is True
    time.sleep(REFRESH * 3)
    assert not recommended(server) & set(top)
    status, view = server.call("GET", f"/v1/items/{top[0]}")
    assert status == 200 and view["in_stock"] is False and view["available"] is False
    assert server.call("GET", f"/v1/items/{top[3]}")[1]["deleted"] is True
    assert server.call("GET", "/v1/popular?n=5&in_stock=false")[1]["items"][0]["item_id"] == top[0]
    assert server.call("POST", "/v1/items", {"items": [{"item_id": top[3], "hidden": False}]},
                       AUTH)[0] == 200  # fmt: skip
    time.sleep(REFRESH * 3)
    status, view = server.call("GET", f"/v1/items/{top[3]}")
    assert view["deleted"] is False and view["available"] is True


def test_item_changes_need_a_private_key_and_name_the_bad_field(server: Server) -> None:
    body = {"items": [{"item_id": server.item, "in_stock": False}]}
    assert server.call("POST", "/v1/items", body)[0] == 401
    assert server.call("POST", "/v1/items", body, {"X-API-Key": "wrong"})[0] == 403
    assert server.call("DELETE", f"/v1/items/{server.item}")[0] == 401
    bad = {"items": [{"item_id": "a", "price": 1}, {"item_id": "b", "price": "cheap"}]}
    status, answer = server.call("POST", "/v1/items", bad, AUTH)
    assert status == 400 and answer["error"]["parameter"] == "items[1].price"
    status, answer = server.call("POST", "/v1/items", {"items": [{"item_id": "a", "x": 1}]}, AUTH)
    assert status == 400 and answer["error"]["parameter"] == "items[0].x"
    too_many = {"items": [{"item_id": f"i{i}", "hidden": True} for i in range(1001)]}
    assert server.call("POST", "/v1/items", too_many, AUTH)[0] == 400
    assert server.call("GET", "/v1/items/no-such-item")[0] == 404
    assert server.call("DELETE", "/v1/items/no-such-item", headers=AUTH)[0] == 404
    status, view = server.call("GET", f"/v1/items/{server.item}")
    assert status == 200 and view["known_to_model"] is True


def test_a_restart_keeps_the_changes_and_export_honours_them(
    server: Server, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    top = popular_ids(server, 8)[4:]
    body = {"items": [{"item_id": item, "in_stock": False} for item in top]}
    assert server.call("POST", "/v1/items", body, AUTH)[0] == 200
    with running_server(folder, folder / "models", folder / "recsys.toml") as again:
        assert not recommended(again, rounds=1) & set(top)
    out = folder / "picks.csv"
    export = ["export", "--models", str(folder / "models"), "--out", str(out)]
    assert main([*export, "--db", server.database_url, "--per-category", "0"]) == 0
    exported = set(pa_csv.read_csv(out).column("item_id").to_pylist())
    assert exported and not exported & set(top)
    cheap = ["--db", server.database_url, "--filter", "price < 20"]
    assert main([*export, *cheap, "--per-category", "0"]) == 0
    prices = pa_csv.read_csv(out).column("price").to_pylist()
    assert prices and max(prices) < 20
    assert main([*export, "--filter", "colour = 1"]) == 2
    assert "--filter" in capsys.readouterr().err
    assert main([*export, "--db", "sqlite:////nowhere/x.db"]) == 2
    assert "--db" in capsys.readouterr().err


def test_filters_and_boosts_on_every_endpoint(server: Server) -> None:
    acme = popular_ids(server, 60)[30:60]
    body = {"items": [{"item_id": item, "properties": {"brand": "acme"}} for item in acme]}
    assert server.call("POST", "/v1/items", body, AUTH)[0] == 200
    time.sleep(REFRESH * 3)
    only = "filter=" + quoted('brand = "acme" and price >= 0')
    lift = "boost=" + quoted('brand = "acme": 50')
    for rule in (only, lift):
        for method, path, answer in endpoint_answers(server, rule):
            assert len(answer["items"]) == 5, path
            brands = [entry["item_id"] in acme for entry in answer["items"]]
            if rule is only:
                assert all(brands), (path, answer)
            elif path.startswith("/v1/popular"):
                assert all(brands), (method, path)  # the pool holds more than 5 of them


def endpoint_answers(server: Server, rule: str) -> Iterator[tuple[str, str, Any]]:
    item, user = server.item, server.user
    for method, path, body in (
        ("GET", f"/v1/users/{user}/recommendations?n=5&{rule}", None),
        ("GET", f"/v1/items/{item}/similar?n=5&{rule}", None),
        ("GET", f"/v1/items/{item}/cross-sell?n=5&{rule}", None),
        ("POST", f"/v1/cross-sell?n=5&{rule}", {"items": [item]}),
        ("GET", f"/v1/popular?n=5&{rule}", None),
        ("POST", f"/v1/sessions/recommendations?n=5&{rule}", {"items": [item]}),
        ("POST", f"/v1/recommendations/batch?n=5&{rule}", {"user_ids": [user]}),
    ):
        status, answer = server.call(method, path, body)
        assert status == 200, (path, answer)
        yield method, path, answer["results"][0] if "results" in answer else answer


@pytest.mark.parametrize(
    ("parameter", "value", "message"),
    [
        ("filter", "(" * 50 + "price < 5" + ")" * 50, "nested more than 16 levels"),
        ("filter", "x" * 2500, "is 2500 characters long; at most 2000"),
        ("filter", "colour = 'red'", "unknown field 'colour'"),
        ("filter", "price < 'cheap'", "'price' takes a number"),
        ("filter", "title > 3", "'title' takes text in quotes"),
        ("filter", "price <", "position 8"),
        ("filter", "__import__('os')", "position 11"),
        ("boost", "price < 5: 1000", "from 0 to 100"),
        ("boost", "price < 5", "expected :"),
        ("seen", "sometimes", "must be one of allow, exclude, cap"),
    ],
)
def test_hostile_rules_are_400s_naming_the_parameter(
    server: Server, parameter: str, value: str, message: str
) -> None:
    for path in (f"/v1/users/{server.user}/recommendations", "/v1/popular",
                 f"/v1/items/{server.item}/similar"):  # fmt: skip
        status, answer = server.call("GET", f"{path}?{parameter}={quoted(value)}")
        assert status == 400 and answer["error"]["parameter"] == parameter, answer
        assert message in answer["error"]["message"]


def test_a_ten_kilobyte_filter_is_refused_before_the_app(server: Server) -> None:
    long = server.base + "/v1/popular?filter=" + quoted("price < 5 or " * 900)
    with pytest.raises(urllib.error.HTTPError) as refused:  # gunicorn: request line > 4094
        urllib.request.urlopen(long, timeout=30)
    refused.value.close()
    assert refused.value.code == 414
