"""The live catalogue: items as served now, and changing them without retraining."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, g
from werkzeug.exceptions import NotFound

from recsys.data.incoming import MAX_PRICE
from recsys.data.item_changes import FIELDS, MAX_ITEMS, MAX_TEXT, Change, parse_item_changes
from recsys.service.items import item_view
from recsys_serving.access import PUBLIC
from recsys_serving.http import body_args, path_id
from recsys_serving.params import ID_PATTERN, OBJECTS, Param, accepts
from recsys_serving.resources import resources

bp = Blueprint("items", __name__)
TEXT = {"type": "string", "maxLength": MAX_TEXT}
VALUE = {"anyOf": [TEXT, {"type": "number"}, {"type": "boolean"}], "nullable": True}
ITEM = {
    "type": "object",
    "required": ["item_id"],
    "minProperties": 2,  # the id and at least one change
    "additionalProperties": False,
    "properties": {
        "item_id": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": ID_PATTERN},
        "in_stock": {"type": "boolean"},
        "hidden": {"type": "boolean"},
        "price": {"type": "number", "minimum": 0, "maximum": MAX_PRICE, "nullable": True},
        "title": TEXT,
        "category": {**TEXT, "description": "a path such as shoes/running"},
        "available_until": {"anyOf": [{"type": "string", "format": "date-time"},
                                      {"type": "number", "minimum": 0}], "nullable": True,
                            "description": "ISO-8601 or Unix seconds; null clears it"},
        "properties": {"type": "object", "additionalProperties": VALUE,
                       "description": "flat: strings, numbers, booleans (null removes one)"},
    },
}  # fmt: skip
ITEMS = Param("items", OBJECTS, f"item_id and any of {', '.join(FIELDS)}", required=True,
              max_items=MAX_ITEMS, item_schema=ITEM, min_items=1)  # fmt: skip
CHANGED = {
    "type": "object",
    "required": ["request_id", "received", "items"],
    "properties": {"request_id": {"type": "string"}, "received": {"type": "integer"},
                   "items": {"type": "integer", "description": "distinct items changed"}},
}  # fmt: skip
DELETED = {
    "type": "object",
    "required": ["request_id", "item_id", "deleted"],
    "properties": {"request_id": {"type": "string"}, "item_id": {"type": "string"},
                   "deleted": {"type": "boolean"}},
}  # fmt: skip
SHOWN = {
    "type": "object",
    "required": ["request_id", "item_id", "available", "known_to_model"],
    "properties": {
        "request_id": {"type": "string"}, "item_id": {"type": "string"},
        "title": {"type": "string"}, "category": {"type": "string"},
        "price": {"type": "number", "nullable": True}, "in_stock": {"type": "boolean"},
        "hidden": {"type": "boolean"},
        "available_until": {"type": "string", "format": "date-time", "nullable": True},
        "added": {"type": "string", "format": "date-time", "nullable": True,
                  "description": "when POST /v1/items first named it (new arrivals' order)"},
        "properties": {"type": "object"}, "available": {"type": "boolean"},
        "deleted": {"type": "boolean"}, "known_to_model": {"type": "boolean"},
        "changed": {"type": "boolean", "description": "changed since the bundle was trained"},
    },
}  # fmt: skip
UNKNOWN = ((404, "neither the bundle nor the live catalogue knows this item"),)


class UnknownItem(NotFound):
    description = UNKNOWN[0][1]


@bp.get("/v1/items/<path:item_id>")
@accepts(response=SHOWN, errors=UNKNOWN, access=PUBLIC)
def get_item(item_id: str) -> dict[str, Any]:
    """An item as the server knows it now (catalogue + live changes) and whether it is
    available."""
    item_id = path_id(item_id, "item_id")
    found = item_view(resources().holder.served, item_id)
    if found is None:
        raise UnknownItem()
    return {"request_id": g.request_id, **found}


@bp.post("/v1/items")
@accepts(body=(ITEMS,), response=CHANGED)
def post_items() -> dict[str, Any]:
    """Add or change up to 1000 items at once (private key); every worker serves the changes
    within server.catalogue_refresh_seconds, this one at once."""
    changes = parse_item_changes(body_args())
    stored = changed(changes)
    return {"request_id": g.request_id, "received": len(changes), "items": stored}


@bp.delete("/v1/items/<entity:item_id>")
@accepts(response=DELETED, errors=UNKNOWN)
def delete_item(item_id: str) -> dict[str, Any]:
    """Stop recommending an item (private key); changing it again brings it back."""
    item_id = path_id(item_id, "item_id")
    if item_view(resources().holder.served, item_id) is None:
        raise UnknownItem()
    changed([(item_id, {"deleted": True})])
    return {"request_id": g.request_id, "item_id": item_id, "deleted": True}


def changed(changes: list[tuple[str, Change]]) -> int:
    """Stores the changes and serves them in this process at once; how many items changed."""
    found = resources()
    found.store.change_items(changes, time.time())
    if found.catalogue is not None:
        found.catalogue.refresh()
    return len({item_id for item_id, _ in changes})
