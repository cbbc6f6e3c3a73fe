"""Events in, and forgetting a customer."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint, g

from recsys.data.incoming import (
    LATEST_TIMESTAMP,
    MAX_EVENTS,
    MAX_PRICE,
    OPTIONAL_IDS,
    REQUIRED_IDS,
    parse_events,
)
from recsys_serving.access import PUBLIC, caller, check_event
from recsys_serving.http import body_args, user_path_id
from recsys_serving.params import ID_PATTERN, OBJECTS, Param, accepts
from recsys_serving.resources import resources

bp = Blueprint("events", __name__)
TEXT = {"type": "string", "minLength": 1, "maxLength": 256, "pattern": ID_PATTERN}
OPTIONAL = {"nullable": True}  # null is taken as absent
YEARS = r"^(19[89][0-9]|[2-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])-"  # within range


def event_schema(known: Mapping[str, Any]) -> dict[str, Any]:
    """One event (recsys.data.incoming), with the configured price bound."""
    return {
        "type": "object",
        "required": list(REQUIRED_IDS),
        "additionalProperties": False,
        "properties": {
            **dict.fromkeys(REQUIRED_IDS, TEXT),
            **{name: {**TEXT, **OPTIONAL} for name in OPTIONAL_IDS},
            "timestamp": {"anyOf": [{"type": "string", "format": "date-time", "pattern": YEARS},
                                    {"type": "number", "minimum": 0, "maximum": LATEST_TIMESTAMP}],
                          "description": "ISO-8601 or Unix seconds; absent: now", **OPTIONAL},
            "quantity": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1, **OPTIONAL},
            "price": {"type": "number", "minimum": 0, "maximum": known.get("max_price", MAX_PRICE),
                      "description": "unit price paid (events.max_price)", **OPTIONAL},
        },
    }  # fmt: skip
EVENTS = Param("events", OBJECTS, "the events", required=True, max_items=MAX_EVENTS,
               item_schema=event_schema, min_items=1)  # fmt: skip
RECEIVED = {
    "type": "object",
    "required": ["request_id", "received", "stored"],
    "properties": {"request_id": {"type": "string"}, "received": {"type": "integer"},
                   "stored": {"type": "integer"}},
}  # fmt: skip
FORGOTTEN = {
    "type": "object",
    "required": ["request_id", "user_id", "forgotten", "deleted"],
    "properties": {"request_id": {"type": "string"}, "user_id": {"type": "string"},
                   "forgotten": {"type": "boolean"}, "deleted": {"type": "integer"}},
}  # fmt: skip


@bp.post("/v1/events")
@accepts(body=(EVENTS,), status=202, response=RECEIVED, access=PUBLIC,
         beacon=True)  # each event checked by check_event
def post_events() -> tuple[dict[str, Any], int]:
    """Record events (browsing, purchases, impressions, clicks); body {"events": [...]}. A user's
    events change their next personalised picks at once."""
    found = resources()
    events = parse_events(body_args(), found.settings.max_events,
                          found.settings.config.events.max_price)  # fmt: skip
    if not caller().trusted:
        holder = found.holder
        known = holder.served.bundle.users if holder.ready else None  # none loaded: all known
        for event in events:
            check_event(event.user_id, event.event_type, known is None or event.user_id in known)
    if found.activity is not None:
        found.activity.mark({event.user_id for event in events})
    stored = found.store.append(events)
    return {"request_id": g.request_id, "received": len(events), "stored": stored}, 202


@bp.delete("/v1/users/<entity:user_id>")  # one segment: user_path_id refuses more (404)
@accepts(response=FORGOTTEN)
def forget_user(user_id: str) -> dict[str, Any]:
    """Forget a customer (API key): their events and served picks are deleted, every worker
    answers them as an unknown visitor from the moment this answers (the bundles still hold them
    until the next training), and no reader uses their rows again. An id holding "/" is sent
    percent-encoded (%2F)."""
    user_id = user_path_id()
    found = resources()
    if found.activity is not None:
        found.activity.mark([user_id])
    deleted = found.store.forget_user(user_id)
    found.watch.noted_forgotten(user_id)
    return {"request_id": g.request_id, "user_id": user_id, "forgotten": True, "deleted": deleted}
