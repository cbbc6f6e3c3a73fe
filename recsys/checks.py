"""Checking config tables: a TOML (or JSON) table -> a frozen dataclass, names and types checked,
then the dataclass's own `check(key)`; every error a ConfigError naming the key.

Every config dataclass (recsys.config, each model's Params, experiments, segments) is built with
`section`, so they all reject unknown keys, wrong types and non-finite numbers the same way.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from typing import Any, TypeVar

from recsys.errors import ConfigError

T = TypeVar("T")


def section(cls: type[T], table: Any, key: str) -> T:
    """Builds the dataclass `cls` from `table`, checking names and types; then its own range
    checks."""
    if not isinstance(table, dict):
        raise ConfigError(key, "must be a table")
    hints = typing.get_type_hints(cls)
    unknown(table, set(hints), key)
    for name in required(cls):
        if name not in table:
            raise ConfigError(f"{key}.{name}", "is required")
    values = {name: coerce(f"{key}.{name}", value, hints[name]) for name, value in table.items()}
    built = cls(**values)
    check = getattr(built, "check", None)
    if check:
        check(key)
    return built


def required(cls: type) -> list[str]:
    """The fields of the dataclass `cls` without a default."""
    empty = dataclasses.MISSING
    return [
        f.name
        for f in dataclasses.fields(cls)  # type: ignore[arg-type]
        if f.default is empty and f.default_factory is empty
    ]


def coerce(key: str, value: Any, hint: Any) -> Any:
    """Checks `value` against the annotation `hint` (the few shapes configs use) and converts it.
    Numbers must be finite (TOML and JSON both allow nan and inf)."""
    origin = typing.get_origin(hint)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise ConfigError(key, f"expected a finite number, got {value!r}")
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    if origin is tuple and isinstance(value, list | tuple):
        item = typing.get_args(hint)[0]
        return tuple(coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value))
    if origin is dict and isinstance(value, dict):
        item = typing.get_args(hint)[1]
        return {str(k): coerce(f"{key}.{k}", v, item) for k, v in value.items()}
    raise ConfigError(key, f"expected {type_name(hint)}, got {shown(value)}")


def type_name(hint: Any) -> str:
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}
    if hint in names:
        return names[hint]
    return "an array" if typing.get_origin(hint) is tuple else "a table"


def shown(value: Any, limit: int = 60) -> str:
    """`value` for an error message, cut short (a client may send anything)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def unknown(table: dict[str, Any], known: set[str], key: str) -> None:
    for name in table:
        if name not in known:
            where = f"{key}.{name}" if key else str(name)
            raise ConfigError(where, f"unknown key (known: {', '.join(sorted(known))})")


def at_least(key: str, value: float, low: float) -> None:
    if value < low:
        raise ConfigError(key, f"must be >= {low}, got {value}")


def between(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(key, f"must be between {low} and {high}, got {value}")


def one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(key, f"must be one of {', '.join(allowed)}, got {shown(value)}")
