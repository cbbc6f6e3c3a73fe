"""parse_events: the strict checks of `POST /v1/events` bodies; every error names its field."""

from __future__ import annotations

import time

import pytest

from recsys.data.incoming import MAX_ID_LENGTH, IncomingEvent, parse_events
from recsys.errors import ParameterError

BASE = {"user_id": "u1", "item_id": "sku-1", "event_type": "view"}


def one(**fields: object) -> IncomingEvent:
    return parse_events({"events": [{**BASE, **fields}]})[0]


def test_every_field_is_read() -> None:
    event = one(
        event_type="purchase",
        timestamp="2026-11-22T10:00:00Z",
        session_id="s1",
        quantity=2,
        price=9.5,
        order_id="o1",
        request_id="r-1",
    )
    assert event == IncomingEvent(
        "u1", "sku-1", "purchase", 1795341600.0, "s1", 2, 9.5, "o1", "r-1"
    )


@pytest.mark.parametrize(
    ("given", "seconds"),
    [
        (1795341600, 1795341600.0),
        (1795341600.25, 1795341600.25),
        ("1795341600", 1795341600.0),
        ("2026-11-22T10:00:00", 1795341600.0),  # no zone: UTC
        ("2026-11-22T11:00:00+01:00", 1795341600.0),
        ("2026-11-22", 1795305600.0),
    ],
)
def test_timestamps_iso_or_unix_seconds(given: object, seconds: float) -> None:
    assert one(timestamp=given).timestamp == seconds


def test_missing_timestamp_means_now() -> None:
    before = time.time()
    assert before <= one().timestamp <= time.time()


def test_any_event_type_name_and_unicode_ids() -> None:
    event = one(event_type="impression", user_id="ü-😀", item_id="0042")
    assert (event.event_type, event.user_id, event.item_id) == ("impression", "ü-😀", "0042")


@pytest.mark.parametrize(
    ("payload", "parameter"),
    [
        ([], "body"),
        ({}, "events"),
        ({"events": {}}, "events"),
        ({"events": []}, "events"),
        ({"events": [BASE], "extra": 1}, "extra"),
        ({"events": [BASE, "view"]}, "events[1]"),
    ],
)
def test_bad_bodies_name_the_parameter(payload: object, parameter: str) -> None:
    with pytest.raises(ParameterError) as caught:
        parse_events(payload)
    assert caught.value.parameter == parameter


def test_too_many_events() -> None:
    with pytest.raises(ParameterError, match="at most 3") as caught:
        parse_events({"events": [BASE] * 4}, max_events=3)
    assert caught.value.parameter == "events"


@pytest.mark.parametrize(
    ("fields", "parameter", "reason"),
    [
        ({"user_id": None}, "user_id", "is required"),
        ({"item_id": 42}, "item_id", "must be a string, not a number"),
        ({"event_type": "  "}, "event_type", "must not be empty"),
        ({"user_id": "u" * (MAX_ID_LENGTH + 1)}, "user_id", "at most 256"),
        ({"session_id": ["s"]}, "session_id", "not a list"),
        ({"order_id": "a\x00b"}, "order_id", "NUL"),
        ({"colour": "red"}, "colour", "unknown field"),
        ({"timestamp": "yesterday"}, "timestamp", "unparsable timestamp 'yesterday'"),
        ({"timestamp": "2026-13-45"}, "timestamp", "unparsable timestamp"),
        ({"timestamp": -1}, "timestamp", "out of range"),
        ({"timestamp": "inf"}, "timestamp", "out of range"),
        ({"timestamp": float("nan")}, "timestamp", "out of range"),
        ({"timestamp": 1e300}, "timestamp", "out of range"),
        ({"timestamp": True}, "timestamp", "not a boolean"),
        ({"quantity": 0}, "quantity", ">= 1"),
        ({"quantity": 1.5}, "quantity", ">= 1"),
        ({"quantity": "2"}, "quantity", ">= 1"),
        ({"quantity": True}, "quantity", ">= 1"),
        ({"quantity": 2**40}, "quantity", "too large"),
        ({"price": -0.01}, "price", ">= 0"),
        ({"price": "9.99"}, "price", ">= 0"),
        ({"price": float("inf")}, "price", ">= 0"),
    ],
)
def test_bad_fields_name_the_field(fields: dict, parameter: str, reason: str) -> None:
    events = [BASE, {**BASE, **fields}]
    with pytest.raises(ParameterError, match=reason) as caught:
        parse_events({"events": events})
    assert caught.value.parameter == f"events[1].{parameter}"


def test_whole_number_floats_are_quantities() -> None:
    assert one(quantity=3.0).quantity == 3
    assert one(price=0).price == 0.0
