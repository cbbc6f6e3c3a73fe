"""The OpenAPI 3 description, generated from the app's own routes so it cannot drift from them:
paths and methods from the URL map, summaries from the view docstrings."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from recsys.experiments.config import TABLE_KEYS
from serving.http import COMMON

PATH_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_]+)>")
QUERY_SCHEMAS: dict[str, dict[str, Any]] = {
    "n": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
    "category": {"type": "string", "description": "category path prefix, e.g. shoes"},
    "exclude": {"type": "string", "description": "comma-separated item ids"},
    "in_stock": {"type": "boolean", "description": "default true when the catalogue has stock"},
    "diversity": {"type": "number", "minimum": 0, "maximum": 1, "default": 0},
    "experiment": {"type": "string"},
}
BODIES = {
    "/v1/cross-sell": {"items": "array", "user_id": "string"},
    "/v1/sessions/recommendations": {"items": "array", "session_id": "string"},
    "/v1/recommendations/batch": {"user_ids": "array"},
    "/v1/events": {"events": "array"},
    "/admin/experiments": {  # one [[experiments]] table as JSON (README, A/B experiments)
        **dict.fromkeys(TABLE_KEYS, "string"),
        **dict.fromkeys(("placements", "variants"), "array"),
        "attribution_hours": "number",
    },
}
CREATED = {"experiments.create_experiment"}
MORE_ERRORS = {
    "experiments.create_experiment": (("409", "the name is taken"),),
    "experiments.stop_experiment": (
        ("404", "no such experiment"),
        ("409", "defined in the config file"),
    ),
}
WINDOW = "trending over the bundle's [models.<popular>] window_days (e.g. 7d), or all"
ERROR = {"$ref": "#/components/schemas/Error"}
PICKS = {"$ref": "#/components/schemas/Picks"}


def openapi_path(rule: str) -> str:
    return PATH_PARAM.sub(r"{\1}", rule)


def spec(app: Flask) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(openapi_path(rule.rule), {})[method.lower()] = operation(
                rule.rule, rule.endpoint, sorted(rule.arguments), method, view.__doc__ or ""
            )
    return {
        "openapi": "3.0.3",
        "info": {"title": "recsys", "version": "1", "description": "API.md section 3"},
        "paths": dict(sorted(paths.items())),
        "components": components(),
    }


def operation(rule: str, endpoint: str, arguments: list[str], method: str, doc: str) -> dict:
    summary = " ".join(doc.strip().split("\n\n")[0].split())
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in arguments
    ]
    if endpoint.startswith("picks."):
        parameters += [
            {"name": name, "in": "query", "schema": QUERY_SCHEMAS[name]} for name in COMMON
        ]
    if rule == "/v1/popular":
        parameters.append({"name": "window", "in": "query", "schema": {"type": "string"},
                           "description": WINDOW})  # fmt: skip
    found: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": summary,
        "parameters": parameters,
        "responses": responses(endpoint),
    }
    if rule in BODIES:
        properties = {
            name: {"type": kind, **({"items": {}} if kind == "array" else {})}
            for name, kind in BODIES[rule].items()
        }
        found["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object",
                                                        "properties": properties}}},
        }  # fmt: skip
    if rule.startswith("/admin/") or (rule == "/v1/users/<path:user_id>" and method == "DELETE"):
        found["security"] = [{"apiKey": []}, {"bearer": []}]
    return found


def responses(endpoint: str) -> dict[str, Any]:
    ok = {"description": "Created" if endpoint in CREATED else "OK"}
    if endpoint.startswith("picks.") and endpoint != "picks.batch":
        ok["content"] = {"application/json": {"schema": PICKS}}
    errors = {
        code: {"description": text, "content": {"application/json": {"schema": ERROR}}}
        for code, text in (
            ("400", "bad parameter (named in the message)"),
            ("413", "body too large"),
            ("503", "no model loaded yet"),
            *MORE_ERRORS.get(endpoint, ()),
        )
    }
    return {"201" if endpoint in CREATED else "200": ok, **errors}


def components() -> dict[str, Any]:
    item = {
        "type": "object",
        "properties": {
            "item_id": {"type": "string"},
            "score": {"type": "number"},
            "reason": {"type": "string"},
        },
    }
    picks = {
        "type": "object",
        "properties": {
            "request_id": {"type": "string"},
            "model": {"type": "string"},
            "experiment": {"type": "string", "nullable": True},
            "variant": {"type": "string", "nullable": True},
            "items": {"type": "array", "items": item},
        },
    }
    error = {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    }
    return {
        "schemas": {"Picks": picks, "Error": error},
        "securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
        },
    }
