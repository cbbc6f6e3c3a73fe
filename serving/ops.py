"""Operations: liveness, readiness, metrics, the OpenAPI description and bundle reload."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, g

from recsys.errors import BundleError, NoModelError
from recsys_serving.access import METRICS, NONE
from recsys_serving.openapi import spec
from recsys_serving.params import accepts
from recsys_serving.resources import resources

bp = Blueprint("ops", __name__)
STATUS = {"type": "object", "required": ["status"], "properties": {"status": {"type": "string"}}}
READY = {**STATUS, "properties": {"status": {"type": "string"}, "version": {"type": "string"}}}
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
@accepts(response=READY, access=NONE)
def readyz() -> dict[str, Any]:
    """Ready when a bundle is loaded (503 until then)."""
    holder = resources().holder
    if not holder.ready:
        raise NoModelError(f"no model bundle loaded yet from {holder.models_dir}")
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
