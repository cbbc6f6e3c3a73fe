"""Schemathesis, driven by the server's own GET /openapi.json, against a live gunicorn server with
all of its checks (server errors, status codes, response schemas, schema-valid requests accepted,
schema-violating ones refused, authentication, Allow headers, ...): no failure with a private key,
none without a key (every keyed operation must then answer 401), and none with a public key and
a customer's user token (their own picks served, everything else refused with 403)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from live_server import Server, running_server

from recsys.access import user_token

KEY = "schemathesis-key"
PUBLIC = "schemathesis-public-key"
TOKEN_SECRET = "schemathesis-token-secret"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
CONFIG = Path(__file__).with_name("schemathesis.toml")  # its one exception, and why
# With a private key every operation runs its course; without one, or with a public key, most
# answers are the same 401 or 403, which fewer examples per operation already cover.
EXAMPLES = {"key": "8", "no-key": "3", "public-token": "4"}


@pytest.fixture(scope="module")
def server(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("schemathesis")
    config = folder / "recsys.toml"
    config.write_text(f'[server]\napi_keys = ["{KEY}"]\npublic_keys = ["{PUBLIC}"]\n'
                      'rate_limit = ""\nwatch_seconds = 0\n')  # fmt: skip
    env = {"RECSYS_TOKEN_SECRET": TOKEN_SECRET}
    with running_server(folder, models_dir, config, env=env) as found:
        yield found


def as_customer(server: Server, folder: Path) -> tuple[Path, list[str]]:
    """The public key with the user token of the bundle's first customer, whose id is then every
    generated user path (other ids would only ever meet 403 user_token_required)."""
    config = folder / "schemathesis.toml"
    config.write_text(f'{CONFIG.read_text()}\n[parameters]\n"path.user_id" = "{server.user}"\n')
    token = user_token(TOKEN_SECRET, server.user)
    return config, ["-H", f"X-API-Key: {PUBLIC}", "-H", f"X-User-Token: {token}"]


@pytest.mark.skipif(not SCHEMATHESIS.exists(), reason="schemathesis is a dev dependency")
@pytest.mark.parametrize("caller", ["key", "no-key", "public-token"])
def test_schemathesis_finds_nothing(server: Server, tmp_path: Path, caller: str) -> None:
    config, headers = CONFIG, {"key": ["-H", f"X-API-Key: {KEY}"], "no-key": []}.get(caller, [])
    if caller == "public-token":
        config, headers = as_customer(server, tmp_path)
    command = [str(SCHEMATHESIS), "--config-file", str(config), "run",
               f"{server.base}/openapi.json", "--checks", "all", "--max-examples", EXAMPLES[caller],
               "--seed", "1", "--request-timeout", "30", "--no-color", *headers]  # fmt: skip
    found = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert found.returncode == 0, found.stdout[-8000:]
