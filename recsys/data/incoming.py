"""Events sent to the server (`POST /v1/events`): strict checks of the decoded JSON body.

Ids must be JSON strings: `"00042"` and `"42"` are different items (API.md section 1), so a JSON
number is refused rather than guessed at. Every error names the field, e.g. `events[3].timestamp`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from recsys.data.columns import parse_one_timestamp
from recsys.errors import ParameterError

MAX_ID_LENGTH = 256
MAX_EVENTS = 1000
MAX_PRICE = 1_000_000.0  # default bound of a unit price (config: events.max_price)
LATEST_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z
REQUIRED_IDS = ("user_id", "item_id", "event_type")
OPTIONAL_IDS = ("session_id", "order_id", "request_id")
FIELDS = frozenset((*REQUIRED_IDS, *OPTIONAL_IDS, "timestamp", "quantity", "price"))


@dataclass(frozen=True, slots=True)
class IncomingEvent:
    """One checked event; `timestamp` is Unix seconds."""

    user_id: str
    item_id: str
    event_type: str
    timestamp: float
    session_id: str | None = None
    quantity: int | None = None
    price: float | None = None
    order_id: str | None = None
    request_id: str | None = None


def parse_events(
    payload: object, max_events: int = MAX_EVENTS, max_price: float = MAX_PRICE
) -> list[IncomingEvent]:
    """The events of a body `{"events": [...]}`; raises ParameterError naming the first bad
    field. A price must be finite, from 0 to `max_price`: one absurd price must not decide an
    experiment's revenue."""
    if not isinstance(payload, Mapping):
        raise ParameterError("body", 'must be a JSON object {"events": [...]}')
    unknown = sorted(set(payload) - {"events"})
    if unknown:
        raise ParameterError(unknown[0], "unknown field")
    if "events" not in payload:
        raise ParameterError("events", "is required")
    events = payload["events"]
    if not isinstance(events, list):
        raise ParameterError("events", "must be a list of events")
    if not events:
        raise ParameterError("events", "must hold at least one event")
    if len(events) > max_events:
        raise ParameterError("events", f"holds {len(events)} events; at most {max_events}")
    now = time.time()
    return [parse_event(event, f"events[{i}]", now, max_price) for i, event in enumerate(events)]


def parse_event(
    event: object, name: str, now: float, max_price: float = MAX_PRICE
) -> IncomingEvent:
    if not isinstance(event, Mapping):
        raise ParameterError(name, "must be a JSON object")
    unknown = sorted(set(event) - FIELDS, key=str)
    if unknown:
        raise ParameterError(f"{name}.{unknown[0]}", "unknown field")
    ids = {key: text(event.get(key), f"{name}.{key}", required=True) for key in REQUIRED_IDS}
    optional = {key: text(event.get(key), f"{name}.{key}") for key in OPTIONAL_IDS}
    return IncomingEvent(
        **ids,
        **optional,
        timestamp=timestamp(event.get("timestamp"), f"{name}.timestamp", now),
        quantity=quantity(event.get("quantity"), f"{name}.quantity"),
        price=price(event.get("price"), f"{name}.price", max_price),
    )


def text(value: object, name: str, required: bool = False) -> str | None:
    """A non-blank id string of at most MAX_ID_LENGTH characters (None when optional and
    absent)."""
    if value is None:
        if required:
            raise ParameterError(name, "is required")
        return None
    if not isinstance(value, str):
        raise ParameterError(name, f"must be a string, not {json_type(value)}")
    if not value.strip():
        raise ParameterError(name, "must not be empty")
    if len(value) > MAX_ID_LENGTH:
        raise ParameterError(name, f"is {len(value)} characters long; at most {MAX_ID_LENGTH}")
    if "\x00" in value:
        raise ParameterError(name, "must not contain NUL characters")
    return value


def timestamp(value: object, name: str, now: float) -> float:
    """ISO-8601 text (UTC unless it names a zone) or Unix seconds; absent means now."""
    if value is None:
        return now
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ParameterError(name, f"must be ISO-8601 text or Unix seconds, not {json_type(value)}")
    if isinstance(value, str):
        value = seconds_from_text(value, name)
    if not math.isfinite(value) or not 0 <= value <= LATEST_TIMESTAMP:
        raise ParameterError(name, f"timestamp {value!r} is out of range")
    return float(value)


def seconds_from_text(value: str, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        pass
    seconds = parse_one_timestamp(value) if len(value) <= 64 else None
    if seconds is None:
        raise ParameterError(name, f"unparsable timestamp {value[:64]!r}")
    return float(seconds)


def quantity(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ParameterError(name, f"must be a whole number >= 1, not {shown(value)}")
    if value > 2**31 - 1:
        raise ParameterError(name, f"{value} is too large")
    return value


def price(value: object, name: str, max_price: float = MAX_PRICE) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ParameterError(name, f"must be a number >= 0, not {shown(value)}")
    if not math.isfinite(value) or not 0 <= value <= max_price:
        raise ParameterError(name, f"must be a number >= 0 and at most {max_price:g} "
                                   f"(events.max_price), not {shown(value)}")  # fmt: skip
    return float(value)


def json_type(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names.update({list: "a list", dict: "an object"})
    return next((label for kind, label in names.items() if isinstance(value, kind)), "a value")


def shown(value: object) -> str:
    return repr(value)[:64] if isinstance(value, int | float | str) else json_type(value)
