"""The OpenAPI 3 description, generated from the app's own routes and their request definitions
(serving/params.py, the same ones the parsers check), so it cannot drift from them: paths and
methods from the URL map, summaries from the view docstrings, parameters, bodies, statuses and
response schemas from each view's @accepts."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from flask import Flask

from recsys.data.incoming import MAX_ID_LENGTH
from recsys_serving.access import METRICS, NONE, PERSONAL
from recsys_serving.params import ID_PATTERN, Endpoint, definition_of, ref

PATH_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_]+)>")
ERROR = ref("Error")
COMMON_ERRORS = (
    (400, "bad parameter (named in error.parameter), or a malformed request"),
    (404, "unknown route"),
    (414, "request line too long"),
    (405, "method not allowed on this route"),
    (503, "not ready (no model loaded yet) or the event store is unavailable"),
)
BODY_ERRORS = ((413, "body too large"), (415, "the body is not application/json"))
KEY_ERRORS = ((401, "no API key"), (403, "wrong key, a public key where a private one is needed, "
                                         "or no user token (user_token_required)"))
STATUS_TEXT = {200: "OK", 201: "Created", 202: "Accepted"}


def openapi_path(rule: str) -> str:
    return PATH_PARAM.sub(r"{\1}", rule)


def spec(app: Flask, known: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The document; `known` holds the values the server accepts now for parameters that name a
    `known` source (e.g. the serving bundle's categories), listed as enums."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        view = app.view_functions[rule.endpoint]
        definition = definition_of(view)
        if definition is None:
            raise RuntimeError(f"view {rule.endpoint} has no @accepts definition")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(openapi_path(rule.rule), {})[method.lower()] = operation(
                rule.endpoint, sorted(rule.arguments), definition, view.__doc__ or "", known or {}
            )
    return {
        "openapi": "3.0.3",
        "info": {"title": "recsys", "version": "1", "description": "API.md section 3"},
        "paths": dict(sorted(paths.items())),
        "components": components(),
    }


def operation(
    endpoint: str, arguments: list[str], definition: Endpoint, doc: str,
    known: Mapping[str, Any],
) -> dict:
    summary = " ".join(doc.strip().split("\n\n")[0].split())
    parameters = [
        {"name": name, "in": "path", "required": True, "schema": {
            "type": "string", "minLength": 1, "maxLength": MAX_ID_LENGTH, "pattern": ID_PATTERN}}
        for name in arguments
    ] + [
        {"name": param.name, "in": "query", "required": param.required,
         "schema": param.schema(in_query=True, known=known)}
        for param in definition.query
    ]  # fmt: skip
    found: dict[str, Any] = {
        "operationId": endpoint.replace(".", "_"),
        "summary": summary,
        "parameters": parameters,
        "responses": responses(definition),
    }
    if definition.body is not None:
        schema = {
            "type": "object",
            "additionalProperties": False,
            "properties": {param.name: param.schema(in_query=False, known=known)
                           for param in definition.body},
        }
        required = [param.name for param in definition.body if param.required]
        if required:
            schema["required"] = required
        content = {"application/json": {"schema": schema}}
        if definition.beacon:
            content["text/plain"] = {"schema": schema}
        found["requestBody"] = {"required": True, "content": content}
    found["security"] = security(definition.access)
    found["x-access"] = definition.access  # none|public|personal|private|admin|metrics (API.md 6)
    return found


def security(access: str) -> list[dict[str, list[str]]]:
    """Who may call an operation (serving/access.py): a key (public or private: see x-access),
    with the customer's user token for a personal one unless the key is private; none needed."""
    keyed = [{"apiKey": []}, {"bearer": []}, {"keyQuery": []}]
    if access in (NONE, METRICS):
        return []
    if access == PERSONAL:
        return [*keyed, {"apiKey": [], "userToken": []}, {"keyQuery": [], "userTokenQuery": []}]
    return keyed


def responses(definition: Endpoint) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": STATUS_TEXT.get(definition.status, "OK")}
    if definition.response is not None:
        ok["content"] = {definition.media_type: {"schema": dict(definition.response)}}
    else:
        ok["content"] = {definition.media_type: {"schema": {"type": "string"}}}
    errors = [*COMMON_ERRORS, *definition.errors]
    if definition.body is not None:
        errors += BODY_ERRORS
    if definition.access not in (NONE, METRICS):
        errors += KEY_ERRORS
    described = {
        str(status): {"description": text, "content": {"application/json": {"schema": ERROR}}}
        for status, text in sorted(errors)
    }
    return {str(definition.status): ok, **described}


def components() -> dict[str, Any]:
    item = {
        "type": "object",
        "required": ["item_id", "score"],
        "properties": {
            "item_id": {"type": "string"},
            "score": {"type": "number"},
            "reason": {"type": "string", "nullable": True},
        },
    }
    picks = {
        "type": "object",
        "required": ["request_id", "model", "experiment", "variant", "items"],
        "properties": {
            "request_id": {"type": "string"},
            "model": {"type": "string"},
            "experiment": {"type": "string", "nullable": True},
            "variant": {"type": "string", "nullable": True},
            "items": {"type": "array", "items": item},
            "degraded": {"type": "string", "enum": ["store_unavailable"],
                         "description": "present when the answer lacks something: "
                         "store_unavailable, from the bundle alone (no fresh events)"},
        },
    }
    error = {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string"},
                    "parameter": {"type": "string"},
                },
            }
        },
    }
    return {
        "schemas": {"Picks": picks, "Error": error},
        "securitySchemes": {
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            "bearer": {"type": "http", "scheme": "bearer"},
            "keyQuery": {"type": "apiKey", "in": "query", "name": "key"},
            "userToken": {"type": "apiKey", "in": "header", "name": "X-User-Token"},
            "userTokenQuery": {"type": "apiKey", "in": "query", "name": "user_token"},
        },
    }
