"""Who may call what (API.md section 6), against a real closed server: every route against no key,
a public key, a public key with the right user token, with another user's token, and a private
key. The table must name every route the server describes, so a new route cannot slip through
unclassified."""

from __future__ import annotations

import subprocess
import sys
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from live_server import ROOT, Server, served_copy

from recsys.access import token_matches, user_token
from recsys.bundle import Bundle

PRIVATE, PUBLIC, SECRET = "priv-0123456789", "pub-0123456789", "token-secret-for-tests"
CALLERS = ("none", "public", "public+token", "public+other", "private")


@pytest.fixture(scope="module")
def closed(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One gunicorn worker with a private and a public key and a token secret, not open."""
    folder = tmp_path_factory.mktemp("access-server")
    config = f'[server]\napi_keys = ["{PRIVATE}"]\nrecord_served = "all"\n'
    env = {"RECSYS_PUBLIC_KEYS": PUBLIC, "RECSYS_TOKEN_SECRET": SECRET}
    with served_copy(folder, models_dir, config, workers=1, env=env) as found:
        yield found


def headers_of(caller: str, user: str, other: str) -> dict[str, str]:
    return {
        "none": {},
        "public": {"X-API-Key": PUBLIC},
        "public+token": {"X-API-Key": PUBLIC, "X-User-Token": user_token(SECRET, user)},
        "public+other": {"X-API-Key": PUBLIC, "X-User-Token": user_token(SECRET, other)},
        "private": {"X-API-Key": PRIVATE},
    }[caller]


def event(user: str, item: str, event_type: str) -> dict[str, Any]:
    return {"user_id": user, "item_id": item, "event_type": event_type, "timestamp": 1795400000}


PUBLIC_OK = (401, 200, 200, 200, 200)
PERSONAL = (401, 403, 200, 403, 200)
PRIVATE_ONLY = (401, 403, 403, 403, 200)


def routes(user: str, item: str) -> list[tuple[str, str, str, Any, tuple[int, ...]]]:
    """(method, spec path, request path, body, statuses for CALLERS)."""
    visitor = "visitor-never-seen"
    return [
        ("GET", "/healthz", "/healthz", None, (200,) * 5),
        ("GET", "/readyz", "/readyz", None, (200,) * 5),
        ("GET", "/openapi.json", "/openapi.json", None, (200,) * 5),
        ("GET", "/metrics", "/metrics", None, (200,) * 5),
        ("GET", "/v1/items/{item_id}/similar", f"/v1/items/{item}/similar", None, PUBLIC_OK),
        ("GET", "/v1/items/{item_id}/cross-sell", f"/v1/items/{item}/cross-sell", None,
         PUBLIC_OK),
        ("POST", "/v1/cross-sell", "/v1/cross-sell", {"items": [item]}, PUBLIC_OK),
        ("GET", "/v1/popular", "/v1/popular", None, PUBLIC_OK),
        ("GET", "/v1/new-arrivals", "/v1/new-arrivals", None, PUBLIC_OK),
        ("POST", "/v1/sessions/recommendations", "/v1/sessions/recommendations",
         {"items": [item]}, PUBLIC_OK),
        ("POST", "/v1/events", "/v1/events", {"events": [event(visitor, item, "click")]},
         (401, 202, 202, 202, 202)),
        ("POST", "/v1/events", "/v1/events", {"events": [event(user, item, "view")]},
         (401, 403, 202, 403, 202)),
        ("POST", "/v1/events", "/v1/events", {"events": [event(visitor, item, "purchase")]},
         (401, 403, 403, 403, 202)),
        ("GET", "/v1/users/{user_id}/recommendations", f"/v1/users/{user}/recommendations",
         None, PERSONAL),
        ("POST", "/v1/recommendations/batch", "/v1/recommendations/batch", {"user_ids": [user]},
         PERSONAL),
        ("GET", "/v1/experiments", "/v1/experiments", None, PRIVATE_ONLY),
        ("GET", "/v1/experiments/{name}/report", "/v1/experiments/none/report", None,
         (401, 403, 403, 403, 404)),
        ("POST", "/admin/reload", "/admin/reload", None, PRIVATE_ONLY),
        ("POST", "/admin/experiments", "/admin/experiments", {"name": ""},
         (401, 403, 403, 403, 400)),
        ("DELETE", "/admin/experiments/{name}", "/admin/experiments/none", None,
         (401, 403, 403, 403, 404)),
        ("DELETE", "/v1/users/{user_id}", "/v1/users/ghost-user", None, PRIVATE_ONLY),
        ("GET", "/v1/items/{item_id}", f"/v1/items/{item}", None, PUBLIC_OK),
        ("POST", "/v1/items", "/v1/items", {"items": [{"item_id": "new-1", "title": "New"}]},
         PRIVATE_ONLY),
        ("DELETE", "/v1/items/{item_id}", "/v1/items/new-1", None, PRIVATE_ONLY),
        ("GET", "/widget.js", "/widget.js", None, (200,) * 5),
        ("GET", "/demo", "/demo", None, (200,) * 5),
        ("GET", "/demo/product", f"/demo/product?item={item}", None, (200,) * 5),
        ("GET", "/demo/cart", f"/demo/cart?items={item}", None, (200,) * 5),
        ("GET", "/demo/demo.css", "/demo/demo.css", None, (200,) * 5),
        ("GET", "/inspect", f"/inspect?user={user}&item={item}", None, PRIVATE_ONLY),
    ]  # fmt: skip


def test_every_route_answers_each_caller_as_section_6_says(closed: Server) -> None:
    bundle = Bundle.load(closed.models)
    user, other, item = closed.user, bundle.users[1], closed.item
    table = routes(user, item)
    spec = closed.call("GET", "/openapi.json")[1]["paths"]
    described = {(method.upper(), path) for path, ops in spec.items() for method in ops}
    assert described <= {(method, path) for method, path, *_ in table}
    for method, _, path, body, statuses in table:
        for caller, wanted in zip(CALLERS, statuses, strict=True):
            status, answer = closed.call(method, path, body, headers_of(caller, user, other))
            assert status == wanted, (method, path, caller, answer)
            if status == 403 and statuses in (PERSONAL, (401, 403, 202, 403, 202)):
                assert answer["error"]["code"] == "user_token_required"


def test_reasons_naming_a_history_reach_only_its_owner(closed: Server) -> None:
    user = closed.user
    path = f"/v1/users/{user}/recommendations?n=20"
    for caller in ("public+token", "private"):
        status, body = closed.call("GET", path, headers=headers_of(caller, user, user))
        assert status == 200 and any("reason" in entry for entry in body["items"])
    other = Bundle.load(closed.models).users[1]
    status, body = closed.call("GET", path, headers=headers_of("public+other", user, other))
    assert status == 403 and "items" not in body


def test_keys_and_tokens_in_the_query_work_for_beacons_and_are_never_logged(
    closed: Server,
) -> None:
    user = closed.user
    token = user_token(SECRET, user)
    assert closed.call("GET", f"/v1/popular?n=2&key={PUBLIC}")[0] == 200
    query = urllib.parse.urlencode({"key": PUBLIC, "user_token": token, "n": 2})
    assert closed.call("GET", f"/v1/users/{user}/recommendations?{query}")[0] == 200
    assert closed.call("GET", "/v1/popular?key=wrong")[0] == 403
    # a name percent-encoded is the same name (%6B is "k"); a bearer token is a key too
    encoded = f"/v1/users/{user}/recommendations?%6Bey={PUBLIC}&user_%74oken={token}"
    assert closed.call("GET", encoded)[0] == 200
    assert closed.call("GET", f"/v1/experiments?%6Bey={PRIVATE}")[0] == 200
    assert closed.call("GET", "/v1/experiments?%6Bey=wrong")[0] == 403
    bearer = {"Authorization": f"Bearer {PRIVATE}"}
    assert closed.call("GET", "/v1/experiments", headers=bearer)[0] == 200
    log = (closed.models.parent / "server.log").read_text()
    assert "/v1/popular" in log
    for secret in (PUBLIC, PRIVATE, token, SECRET):
        assert secret not in log


def test_a_user_token_is_the_hmac_of_the_user_id() -> None:
    token = user_token(SECRET, "u42")
    assert len(token) == 64 and token_matches(SECRET, "u42", token)
    assert not token_matches(SECRET, "u43", token) and not token_matches("", "u42", token)
    assert not token_matches(SECRET, "u42", token.upper()[:-1])


def test_recsys_token_prints_one_token_per_user_and_needs_the_secret() -> None:
    command = [sys.executable, "-m", "recsys_training.cli", "token", "u42", "u7"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True,
                          env={"RECSYS_TOKEN_SECRET": SECRET, "PATH": ""})  # fmt: skip
    assert done.returncode == 0
    assert done.stdout.split() == [user_token(SECRET, "u42"), user_token(SECRET, "u7")]
    missing = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={"PATH": ""})
    assert missing.returncode == 2 and "RECSYS_TOKEN_SECRET" in missing.stderr
    assert missing.stderr.count("\n") == 1
