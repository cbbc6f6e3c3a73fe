"""Schemathesis, driven by the server's own GET /openapi.json, against a live gunicorn server with
all of its checks (server errors, status codes, response schemas, schema-valid requests accepted,
schema-violating ones refused, authentication, Allow headers, ...): no failure with a private key,
and none without a key (every keyed operation must then answer 401)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import Server, running_server

KEY = "schemathesis-key"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).with_name("schemathesis.toml")  # its one exception, and why


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("schemathesis")
    config = folder / "recsys.toml"
    config.write_text(f'[server]\napi_keys = ["{KEY}"]\nwatch_seconds = 0\n')
    with running_server(folder, models_dir, config) as found:
        yield found


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is a dev dependency")
@pytest.mark.parametrize("headers", [["-H", f"X-API-Key: {KEY}"], []], ids=["key", "no-key"])
def test_schemathesis_finds_nothing(server: Server, tmp_path: Path, headers: list[str]) -> None:
    command = [str(SCHEMATHESIS), "--config-file", str(CONFIG), "run",
               f"{server.base}/openapi.json", "--checks", "all", "--max-examples", "8",
               "--seed", "1", "--request-timeout", "30", "--no-color", *headers]  # fmt: skip
    found = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert found.returncode == 0, found.stdout[-8000:]
