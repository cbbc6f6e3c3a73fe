"""Rate limits on public keys (serving/limits.py): one budget per key and client address, shared by
two gunicorn workers through a real memcached; 429 with Retry-After; private keys never limited."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import Server, free_port, served_copy

from recsys.errors import ConfigError
from recsys_serving import create_app

MEMCACHED = shutil.which("memcached") or "/usr/bin/memcached"
PRIVATE, PUBLIC, OTHER = "priv-limits-01", "pub-limits-01", "pub-limits-02"
BUDGET = 6


@pytest.fixture(scope="module")
def memcached() -> Iterator[str]:
    if not Path(MEMCACHED).exists():
        pytest.skip("memcached is not installed (apt-get install memcached; .ci/run does)")
    port = free_port()
    user = ["-u", "nobody"] if os.geteuid() == 0 else []  # memcached refuses to run as root
    process = subprocess.Popen([MEMCACHED, "-l", "127.0.0.1", "-p", str(port), "-U", "0",
                                "-m", "16", *user])  # fmt: skip
    time.sleep(0.3)
    try:
        yield f"memcached://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def limited(
    models_dir: Path, memcached: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("limits-server")
    config = (
        f'[server]\napi_keys = ["{PRIVATE}"]\npublic_keys = ["{PUBLIC}", "{OTHER}"]\n'
        f'rate_limit = "{BUDGET}/minute"\nrate_limit_storage = "{memcached}"\n'
    )
    with served_copy(folder, models_dir, config, workers=2) as found:
        yield found


def test_a_public_key_gets_its_budget_across_workers_then_429(limited: Server) -> None:
    statuses: list[int] = []
    retry = None
    for _ in range(BUDGET + 4):
        status, body = limited.call("GET", "/v1/popular?n=1", headers={"X-API-Key": PUBLIC})
        statuses.append(status)
        if status == 429:
            assert body["error"]["code"] == "rate_limited"
    assert statuses == [200] * BUDGET + [429] * 4
    request = urllib.request.Request(limited.base + "/v1/popular?n=1",
                                     headers={"X-API-Key": PUBLIC})  # fmt: skip
    try:
        urllib.request.urlopen(request, timeout=10)
    except urllib.error.HTTPError as exc:
        retry = exc.headers.get("Retry-After")
    assert retry is not None and 1 <= int(retry) <= 60
    # another key has its own budget; private keys and keyless endpoints are never limited
    assert limited.call("GET", "/v1/popular?n=1", headers={"X-API-Key": OTHER})[0] == 200
    for _ in range(BUDGET + 2):
        assert limited.call("GET", "/v1/popular?n=1", headers={"X-API-Key": PRIVATE})[0] == 200
        assert limited.call("GET", "/healthz")[0] == 200


def test_a_bad_rate_or_storage_is_a_config_error_naming_its_key(tmp_path: Path) -> None:
    cases = (({"rate_limit": "lots"}, "server.rate_limit"),
             ({"rate_limit_storage": "pigeon://x"}, "server.rate_limit_storage"))  # fmt: skip
    for server, key in cases:
        with pytest.raises(ConfigError, match=key):
            create_app({"models_dir": tmp_path, "database_url": f"sqlite:///{tmp_path / 'e.db'}",
                        "watch": False, "config": {"server": server}})  # fmt: skip


def test_an_unreachable_storage_serves_and_logs(
    models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing listens on the storage's port: the public key's requests are served, not refused."""
    nowhere = f"memcached://127.0.0.1:{free_port()}"
    server = {"rate_limit": f"{BUDGET}/minute", "rate_limit_storage": nowhere}
    database = f"sqlite:///{tmp_path / 'e.db'}"
    app = create_app({"models_dir": models_dir, "database_url": database, "watch": False,
                      "public_keys": (PUBLIC,), "config": {"server": server}})  # fmt: skip
    client = app.test_client()
    for _ in range(BUDGET + 2):
        assert client.get("/v1/popular?n=1", headers={"X-API-Key": PUBLIC}).status_code == 200
    assert "rate_limit_storage_error" in caplog.text
