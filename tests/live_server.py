"""A real gunicorn process on a loopback port serving a models folder, for the HTTP tests."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.bundle import Bundle

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Server:
    base: str
    models: Path
    database_url: str
    user: str  # a user the bundle knows
    item: str  # an item the bundle knows
    pid: int = 0  # the process started (gunicorn's master, or recsys serve --production)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, Any]:
        data = raw if raw is not None else None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base + path, data=data, method=method, headers=headers or {}
        )
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, decoded(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, decoded(exc.read())


def decoded(raw: bytes) -> Any:
    """A JSON answer as parsed; any other (metrics, pages, scripts) as text."""
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def served_copy(folder: Path, models: Path, config: str, **options: Any) -> Iterator[Server]:
    """running_server (its `options`) on a copy of `models` in `folder`/models, with `config` as
    `folder`/recsys.toml: the tests' usual server, which may publish into or damage its copy."""
    shutil.copytree(models, folder / "models")
    (folder / "recsys.toml").write_text(config)
    with running_server(folder, folder / "models", folder / "recsys.toml", **options) as found:
        yield found


@contextmanager
def running_server(
    folder: Path, models: Path, config: Path, workers: int = 2,
    env: dict[str, str] | None = None, database_url: str | None = None,
    production: bool = False,
) -> Iterator[Server]:
    """gunicorn serving `models` with `config` (metrics, and the store unless `database_url` names
    one, under `folder`; `env` added to its environment), then stopped; `production`: through
    `recsys serve --production` (nginx in front)."""
    metrics = folder / "metrics"  # prometheus_client reads every *.db file there
    metrics.mkdir(exist_ok=True)
    port = free_port()
    database_url = database_url or f"sqlite:///{folder / 'events.db'}"
    environment = {
        **os.environ,
        "RECSYS_BIND": f"127.0.0.1:{port}",
        "RECSYS_MODELS": str(models),
        "RECSYS_CONFIG": str(config),
        "RECSYS_DATABASE_URL": database_url,
        "RECSYS_WORKERS": str(workers),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics),
    }
    for name in ("RECSYS_API_KEYS", "RECSYS_PUBLIC_KEYS", "RECSYS_TOKEN_SECRET"):
        environment.pop(name, None)  # only what the test gives
    environment.update(env or {})
    log = open(folder / "server.log", "wb")  # noqa: SIM115 (lives as long as the process)
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "serving" / "gunicorn.conf.py"),
               "recsys_serving:create_app()"]  # fmt: skip
    if production:
        command = [sys.executable, "-m", "recsys_training.cli", "serve", "--production", "--port",
                   str(port), "--workers", str(workers)]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=environment, stdout=log, stderr=subprocess.STDOUT
    )
    bundle = Bundle.load(models)
    found = Server(f"http://127.0.0.1:{port}", models, database_url, bundle.users[0],
                   bundle.items[0], process.pid)  # fmt: skip
    try:
        wait_ready(found, process)
        yield found
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def wait_ready(server: Server, process: subprocess.Popen[bytes]) -> None:
    """Until ten readiness answers in a row are 200 (both workers have loaded the bundle)."""
    deadline, streak = time.monotonic() + 60, 0
    while streak < 10 and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            streak = streak + 1 if server.call("GET", "/readyz")[0] == 200 else 0
        except OSError:
            streak = 0
        time.sleep(0.05)
    if streak < 10:
        raise RuntimeError("server not ready within 60 s")
