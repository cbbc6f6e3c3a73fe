"""The request definitions (serving/params.py): the parsers and GET /openapi.json read the same
ones, so the document states exactly what is checked."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from recsys_serving import create_app
from recsys_serving.params import INTEGER, OBJECTS, Param, definition_of


@pytest.fixture(scope="module")
def client(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    folder = tmp_path_factory.mktemp("openapi")
    return create_app({
        "models_dir": models_dir, "database_url": f"sqlite:///{folder / 'events.db'}",
        "api_keys": ["k"], "watch": False, "config": {"server": {"open": True}},
    }).test_client()  # fmt: skip


def test_every_route_is_declared(client: FlaskClient) -> None:
    app = client.application
    undeclared = [name for name, view in app.view_functions.items()
                  if name != "static" and definition_of(view) is None]  # fmt: skip
    assert undeclared == []


def test_the_document_states_required_fields_types_and_statuses(client: FlaskClient) -> None:
    paths = client.get("/openapi.json").json["paths"]
    basket = paths["/v1/cross-sell"]["post"]
    schema = basket["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["items"] and schema["additionalProperties"] is False
    assert schema["properties"]["items"]["items"]["type"] == "string"
    assert {"200", "400", "404", "405", "413", "415", "503"} <= set(basket["responses"])
    events = paths["/v1/events"]["post"]
    assert "202" in events["responses"] and "200" not in events["responses"]
    event = events["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert event["events"]["items"]["required"] == ["user_id", "item_id", "event_type"]
    assert {"401", "403"} <= set(paths["/admin/reload"]["post"]["responses"])
    n = next(p for p in paths["/v1/popular"]["get"]["parameters"] if p["name"] == "n")
    assert n["schema"] == {"description": "how many items", "type": "integer", "minimum": 1,
                           "maximum": 100, "default": 10}  # fmt: skip
    for path, operations in paths.items():
        for method, operation in operations.items():
            ok = [status for status in operation["responses"] if status.startswith("2")]
            assert len(ok) == 1 and "content" in operation["responses"][ok[0]], (path, method)


@pytest.mark.parametrize(
    ("body", "parameter"),
    [({}, "items"), ({"items": "a"}, "items"), ({"items": [1]}, "items[0]"),
     ({"items": ["a"], "user_id": 5}, "user_id"), ({"items": ["a"], "x": 1}, "x")],
)  # fmt: skip
def test_bodies_are_checked_as_declared(client: FlaskClient, body: dict, parameter: str) -> None:
    response = client.post("/v1/cross-sell", json=body)
    assert response.status_code == 400 and response.json["error"]["parameter"] == parameter


def test_a_param_parses_what_its_schema_says() -> None:
    count = Param("count", INTEGER, low=1, high=5, default=2)
    assert count.parse(None, in_query=True) == 2 and count.parse("5", in_query=True) == 5
    assert count.parse(3, in_query=False) == 3
    for bad in (True, 3.5, 6, "3"):
        with pytest.raises(Exception, match="count"):
            count.parse(bad, in_query=False)
    rows = Param("rows", OBJECTS, max_items=2, convert=len)
    assert rows.parse([{}, {}], in_query=False) == 2
    with pytest.raises(Exception, match=r"rows\[1\]"):
        rows.parse([{}, 1], in_query=False)


@pytest.mark.parametrize("escape", ["%FF", "%FE", "%C3"])
def test_paths_that_are_not_utf8_are_refused(client: FlaskClient, escape: str) -> None:
    response = client.get(f"/v1/items/{escape}/similar")
    assert response.status_code == 400 and response.json["error"]["parameter"] == "path"
    assert client.get("/v1/items/%C3%A9/similar").status_code == 200
