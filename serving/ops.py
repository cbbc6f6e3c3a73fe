"""Operations: liveness, readiness, metrics, the OpenAPI description and bundle reload."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g

from recsys.errors import BundleError, NoModelError
from recsys_serving.access import METRICS, NONE
from recsys_serving.http import query_args
from recsys_serving.openapi import spec
from recsys_serving.params import BOOLEAN, Param, accepts
from recsys_serving.resources import resources

bp = Blueprint("ops", __name__)
STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
OUTAGE = {
    "type": "object",
    "required": ["since", "personal_picks", "writes", "retry_in"],
    "properties": {
        "since": {"type": "number", "description": "Unix seconds"},
        "personal_picks": {"type": "string", "enum": ["bundle_only", "refused"],
                           "description": "refused: no forgotten list was read yet (503)"},
        "writes": {"type": "string", "enum": ["refused"], "description": "503 + Retry-After"},
        "retry_in": {"type": "number", "description": "seconds until this process tries again"},
    },
}  # fmt: skip
READY = {**STATUS, "properties": {
    "status": {"type": "string", "enum": ["ready", "degraded"]}, "version": {"type": "string"},
    "degraded": {"type": "object", "properties": {"event_store": OUTAGE},
                 "description": "what does not work now, and what is answered instead"},
}}  # fmt: skip
STRICT = Param("strict", BOOLEAN, "503 while degraded too (default: 200, since a degraded "
               "process still answers)", default=False)  # fmt: skip
RELOADED = {
    "type": "object",
    "required": ["request_id", "previous", "version", "reloaded"],
    "properties": {"request_id": {"type": "string"},
                   "previous": {"type": "string", "nullable": True},
                   "version": {"type": "string"}, "reloaded": {"type": "boolean"}},
}  # fmt: skip


@bp.get("/healthz")
@accepts(response=STATUS, access=NONE)
def healthz() -> dict[str, Any]:
    """Alive (the process answers)."""
    return {"status": "ok"}


@bp.get("/readyz")
@accepts(query=(STRICT,), response=READY, access=NONE)
def readyz() -> dict[str, Any]:
    """Ready when a bundle is loaded (503 until then); "degraded", still 200, while the event
    store is down (bundle-only picks, writes refused), 503 then with strict=true."""
    strict = query_args()["strict"]
    found = resources()
    holder = found.holder
    if not holder.ready:
        raise NoModelError(f"no model bundle loaded yet from {holder.models_dir}")
    degraded = found.watch.degraded()
    if degraded and strict:
        raise found.watch.unavailable("readiness is strict")
    if degraded:
        return {"status": "degraded", "version": holder.version, "degraded": degraded}
    return {"status": "ready", "version": holder.version}


@bp.get("/metrics")
@accepts(response=None, media_type="text/plain", access=METRICS)
def metrics() -> Response:
    """Prometheus metrics (text format)."""
    return resources().metrics.exposition()


@bp.get("/openapi.json")
@accepts(access=NONE)
def openapi() -> dict[str, Any]:
    """This API's OpenAPI 3 description, built from the registered routes."""
    return spec(current_app, known_values())


def known_values() -> dict[str, Any]:
    """What the server accepts now where that depends on the bundle or the config (documented as
    enums and bounds by the OpenAPI document)."""
    found = resources()
    known: dict[str, Any] = {"max_price": found.settings.config.events.max_price}
    if found.holder.ready:
        served = found.holder.served
        known["categories"] = sorted(served.category_index.known)
        known["windows"] = [f"{served.bundle.popularity.window_days:g}d", "all"]
    return known


@bp.post("/admin/reload")
@accepts(response=RELOADED, errors=((409, "the new bundle is damaged"),))
def reload() -> dict[str, Any]:
    """Load the bundle models/CURRENT names (API key); 409 and the old bundle keeps serving when the
    new one is damaged."""
    found = resources()
    try:
        previous, version = found.holder.reload()
    except BundleError:
        found.metrics.reloads.labels("refused").inc()
        raise
    found.metrics.reloads.labels("loaded" if previous != version else "unchanged").inc()
    return {
        "request_id": g.request_id,
        "previous": previous,
        "version": version,
        "reloaded": previous != version,
    }
