"""`recsys serve --production` (nginx in front of gunicorn) as clients see it: slow and idle
clients do not hold anyone else's request, and the front's own errors are the API's JSON shape."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from live_server import Server, running_server

from benchmarks.loadgen import slow_connections, timed_requests

MAX_BODY = 65_536
pytestmark = pytest.mark.skipif(
    shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists(),
    reason="nginx is not installed (.ci/run installs it)",
)


@pytest.fixture(scope="module")
def front(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("production")
    config = folder / "recsys.toml"
    config.write_text(f"[server]\nopen = true\nmax_body_bytes = {MAX_BODY}\nwatch_seconds = 0\n")
    with running_server(folder, models_dir, config, production=True) as found:
        yield found


def raw_exchange(server: Server, data: bytes) -> tuple[int, dict]:
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=20) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def test_64_slow_connections_delay_no_one(front: Server) -> None:
    host, port = front.base.removeprefix("http://").split(":")
    paths = [f"/v1/users/{front.user}/recommendations?n={1 + i % 20}" for i in range(150)]
    paths += ["/healthz", f"/v1/items/{front.item}/similar", "/v1/popular"] * 17
    chunks = [paths[i::4] for i in range(4)]
    with slow_connections(host, int(port), 64), ThreadPoolExecutor(4) as pool:
        parts = pool.map(lambda chunk: timed_requests(front.base, chunk, 10.0), chunks)
        answered = [seconds for part in parts for seconds in part]
    assert len(answered) == len(paths) == 201 and None not in answered


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [(b"GARBAGE\r\n\r\n", 400),
     (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 414),
     (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 400),
     (b"POST /v1/cross-sell HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
      b"Content-Length: %d\r\nConnection: close\r\n\r\n" % (MAX_BODY + 1), 413),
     (b"GET /v1/items/%FF/similar HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 400)],
)  # fmt: skip
def test_the_front_answers_errors_in_the_api_shape(
    front: Server, request_bytes: bytes, status: int
) -> None:
    got, body = raw_exchange(front, request_bytes)
    assert got == status and set(body["error"]) >= {"code", "message"}

