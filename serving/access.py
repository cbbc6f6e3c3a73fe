"""Who may call what (API.md section 6): private keys everything; public keys (safe in a web page)
the non-personal endpoints and browsing events of anonymous visitors; a customer's own picks and
events with a public key only with that customer's user token (recsys.access). Without a key: 401,
unless the server runs open ([server] open), where everything but the admin endpoints is served.
Every request is classified before its view runs (check_request), by the access its view declares
(recsys_serving.params.Endpoint.access); views that take user ids from a body check each of them
(require_user). Keys and tokens are compared in constant time
and never logged (the access log writes the path, never the query string or headers)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field

from flask import Flask, current_app, g, request
from werkzeug.exceptions import HTTPException

from recsys.access import token_matches
from recsys_serving.params import definition_of
from recsys_serving.settings import Settings

PARAMETERS = ("key", "user_token")  # query parameters any endpoint accepts (browser beacons)
NONE, PUBLIC, PERSONAL, PRIVATE, ADMIN = "none", "public", "personal", "private", "admin"
METRICS = "metrics"  # none, or private with [server] metrics_private
# A view declares its access (params.Endpoint.access). Private: a private key, or no key
# on an open server; admin: a private key always (and for a view that declares nothing).
BROWSING = frozenset({"view", "add_to_cart", "impression", "click"})  # public keys may send these


class MissingKey(HTTPException):
    code = 401
    description = "this endpoint needs an API key (X-API-Key, Authorization: Bearer, or key=)"


class WrongKey(HTTPException):
    code = 403
    description = "the API key is not valid"


class PrivateKeyRequired(HTTPException):
    code = 403
    name = "private_key_required"
    description = "this endpoint needs a private API key"


class UserTokenRequired(HTTPException):
    code = 403
    name = "user_token_required"
    description = (
        "a public key reaches a customer's own picks and events only with that customer's user "
        "token (X-User-Token or user_token=)"
    )


@dataclass(frozen=True)
class Caller:
    level: str  # private | public | open (no key, open server)
    token: str  # the user token sent, "" if none
    key: str = field(default="", repr=False)  # a public key sent (its rate limit)

    @property
    def trusted(self) -> bool:
        """May see and send anything a customer's token would allow, for any customer."""
        return self.level in ("private", "open")


def access_of(endpoint: str | None) -> str:
    view = current_app.view_functions.get(endpoint or "")
    definition = definition_of(view) if view is not None else None
    return definition.access if definition is not None else ADMIN


def register_access(app: Flask) -> None:
    app.before_request(check_request)


def check_request() -> None:
    """Classifies the caller (g.caller) and refuses what its key does not reach."""
    if request.method == "OPTIONS" or request.url_rule is None:
        return  # CORS preflight, or a 404/405 answered by Flask
    scope = access_of(request.endpoint)
    settings: Settings = current_app.config["RECSYS"]
    if scope == METRICS:  # a private key's alone with metrics_private, even on an open server
        scope = ADMIN if settings.config.server.metrics_private else NONE
    if scope == NONE:
        return
    caller = identify(settings)
    g.caller = caller
    if caller.level == "private" or (caller.level == "open" and scope != ADMIN):
        return
    if scope in (PRIVATE, ADMIN):
        raise PrivateKeyRequired() if caller.level == "public" else MissingKey()
    if scope == PERSONAL and request.view_args and "user_id" in request.view_args:
        require_user(str(request.view_args["user_id"]))


def identify(settings: Settings) -> Caller:
    """The caller's level from its key; 401 without one (closed server), 403 for a wrong one."""
    given = given_key()
    token = request.environ.get("HTTP_X_USER_TOKEN") or query_parameter("user_token")
    if not given:
        if settings.config.server.open:
            return Caller("open", token)
        raise MissingKey()
    if matches(given, settings.api_keys):
        return Caller("private", token)
    if matches(given, settings.public_keys):
        return Caller("public", token, given)
    raise WrongKey()


def given_key() -> str:
    environ = request.environ  # headers as the WSGI server gave them (X-API-Key: HTTP_X_API_KEY)
    key = environ.get("HTTP_X_API_KEY")
    if key:
        return str(key)
    scheme, _, token = str(environ.get("HTTP_AUTHORIZATION", "")).partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return query_parameter("key")


def query_parameter(name: str) -> str:
    """A query parameter ("" when absent), the query string parsed only when it could hold it: a
    name arrives as itself or percent-encoded, and most requests send neither key= nor
    user_token= (parsing costs more than the rest of the access check)."""
    raw = str(request.environ.get("QUERY_STRING", ""))
    if name not in raw and "%" not in raw:
        return ""
    return request.args.get(name, "")


def matches(given: str, keys: tuple[str, ...]) -> bool:
    """Whether `given` is one of `keys`: every key compared, so timing tells nothing."""
    matched = False
    for key in keys:
        matched |= hmac.compare_digest(given.encode(), key.encode())
    return matched


def caller_or_none() -> Caller | None:
    """This request's caller; None on endpoints that need no key."""
    found: Caller | None = g.get("caller")
    return found


def caller() -> Caller:
    """This request's caller (a private one on endpoints that need no key)."""
    found: Caller | None = g.get("caller")
    return found if found is not None else Caller("private", "")


def owns(user_id: str) -> bool:
    """Whether the caller may see `user_id`'s own history (reasons naming it) and act for them."""
    found = caller()
    if found.trusted:
        return True
    secret = current_app.config["RECSYS"].token_secret
    return token_matches(secret, user_id, found.token)


def require_user(user_id: str) -> None:
    """403 user_token_required unless the caller may act for `user_id`."""
    if not owns(user_id):
        raise UserTokenRequired()


def require_private() -> None:
    """For private-only operations of endpoints whose scope is wider."""
    if caller().level != "private":
        raise PrivateKeyRequired()


def check_event(user_id: str, event_type: str, known: bool) -> None:
    """A public key sends browsing events of anonymous visitors; a known customer's events and
    purchases (any other type) need that customer's token."""
    if known or event_type not in BROWSING:
        require_user(user_id)
