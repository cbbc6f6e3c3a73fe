"""Item changes sent to the server (`POST /v1/items`): strict checks of the decoded JSON body.

A change is flat: the known fields under their own names and each property under its name (the
way a catalogue file holds them as columns), so a property may not take a known field's name.
Every error names the field, e.g. `items[3].price` or `items[0].properties.brand`.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping
from typing import Any

from recsys.data.incoming import json_type, price, shown, text, timestamp
from recsys.errors import ParameterError

MAX_ITEMS = 1000
MAX_TEXT = 2000  # characters of a title, category or property value
MAX_PROPERTIES = 64
FLAGS = ("in_stock", "hidden")
TEXTS = ("title", "category")
FIELDS = (*FLAGS, *TEXTS, "price", "available_until", "properties")
RESERVED = frozenset((*FIELDS, "item_id", "deleted", "added"))  # the store sets `added`
PROPERTY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
Change = dict[str, Any]  # field or property name -> value (None: the property is removed)


def parse_item_changes(payload: object) -> list[tuple[str, Change]]:
    """The (item_id, change) pairs of a body `{"items": [...]}`; ParameterError naming the first
    bad field. An item named twice keeps both changes, applied in order."""
    if not isinstance(payload, Mapping):
        raise ParameterError("body", 'must be a JSON object {"items": [...]}')
    unknown = sorted(set(payload) - {"items"})
    if unknown:
        raise ParameterError(unknown[0], "unknown field (known: items)")
    items = payload.get("items")
    if not isinstance(items, list) or not items:
        raise ParameterError("items", "must be a non-empty list of items")
    if len(items) > MAX_ITEMS:
        raise ParameterError("items", f"holds {len(items)} items; at most {MAX_ITEMS}")
    now = time.time()
    return [parse_item(item, f"items[{i}]", now) for i, item in enumerate(items)]


def parse_item(item: object, name: str, now: float) -> tuple[str, Change]:
    if not isinstance(item, Mapping):
        raise ParameterError(name, "must be a JSON object")
    unknown = sorted(set(item) - set(FIELDS) - {"item_id"}, key=str)
    if unknown:
        raise ParameterError(
            f"{name}.{unknown[0]}", f"unknown field (known: item_id, {', '.join(FIELDS)})"
        )
    item_id = str(text(item.get("item_id"), f"{name}.item_id", required=True))
    change: Change = {}
    for key in FLAGS:
        if key in item:
            change[key] = flag(item[key], f"{name}.{key}")
    for key in TEXTS:
        if key in item:
            change[key] = bounded_text(item[key], f"{name}.{key}")
    if "price" in item:
        change["price"] = price(item["price"], f"{name}.price")
    if "available_until" in item:  # null clears it
        value = item["available_until"]
        change["available_until"] = (
            None if value is None else timestamp(value, f"{name}.available_until", now)
        )
    if "properties" in item:
        change.update(properties(item["properties"], f"{name}.properties"))
    if not change:
        raise ParameterError(name, f"changes nothing: give at least one of {', '.join(FIELDS)}")
    return item_id, change


def flag(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise ParameterError(name, f"must be true or false, not {shown(value)}")
    return value


def bounded_text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise ParameterError(name, f"must be a string, not {json_type(value)}")
    if len(value) > MAX_TEXT:
        raise ParameterError(name, f"is {len(value)} characters long; at most {MAX_TEXT}")
    if "\x00" in value:
        raise ParameterError(name, "must not contain NUL characters")
    return value


def properties(value: object, name: str) -> Change:
    """A flat object of strings, numbers and booleans (null removes a property)."""
    if not isinstance(value, Mapping):
        raise ParameterError(name, f"must be an object, not {json_type(value)}")
    if len(value) > MAX_PROPERTIES:
        raise ParameterError(name, f"holds {len(value)} properties; at most {MAX_PROPERTIES}")
    found: Change = {}
    for key, raw in value.items():
        where = f"{name}.{key}"
        if not PROPERTY_NAME.fullmatch(key):
            raise ParameterError(where, "a property name is a letter or _, then letters, digits, _")
        if key in RESERVED:
            raise ParameterError(where, "is a field of the item, not a property: set it directly")
        if raw is None or isinstance(raw, bool):
            found[key] = raw
        elif isinstance(raw, int | float):
            if not math.isfinite(raw) or abs(raw) > 1e15:
                raise ParameterError(where, f"must be a finite number, not {shown(raw)}")
            found[key] = raw
        elif isinstance(raw, str):
            found[key] = bounded_text(raw, where)
        else:
            raise ParameterError(
                where, f"must be a string, number or boolean, not {json_type(raw)}"
            )
    return found
