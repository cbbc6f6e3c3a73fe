"""Request parsing shared by every view, and the one error handler: recsys errors and HTTP errors
become JSON {"error": {"code", "message"}} with the right status; anything else is a logged 500."""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping
from typing import Any

import orjson
from flask import Flask, Response, current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

from recsys.data.incoming import text
from recsys.errors import BundleError, NoModelError, ParameterError, RecsysError
from recsys.eventstore import StoreError
from recsys.service.query import MAX_N, Query
from serving.jsonio import dumps

MAX_LIST = 1000  # ids in `exclude`, a basket or a batch
COMMON = ("n", "category", "exclude", "in_stock", "diversity", "experiment")
TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
INTEGER = re.compile(r"[0-9]{1,6}")
NUMBER = re.compile(r"[0-9]*\.?[0-9]+")

PARSED_SIZE = 4096  # distinct query strings whose parsed Query is kept
PARSED: dict[tuple[bytes, tuple[str, ...]], Query] = {}

log = logging.getLogger("recsys.server")


def request_query(extra: tuple[str, ...] = ()) -> Query:
    """The request's common parameters, parsed once per distinct query string (bounded)."""
    key = (request.query_string, extra)
    query = PARSED.get(key)
    if query is None:
        query = parse_query(request.args, extra)
        if len(PARSED) >= PARSED_SIZE:
            PARSED.clear()
        PARSED[key] = query
    return query


def parse_query(args: MultiDict[str, str], extra: tuple[str, ...] = ()) -> Query:
    """The common query parameters, strictly: unknown or repeated ones are refused too."""
    for name in args:
        if name not in COMMON and name not in extra:
            raise ParameterError(name, f"unknown parameter (known: {', '.join(COMMON + extra)})")
        if len(args.getlist(name)) > 1:
            raise ParameterError(name, "given more than once")
    return Query(
        n=integer(args, "n", 10, 1, MAX_N),
        category=optional_text(args, "category"),
        exclude=id_list(args.get("exclude", ""), "exclude"),
        in_stock=boolean(args, "in_stock"),
        diversity=number(args, "diversity", 0.0, 0.0, 1.0),
        experiment=optional_text(args, "experiment"),
    )


def integer(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = args.get(name)
    if raw is None:
        return default
    if not INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise ParameterError(name, f"must be an integer from {low} to {high}, got {shown(raw)}")
    return int(raw)


def number(args: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = args.get(name)
    if raw is None:
        return default
    value = float(raw) if NUMBER.fullmatch(raw) else math.nan
    if not low <= value <= high:
        raise ParameterError(name, f"must be a number from {low:g} to {high:g}, got {shown(raw)}")
    return value


def boolean(args: Mapping[str, str], name: str) -> bool | None:
    raw = args.get(name)
    if raw is None:
        return None
    if raw.lower() not in TRUE | FALSE:
        raise ParameterError(name, f"must be true or false, got {shown(raw)}")
    return raw.lower() in TRUE


def optional_text(args: Mapping[str, str], name: str) -> str | None:
    raw = args.get(name)
    return None if raw is None else text(raw, name, required=True)


def id_list(raw: str, name: str) -> tuple[str, ...]:
    """Comma-separated ids; empty pieces are ignored."""
    ids = tuple(piece for piece in raw.split(",") if piece)
    if len(ids) > MAX_LIST:
        raise ParameterError(name, f"holds {len(ids)} ids; at most {MAX_LIST}")
    for i, item in enumerate(ids):
        text(item, f"{name}[{i}]", required=True)
    return ids


def path_id(value: str, name: str) -> str:
    """An id from the URL path: a non-blank string of at most MAX_ID_LENGTH characters."""
    return str(text(value, name, required=True))


def json_body(allowed: tuple[str, ...]) -> dict[str, Any]:
    """The request's JSON object; 415 for another content type, 400 naming the problem."""
    if request.mimetype != "application/json":
        raise UnsupportedType()
    try:
        body = orjson.loads(request.get_data(cache=False))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ParameterError("body", f"is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ParameterError("body", "must be a JSON object")
    for name in body:
        if name not in allowed:
            raise ParameterError(name, f"unknown field (known: {', '.join(allowed)})")
    return body


def body_ids(body: Mapping[str, Any], name: str, required: bool = True) -> list[str]:
    """A list of id strings from a JSON body (may be empty)."""
    value = body.get(name)
    if value is None and not required:
        return []
    if not isinstance(value, list):
        raise ParameterError(name, "must be a list of id strings")
    if len(value) > MAX_LIST:
        raise ParameterError(name, f"holds {len(value)} ids; at most {MAX_LIST}")
    return [str(text(item, f"{name}[{i}]", required=True)) for i, item in enumerate(value)]


def body_text(body: Mapping[str, Any], name: str) -> str | None:
    return text(body.get(name), name)


def shown(raw: str) -> str:
    return repr(raw if len(raw) <= 40 else raw[:40] + "…")


class UnsupportedType(HTTPException):
    code = 415
    description = "send the body as JSON with Content-Type: application/json"


def error_response(status: int, code: str, message: str, **extra: Any) -> Response:
    body = {"error": {"code": code, "message": message, **extra}}
    return current_app.response_class(dumps(body), status=status, mimetype="application/json")


def status_of(exc: RecsysError) -> tuple[int, str]:
    if isinstance(exc, ParameterError):
        return 400, "bad_parameter"
    if isinstance(exc, NoModelError):
        return 503, "no_model"
    if isinstance(exc, BundleError):
        return 409, "bundle_refused"
    if isinstance(exc, StoreError):
        return 503, "store_unavailable"
    return 400, "bad_request"


def register_errors(app: Flask) -> None:
    @app.errorhandler(RecsysError)
    def recsys_error(exc: RecsysError) -> Response:
        status, code = status_of(exc)
        if status >= 500:
            log.error('{"event": "%s", "reason": %s}', code, json.dumps(str(exc)))
        extra = {"parameter": exc.parameter} if isinstance(exc, ParameterError) else {}
        return error_response(status, code, str(exc), **extra)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or code)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def bug(exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error (logged)")
