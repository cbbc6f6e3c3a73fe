"""The event store down and back, with a PostgreSQL of the test's own (tests/throwaway_postgres.py)
behind a real gunicorn (2 workers): the server starts without it; personal picks come from the
bundle alone, labelled, and never for a forgotten customer; writes are 503 with Retry-After, never
a 500; /readyz says so; the server recovers by itself within seconds once the store is back."""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from live_server import Server, running_server
from throwaway_postgres import Cluster

from recsys.bundle import Bundle

KEY = "outage-key"
RECOVERY_BOUND_S = 15  # generous for a loaded machine; the measured time is printed
VIEW = {"event_type": "view"}


@dataclass
class Answer:
    status: int
    body: Any
    retry_after: str | None


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    found = Cluster()  # a skip where the PostgreSQL binaries are absent
    try:
        yield found
    finally:
        found.remove()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "recsys.toml"
    path.write_text("[server]\nwatch_seconds = 0\nrate_limit = \"\"\n")
    return path


def ask(server: Server, method: str, path: str, body: Any = None) -> Answer:
    """One request on a fresh connection, with the private key; the status, JSON body and
    Retry-After header."""
    address = urllib.parse.urlsplit(server.base)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=30)
    headers = {"X-API-Key": KEY, "Content-Type": "application/json"}
    try:
        connection.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = connection.getresponse()
        return Answer(response.status, json.loads(response.read() or b"null"),
                      response.getheader("Retry-After"))  # fmt: skip
    finally:
        connection.close()


def event(user: str, item: str) -> dict[str, Any]:
    return {"events": [{"user_id": user, "item_id": item, **VIEW}]}


def assert_refused(answer: Answer) -> None:
    """A write while the store is down: 503, our error shape, a Retry-After."""
    assert answer.status == 503, answer
    assert answer.body["error"]["code"] == "store_unavailable"
    assert answer.retry_after is not None and int(answer.retry_after) >= 1


def recovered_after(check: Callable[[], bool], started: float) -> float:
    """Seconds from `started` until check() held ten times in a row (every worker answered)."""
    streak = 0
    while streak < 10:
        assert time.monotonic() - started < RECOVERY_BOUND_S, "not recovered in time"
        streak = streak + 1 if check() else 0
        time.sleep(0.02)
    return time.monotonic() - started


def ready(server: Server) -> bool:
    answer = ask(server, "GET", "/readyz")
    return answer.status == 200 and answer.body["status"] == "ready"


def test_the_server_starts_with_the_store_down_and_recovers_by_itself(
    cluster: Cluster, models_dir: Path, tmp_path: Path, config: Path
) -> None:
    cluster.stop()
    env = {"RECSYS_API_KEYS": KEY}
    with running_server(tmp_path, models_dir, config, env=env, database_url=cluster.url) as server:
        readiness = ask(server, "GET", "/readyz")
        assert readiness.status == 200 and readiness.body["status"] == "degraded"
        outage = readiness.body["degraded"]["event_store"]
        assert outage["personal_picks"] == "refused" and outage["writes"] == "refused"
        assert ask(server, "GET", "/readyz?strict=true").status == 503
        # no forgotten list was ever read: a forgotten customer could not be told apart
        assert_refused(ask(server, "GET", f"/v1/users/{server.user}/recommendations"))
        assert ask(server, "GET", f"/v1/items/{server.item}/similar").status == 200
        assert_refused(ask(server, "POST", "/v1/events", event(server.user, server.item)))
        assert_refused(ask(server, "DELETE", f"/v1/users/{server.user}"))

        cluster.start()
        seconds = recovered_after(lambda: ready(server), time.monotonic())
        print(f"recovered {seconds:.2f} s after the store started")
        assert ask(server, "POST", "/v1/events", event(server.user, server.item)).status == 202
        picks = ask(server, "GET", f"/v1/users/{server.user}/recommendations")
        assert picks.status == 200 and "degraded" not in picks.body


def test_the_store_stopped_and_started_under_load(
    cluster: Cluster, models_dir: Path, tmp_path: Path, config: Path
) -> None:
    cluster.start()
    bundle = Bundle.load(models_dir)
    users = [bundle.users[number] for number in range(4)]
    gone, item = users[0], bundle.items[0]
    env = {"RECSYS_API_KEYS": KEY}
    with running_server(tmp_path, models_dir, config, env=env, database_url=cluster.url) as server:
        assert ask(server, "DELETE", f"/v1/users/{gone}").status == 200
        time.sleep(2.5)  # every worker re-reads the forgotten list within a second
        reads: list[tuple[str, Answer]] = []
        writes: list[Answer] = []
        stop = threading.Event()

        def read(user: str) -> None:
            while not stop.is_set():
                reads.append((user, ask(server, "GET", f"/v1/users/{user}/recommendations")))

        def write() -> None:
            while not stop.is_set():
                writes.append(ask(server, "POST", "/v1/events", event(users[1], item)))

        clients = [threading.Thread(target=read, args=(user,)) for user in (users[1], users[2])]
        clients += [threading.Thread(target=read, args=(gone,)), threading.Thread(target=write)]
        for client in clients:
            client.start()
        try:
            time.sleep(1.0)
            cluster.stop()
            time.sleep(1.5)
            readiness = ask(server, "GET", "/readyz")
            cluster.start()
            seconds = recovered_after(
                lambda: ready(server) and ask(server, "POST", "/v1/events",
                                              event(users[3], item)).status == 202,
                time.monotonic(),
            )  # fmt: skip
            time.sleep(0.5)
        finally:
            stop.set()
            for client in clients:
                client.join(30)
    print(f"recovered {seconds:.2f} s after the store started; {len(reads)} reads, "
          f"{len(writes)} writes")  # fmt: skip
    assert readiness.status == 200 and readiness.body["status"] == "degraded"
    assert readiness.body["degraded"]["event_store"]["personal_picks"] == "bundle_only"
    assert {answer.status for _, answer in reads} == {200}, "every read answered"
    degraded = [answer for _, answer in reads if answer.body.get("degraded")]
    assert degraded and {answer.body["degraded"] for answer in degraded} == {"store_unavailable"}
    forgotten = [answer.body["model"] for user, answer in reads if user == gone]
    assert forgotten and all(model.startswith("fallback:") for model in forgotten)
    assert {answer.status for answer in writes} <= {202, 503}
    refused = [answer for answer in writes if answer.status == 503]
    assert refused and writes[-1].status == 202
    for answer in refused:
        assert_refused(answer)
