"""Events in, and forgetting a customer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, g

from recsys.data.incoming import parse_events
from serving.http import json_body, path_id
from serving.resources import require_api_key, resources

bp = Blueprint("events", __name__)


@bp.post("/v1/events")
def post_events() -> tuple[dict[str, Any], int]:
    """Record events (browsing, purchases, impressions, clicks); body {"events": [...]}. A user's
    events change their next personalised picks at once."""
    found = resources()
    events = parse_events(json_body(("events",)), found.settings.max_events)
    if found.activity is not None:
        found.activity.mark({event.user_id for event in events})
    stored = found.store.append(events)
    return {"request_id": g.request_id, "received": len(events), "stored": stored}, 202


@bp.delete("/v1/users/<path:user_id>")
def forget_user(user_id: str) -> dict[str, Any]:
    """Forget a customer (API key): their events and served picks are deleted, the served model
    treats them as unknown from now on, and training never sees them again."""
    require_api_key()
    user_id = path_id(user_id, "user_id")
    found = resources()
    if found.activity is not None:
        found.activity.mark([user_id])
    deleted = found.store.forget_user(user_id)
    return {"request_id": g.request_id, "user_id": user_id, "forgotten": True, "deleted": deleted}
