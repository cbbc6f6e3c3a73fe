"""An item as the server knows it now: the bundle's catalogue row, then the live changes on top."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any

from recsys.data.columns import parse_one_timestamp
from recsys.eventstore.items import ADDED
from recsys.service.served import ServedBundle

KNOWN = ("title", "category", "price", "in_stock", "hidden", "available_until")


def item_view(served: ServedBundle, item_id: str) -> dict[str, Any] | None:
    """The item's fields, properties and availability; None when neither the bundle nor the live
    catalogue knows it."""
    number = served.bundle.items.index(item_id)
    changes = served.follow().overlay.items.get(item_id)
    if number is None and changes is None:
        return None
    fields = {"title": "", "category": "", "price": None, "in_stock": True, "hidden": False,
              "available_until": None}  # fmt: skip
    catalogue = served.bundle.catalogue
    if number is not None and catalogue is not None:
        row = catalogue.table.slice(number, 1).to_pylist()[0]
        row.pop("item_id", None)
        fields.update({key: plain(value) for key, value in row.items()})
    fields.update(changes or {})
    deleted = bool(fields.pop("deleted", False))
    added = seconds_of(fields.pop(ADDED, None))
    until = seconds_of(fields.get("available_until"))
    available = (
        not deleted
        and bool(fields.get("in_stock", True))
        and not truthy(fields.get("hidden"))
        and (until is None or until > time.time())
    )
    properties = {k: v for k, v in fields.items() if k not in KNOWN and v is not None}
    return {
        "item_id": item_id,
        **{key: fields.get(key) for key in KNOWN if key != "available_until"},
        "hidden": truthy(fields.get("hidden")),
        "available_until": iso(until),
        "added": iso(added),
        "properties": properties,
        "available": available,
        "deleted": deleted,
        "known_to_model": number is not None,
        "changed": changes is not None,
    }


def plain(value: Any) -> Any:
    """A catalogue value as JSON holds it (NaN: no value)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in {"true", "1", "yes", "y", "t"}
    return bool(value)


def seconds_of(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return None if math.isnan(value) else float(value)
    if isinstance(value, datetime):
        return value.timestamp()
    parsed = parse_one_timestamp(str(value))
    return None if parsed is None else float(parsed)


def iso(seconds: float | None) -> str | None:
    if seconds is None or not math.isfinite(seconds):
        return None
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
