"""Rate limits on public keys (API.md section 6), per key and client address, counted by the
`limits` library (Flask-Limiter's engine, without its per-request resolution of decorators and
exemptions, about a quarter of a cached recommendation's CPU time): one budget across every
endpoint (`[server] rate_limit`, e.g. "300/minute"; "" turns it off), fixed windows kept in
`[server] rate_limit_storage`. The default, memory://, counts per process: with N gunicorn
workers a client gets up to N times the budget, so a production server names a storage the workers
share, e.g. memcached://127.0.0.1:11211 (Debian's memcached; pymemcache) or redis://. When that
storage is unreachable requests are served (and the error logged) rather than refused. Private
keys, open-mode requests without a key and the endpoints that need no key are never limited, and
cost nothing here. An over-budget request is 429 `rate_limited` with Retry-After in seconds."""

from __future__ import annotations

import hashlib
import logging
import time

from flask import Flask, Response, request
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from recsys.errors import ConfigError
from recsys_serving.access import Caller, caller_or_none
from recsys_serving.http import error_response

log = logging.getLogger("recsys.server")
NAMESPACE = "recsys"  # the storage's keys start with it


class RateLimit:
    """`rate` per public key and client address, counted in the storage named by `storage`."""

    def __init__(self, rate: str, storage: str) -> None:
        try:
            self.items: list[RateLimitItem] = parse_many(rate)
        except ValueError as exc:
            raise ConfigError("server.rate_limit", f'{exc} (e.g. "300/minute")') from None
        try:
            self.windows = FixedWindowRateLimiter(storage_from_string(storage))
        except Exception as exc:  # an unknown scheme, or its client library missing
            raise ConfigError(
                "server.rate_limit_storage", f"cannot use {storage!r}: {exc}"
            ) from None

    def check(self) -> Response | None:
        """Counts this request against its public key's budget: None to serve it, else 429."""
        found = caller_or_none()
        if found is None or found.level != "public":
            return None
        key = client_key(found)
        try:
            for item in self.items:
                if not self.windows.hit(item, NAMESPACE, key):
                    reset = self.windows.get_window_stats(item, NAMESPACE, key).reset_time
                    return too_many(item, reset)
        except Exception as exc:  # the storage's client raises its own errors: serve, log
            log.warning('{"event": "rate_limit_storage_error", "reason": %r}', str(exc))
        return None


def register_limits(app: Flask, rate: str, storage: str) -> RateLimit | None:
    """Limits public-key requests of `app` to `rate` (None when `rate` is empty)."""
    if not rate:
        return None
    limit = RateLimit(rate, storage)
    if storage.startswith("memory:"):
        log.warning('{"event": "rate_limit_per_process", "reason": "rate_limit_storage is %s: '
                    'each worker counts on its own; name a shared storage (memcached://, '
                    'redis://) for limits across workers"}', storage)  # fmt: skip
    app.before_request(limit.check)  # after access's, which names the caller
    return limit


def client_key(found: Caller) -> str:
    """The public key (hashed: stored keys are never the keys) and the client's address."""
    key = hashlib.sha256(found.key.encode()).hexdigest()[:16]
    return f"{key}:{request.remote_addr or ''}"


def too_many(item: RateLimitItem, reset: float) -> Response:
    """429 rate_limited, with Retry-After: the seconds until the window lets a request in."""
    response = error_response(
        429, "rate_limited", f"more than {item} from this key and address; retry later"
    )
    response.headers["Retry-After"] = str(max(1, int(reset - time.time())))
    return response
