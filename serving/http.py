"""Request parsing shared by every view, and the one error handler: recsys errors and HTTP errors
become JSON {"error": {"code", "message"}} with the right status; anything else is a logged 500."""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from typing import Any
from urllib.parse import unquote_to_bytes

import orjson
from flask import Flask, Response, current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import PathConverter

from recsys.data.incoming import text
from recsys.errors import BundleError, NoModelError, ParameterError, RecsysError
from recsys.eventstore import StoreError, StoreUnavailable
from recsys.privacy import ForgetSecretError
from recsys.service.query import Query
from recsys_serving.access import PARAMETERS
from recsys_serving.jsonio import dumps
from recsys_serving.params import Endpoint, Param, definition_of

STORE_MESSAGE = "the event store is unavailable; the server log says why"  # no URL to clients
PARSED_SIZE = 4096  # distinct (endpoint, query string) pairs whose parsed arguments are kept
PARSED_LENGTH = 512  # bytes of the longest query string kept (longer ones are parsed each time)
PARSED: dict[tuple[str | None, bytes], dict[str, Any]] = {}
QUERY_FIELDS = tuple(field.name for field in dataclasses.fields(Query))
QUERIES = "recsys.queries"  # app.extensions: the app's Query per short query string

log = logging.getLogger("recsys.server")


def endpoint_definition() -> Endpoint:
    """The declared definition of the view serving this request (serving/params.py)."""
    view = current_app.view_functions.get(request.endpoint or "")
    found = definition_of(view) if view is not None else None
    if found is None:
        raise RuntimeError(f"view {request.endpoint} has no @accepts definition")
    return found


def query_args() -> dict[str, Any]:
    """The request's query parameters checked against its view's definition, with defaults;
    parsed once per distinct short query string (bounded in count and bytes)."""
    key = (request.endpoint, request.query_string)
    found = PARSED.get(key)
    if found is None:
        found = parse_query(request.args, endpoint_definition().query)
        if len(request.query_string) > PARSED_LENGTH:
            return found
        if len(PARSED) >= PARSED_SIZE:
            PARSED.clear()
        PARSED[key] = found
    return found


def request_query() -> Query:
    """The common recommendation parameters (params.PICKS_QUERY) as a Query, with the server's
    defaults; built once per app and distinct short query string (as query_args parses)."""
    key = (request.endpoint, request.query_string)
    built: dict[tuple[str | None, bytes], Query] = current_app.extensions.setdefault(QUERIES, {})
    found = built.get(key)
    if found is None:
        found = server_query(query_args())
        if len(key[1]) > PARSED_LENGTH:
            return found
        if len(built) >= PARSED_SIZE:
            built.clear()
        built[key] = found
    return found


def server_query(args: dict[str, Any]) -> Query:
    query = Query(**{name: args[name] for name in QUERY_FIELDS if name in args})
    config = current_app.config["RECSYS"].config
    server = config.server
    given = {"explore_new": server.explore_new, "promotions": config.promotions}
    if query.seen is None:  # the server's default (server.seen, server.seen_cap)
        given.update(seen=server.seen, seen_cap=server.seen_cap)
    return dataclasses.replace(query, **given)


def parse_query(args: MultiDict[str, str], params: tuple[Param, ...]) -> dict[str, Any]:
    """Query parameters, strictly: unknown or repeated ones are refused too."""
    known = {param.name: param for param in params}
    for name in args:
        if name in PARAMETERS:
            continue
        if name not in known:
            raise ParameterError(name, f"unknown parameter (known: {', '.join(known) or 'none'})")
        if len(args.getlist(name)) > 1:
            raise ParameterError(name, "given more than once")
    return {name: param.parse(args.get(name), in_query=True) for name, param in known.items()}


def body_args() -> dict[str, Any]:
    """The request's JSON body checked against its view's definition; absent optional fields are
    their defaults."""
    definition = endpoint_definition()
    fields = definition.body or ()
    body = json_body(tuple(param.name for param in fields), definition.beacon)
    return {
        param.name: param.parse(body.get(param.name), in_query=False)
        for param in fields
        if param.name in body or param.required or param.default is not None
    }


def path_id(value: str, name: str) -> str:
    """An id from the URL path: a non-blank string of at most MAX_ID_LENGTH characters."""
    return str(text(value, name, required=True))


def user_path_id(after: int = 0) -> str:
    """The user id of /v1/users/{user_id}[/...], `after` segments before the path's end, taken
    from the URI as the client sent it: the server percent-decodes the path before routing, so
    only the raw URI tells `a%2Fb` (one id holding a slash) from `a/b` (two segments, not an id:
    404). Without a raw URI (a WSGI server that gives none) ids cannot hold a slash."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    if raw is None:
        value = str((request.view_args or {}).get("user_id", ""))
        if "/" in value:
            raise NotFound()
        return path_id(value, "user_id")
    parts = raw.split("?", 1)[0].split("/")
    if len(parts) < after + 3 or parts[-2 - after] != "users":
        raise NotFound()
    try:
        value = unquote_to_bytes(parts[-1 - after]).decode("utf-8")
    except UnicodeDecodeError:
        raise ParameterError("user_id", "is not UTF-8 once percent-decoded") from None
    return path_id(value, "user_id")


def json_body(allowed: tuple[str, ...], beacon: bool = False) -> dict[str, Any]:
    """The request's JSON object; 415 for another content type (text/plain is JSON too for a
    `beacon` endpoint), 400 naming the problem."""
    if request.mimetype != "application/json" and not (beacon and request.mimetype == "text/plain"):
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


class EntityPath(PathConverter):
    """An id in a path that may hold slashes (like <path:>) but never ends in one of the
    sub-resources routed below it, so DELETE /v1/items/<id> does not also match
    /v1/items/<id>/similar (nor advertise DELETE there)."""

    regex = r"[^/].*?(?<!/similar)(?<!/cross-sell)(?<!/recommendations)"


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
    if isinstance(exc, ForgetSecretError):
        return 503, "forget_secret_missing"
    return 400, "bad_request"


def utf8_path() -> None:
    """400 for a path whose percent-escapes are not UTF-8 (werkzeug would decode both %FF and %FE
    to the same U+FFFD)."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    try:
        unquote_to_bytes(raw.partition("?")[0]).decode("utf-8")
        environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8")
    except UnicodeError:
        raise ParameterError("path", "is not valid UTF-8 once percent-decoded") from None


def register_errors(app: Flask) -> None:
    @app.errorhandler(RecsysError)
    def recsys_error(exc: RecsysError) -> Response:
        status, code = status_of(exc)
        if status >= 500 and not isinstance(exc, StoreUnavailable):  # outages: store_watch.py
            log.error('{"event": "%s", "reason": %s}', code, json.dumps(str(exc)))
        extra = {"parameter": exc.parameter} if isinstance(exc, ParameterError) else {}
        message = STORE_MESSAGE if isinstance(exc, StoreError) else str(exc)
        response = error_response(status, code, message, **extra)
        if isinstance(exc, StoreUnavailable):  # when this process tries the store again
            response.headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
        return response

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        code = (exc.name or "error").lower().replace(" ", "_")
        response = error_response(exc.code or 500, code, exc.description or code)
        if exc.code == 405 and exc.valid_methods:
            response.headers["Allow"] = ", ".join(exc.valid_methods)
        return response

    @app.errorhandler(Exception)
    def bug(exc: Exception) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        log.exception("unhandled error on %s %s", request.method, rule)  # no ids in logs
        return error_response(500, "internal", "internal error (logged)")
