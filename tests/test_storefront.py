"""The storefront's pages in process: the widget is served as a module, the demo pages hold the
public key and the chosen customer's token (never a private key), /inspect shows every model's
picks with reasons, and events may come as text/plain JSON (sendBeacon)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from recsys.access import user_token
from recsys.bundle import Bundle
from recsys_serving import create_app

PRIVATE, PUBLIC, SECRET = "priv-store-01", "pub-store-01", "store-secret"


@pytest.fixture(scope="module")
def client(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    folder = tmp_path_factory.mktemp("storefront")
    return create_app({
        "models_dir": models_dir, "database_url": f"sqlite:///{folder / 'events.db'}",
        "api_keys": [PRIVATE], "public_keys": [PUBLIC], "token_secret": SECRET, "watch": False,
    }).test_client()  # fmt: skip


def test_the_widget_is_an_es_module_any_origin_may_load(client: FlaskClient) -> None:
    response = client.get("/widget.js")
    assert response.status_code == 200 and response.mimetype == "text/javascript"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert b"export function mount" in response.data


def test_demo_pages_hold_the_public_key_and_the_customers_token(
    client: FlaskClient, models_dir: Path
) -> None:
    bundle = Bundle.load(models_dir)
    user, item = bundle.users[0], bundle.items[0]
    home = client.get(f"/demo?user={user}").get_data(as_text=True)
    assert f'data-key="{PUBLIC}"' in home and f'data-token="{user_token(SECRET, user)}"' in home
    assert PRIVATE not in home and SECRET not in home
    assert 'data-recsys="recommendations"' in home and "<script>" not in home  # CSP: no inline
    product = client.get(f"/demo/product?item={item}&user={user}").get_data(as_text=True)
    assert 'data-recsys="similar"' in product and 'data-recsys="cross-sell"' in product
    cart = client.get(f"/demo/cart?items={item}").get_data(as_text=True)
    assert f'data-items="{item}"' in cart and "data-token" not in cart  # anonymous: no token
    assert client.get("/demo?colour=red").status_code == 400


def test_inspect_shows_each_models_picks_with_reasons_to_a_private_key(
    client: FlaskClient, models_dir: Path
) -> None:
    bundle = Bundle.load(models_dir)
    user, item = bundle.users[0], bundle.items[0]
    assert client.get(f"/inspect?user={user}", headers={"X-API-Key": PUBLIC}).status_code == 403
    page = client.get(f"/inspect?user={user}&item={item}&key={PRIVATE}").get_data(as_text=True)
    for name in bundle.models:
        assert f"<h3>{name}" in page
    assert "similar_to:" in page or "viewed:" in page
    assert "History" in page


def test_metrics_may_be_limited_to_a_private_key(models_dir: Path, tmp_path: Path) -> None:
    app = create_app({"models_dir": models_dir, "database_url": f"sqlite:///{tmp_path / 'e.db'}",
                      "api_keys": [PRIVATE], "public_keys": [PUBLIC], "watch": False,
                      "config": {"server": {"metrics_private": True, "open": True}}})  # fmt: skip
    client = app.test_client()
    assert client.get("/metrics").status_code == 401  # not even an open server's keyless callers
    assert client.get("/metrics", headers={"X-API-Key": PUBLIC}).status_code == 403
    assert client.get("/metrics", headers={"X-API-Key": PRIVATE}).status_code == 200


def test_events_may_come_as_text_plain_json_from_a_beacon(client: FlaskClient) -> None:
    body = {"events": [{"user_id": "v-beacon", "item_id": "i1", "event_type": "click"}]}
    response = client.post(f"/v1/events?key={PUBLIC}", data=json.dumps(body),
                           content_type="text/plain;charset=UTF-8")  # fmt: skip
    assert response.status_code == 202, response.json
    refused = client.post(f"/v1/cross-sell?key={PUBLIC}", data='{"items": ["i1"]}',
                          content_type="text/plain")  # fmt: skip
    assert refused.status_code == 415
