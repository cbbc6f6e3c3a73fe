"""Two server processes (gunicorn, two workers each) on one PostgreSQL store and one models folder:
what one replica is told, the other knows (docs/deployment.md)."""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from recsys.versions import current_version
from recsys_training.cli import main
from tests.conftest import postgres_schema
from tests.live_server import Server, running_server

KEY = "k-replicas"
CONFIG = f"""
[models.als]
factors = 16
iterations = 4
[models.popular]

[server]
open = true
api_keys = ["{KEY}"]
watch_seconds = 0.3
experiments_refresh_seconds = 0.3
catalogue_refresh_seconds = 0.3
candidates = 20
"""
AUTH = {"X-API-Key": KEY}


@pytest.fixture(scope="module")
def store_url() -> Iterator[str]:
    with postgres_schema("recsys_replicas") as url:
        yield url


@pytest.fixture(scope="module")
def replicas(
    models_dir: Path, store_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Server, Server]]:
    shared = tmp_path_factory.mktemp("replicas")
    shutil.copytree(models_dir, shared / "models")
    (shared / "recsys.toml").write_text(CONFIG)
    with ExitStack() as stack:
        servers = []
        for name in ("a", "b"):
            (shared / name).mkdir()
            models, config = shared / "models", shared / "recsys.toml"
            server = running_server(shared / name, models, config, database_url=store_url)
            servers.append(stack.enter_context(server))
        yield servers[0], servers[1]


def eventually(check: Callable[[], bool], seconds: float = 15.0) -> None:
    """Until `check()` holds for 10 answers in a row (each a new connection: either worker)."""
    deadline, streak = time.monotonic() + seconds, 0
    while streak < 10:
        assert time.monotonic() < deadline, "the other replica did not catch up in time"
        streak = streak + 1 if check() else 0
        time.sleep(0.02 if streak else 0.1)


def picks(server: Server, user: str) -> dict[str, Any]:
    status, body = server.call("GET", f"/v1/users/{user}/recommendations?n=5")
    assert status == 200, body
    return body


def test_an_event_sent_to_one_replica_changes_picks_on_the_other_at_once(
    replicas: tuple[Server, Server],
) -> None:
    a, b = replicas
    visitor = f"new-visitor-{uuid.uuid4().hex[:8]}"
    assert picks(b, visitor)["model"].startswith("fallback:")
    events = [{"user_id": visitor, "item_id": a.item, "event_type": "view"}] * 3
    status, body = a.call("POST", "/v1/events", {"events": events})
    assert status == 202, body
    for _ in range(10):  # every answer, from either worker of b, already knows the events
        assert not picks(b, visitor)["model"].startswith("fallback:")


def test_an_admin_experiment_reaches_the_other_replica(replicas: tuple[Server, Server]) -> None:
    a, b = replicas
    body = {"name": "replicated", "placements": ["recommendations"],
            "variants": [{"name": "A", "model": "als", "share": 0.5},
                         {"name": "B", "model": "popular", "share": 0.5}]}  # fmt: skip
    status, created = a.call("POST", "/admin/experiments", body, headers=AUTH)
    assert status == 201, created
    eventually(lambda: picks(b, b.user)["experiment"] == "replicated")
    status, stopped = b.call("DELETE", "/admin/experiments/replicated", headers=AUTH)
    assert status == 200, stopped
    eventually(lambda: picks(a, a.user)["experiment"] is None)


def test_an_item_change_on_one_replica_reaches_the_other(replicas: tuple[Server, Server]) -> None:
    """POST /v1/items on A: B stops recommending the item (any worker) within the refresh time,
    and shows it again when A restores it."""
    a, b = replicas
    item = picks(b, b.user)["items"][0]["item_id"]
    status, body = a.call("POST", "/v1/items", {"items": [{"item_id": item, "hidden": True}]},
                          headers=AUTH)  # fmt: skip
    assert status == 200, body

    def shown_by_b() -> bool:
        return item in {found["item_id"] for found in picks(b, b.user)["items"]}

    eventually(lambda: not shown_by_b())
    status, view = b.call("GET", f"/v1/items/{item}")
    assert status == 200 and view["available"] is False
    status, body = a.call("POST", "/v1/items", {"items": [{"item_id": item, "hidden": False}]},
                          headers=AUTH)  # fmt: skip
    assert status == 200, body
    eventually(shown_by_b)


def test_a_forgotten_customer_is_forgotten_by_the_other_replica(
    replicas: tuple[Server, Server],
) -> None:
    a, b = replicas
    user = a.user
    assert not picks(b, user)["model"].startswith("fallback:")
    status, body = a.call("DELETE", f"/v1/users/{user}", headers=AUTH)
    assert status == 200, body
    eventually(lambda: picks(b, user)["model"].startswith("fallback:"))


def test_a_publish_is_picked_up_by_both_without_a_failed_request(
    replicas: tuple[Server, Server], tmp_path: Path, shop: Path
) -> None:
    a, b = replicas
    models = a.models
    before = current_version(models)
    outcomes: Counter[int] = Counter()
    stop = threading.Event()

    def load(server: Server) -> None:
        while not stop.is_set():
            try:
                status, _ = server.call("GET", f"/v1/items/{server.item}/similar?n=5")
            except OSError:
                status = 0
            outcomes[status] += 1

    threads = [threading.Thread(target=load, args=(s,)) for s in (a, b, a, b)]
    for thread in threads:
        thread.start()
    try:
        config = models.parent / "recsys.toml"
        argv = ["worker", "--once", "--every", "1h", "--models", str(models),
                "--events", str(shop / "events.parquet"), "--config", str(config)]  # fmt: skip
        assert main(argv) == 0
        after = current_version(models)
        assert after != before
        for server in (a, b):
            eventually(lambda server=server: server.call("GET", "/readyz")[1]["version"] == after)
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert set(outcomes) == {200}, outcomes
    assert outcomes[200] > 20
