"""Rate limits on public keys (API.md section 6), per key and client address, with Flask-Limiter:
one budget across every endpoint (`[server] rate_limit`, e.g. "300/minute"; "" turns it off), kept
in `[server] rate_limit_storage`. The default, memory://, counts per process: with N gunicorn
workers a client gets up to N times the budget, so a production server names a storage the workers
share, e.g. memcached://127.0.0.1:11211 (Debian's memcached; pymemcache, the `limits` extra) or
redis://. When that storage is unreachable requests are served (and the error logged) rather than
refused. Private keys, open-mode requests without a key and the endpoints that need no key are
never limited. An over-budget request is 429 `rate_limited` with Retry-After in seconds."""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Flask, Response, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many

from recsys.errors import ConfigError
from recsys_serving.access import caller_or_none
from recsys_serving.http import error_response

log = logging.getLogger("recsys.server")


def register_limits(app: Flask, rate: str, storage: str) -> Limiter | None:
    """Limits public-key requests of `app` to `rate` (None when `rate` is empty)."""
    if not rate:
        return None
    try:
        parse_many(rate)
    except ValueError as exc:
        raise ConfigError("server.rate_limit", f"{exc} (e.g. \"300/minute\")") from None
    if storage.startswith("memory:"):
        log.warning('{"event": "rate_limit_per_process", "reason": "rate_limit_storage is %s: '
                    'each worker counts on its own; name a shared storage (memcached://, '
                    'redis://) for limits across workers"}', storage)  # fmt: skip
    try:
        limiter = Limiter(
            client_key, app=app, application_limits=[rate], storage_uri=storage,
            application_limits_exempt_when=not_public, swallow_errors=True, key_prefix="recsys",
        )  # fmt: skip
    except Exception as exc:  # an unknown scheme, or its client library missing
        raise ConfigError("server.rate_limit_storage", f"cannot use {storage!r}: {exc}") from None
    app.register_error_handler(RateLimitExceeded, lambda exc: too_many(limiter, exc))
    return limiter


def not_public() -> bool:
    found = caller_or_none()
    return found is None or found.level != "public"


def client_key() -> str:
    """The public key (hashed: stored keys are never the keys) and the client's address."""
    found = caller_or_none()
    key = hashlib.sha256(found.key.encode()).hexdigest()[:16] if found is not None else ""
    return f"{key}:{request.remote_addr or ''}"


def too_many(limiter: Limiter, exc: RateLimitExceeded) -> Response:
    """429 rate_limited, with Retry-After: the seconds until the window lets a request in."""
    current = limiter.current_limit
    seconds = max(1, int(current.reset_at - time.time())) if current is not None else 60
    response = error_response(
        429, "rate_limited", f"more than {exc.limit.limit} from this key and address; retry later"
    )
    response.headers["Retry-After"] = str(seconds)
    return response
