"""The typed configuration: frozen dataclasses read from one TOML file.

Every key has a default; unknown keys, wrong types and out-of-range values raise ConfigError naming
the key. Each model kind validates its own parameters (see recsys.models), so this module keeps them
as a table.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from recsys.errors import ConfigError

T = TypeVar("T")
DEFAULT_WEIGHTS = {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}


@dataclass(frozen=True)
class EventsConfig:
    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    damping: str = "log1p"
    half_life_days: float = 0.0
    relevant: tuple[str, ...] = ("purchase",)

    def check(self, key: str) -> None:
        if not self.weights:
            raise ConfigError(f"{key}.weights", "needs at least one event type")
        for name, weight in self.weights.items():
            if not name or weight < 0:
                raise ConfigError(f"{key}.weights.{name}", "must be a weight >= 0")
        one_of(f"{key}.damping", self.damping, ("log1p", "none"))
        at_least(f"{key}.half_life_days", self.half_life_days, 0)


@dataclass(frozen=True)
class ModelConfig:
    kind: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexConfig:
    factory: str = "auto"  # by catalogue size: recsys.index.resolve_factory
    recall_floor: float = 0.95
    recall_target: float = 0.98  # search effort is tuned to the least that reaches this
    recall_sample: int = 1000

    def check(self, key: str) -> None:
        if not self.factory:
            raise ConfigError(f"{key}.factory", "must be a FAISS index factory string")
        between(f"{key}.recall_floor", self.recall_floor, 0, 1)
        between(f"{key}.recall_target", self.recall_target, 0, 1)
        at_least(f"{key}.recall_sample", self.recall_sample, 1)


RECORD_SERVED = ("experiments", "all")


@dataclass(frozen=True)
class ServerConfig:
    api_keys: tuple[str, ...] = ()  # private keys: everything
    public_keys: tuple[str, ...] = ()  # safe in a web page (API.md section 6)
    open: bool = False  # requests without a key are served (not the private-only endpoints)
    metrics_private: bool = False  # /metrics only to a private key
    max_body_bytes: int = 1_000_000
    cors_origins: tuple[str, ...] = ()
    candidates: int = 200
    candidates_days: float = 0.0  # 0: every user
    similar_candidates: int = 100  # per item, its most similar items precomputed (0: off)
    watch_seconds: float = 2.0
    experiments_refresh_seconds: float = 2.0
    catalogue_refresh_seconds: float = 2.0  # item changes (POST /v1/items) reach every worker
    record_served: str = "experiments"  # responses kept for attribution: experiments | all

    def check(self, key: str) -> None:
        at_least(f"{key}.max_body_bytes", self.max_body_bytes, 1)
        between(f"{key}.candidates", self.candidates, 0, 10_000)
        at_least(f"{key}.candidates_days", self.candidates_days, 0)
        between(f"{key}.similar_candidates", self.similar_candidates, 0, 10_000)
        at_least(f"{key}.watch_seconds", self.watch_seconds, 0)
        at_least(f"{key}.experiments_refresh_seconds", self.experiments_refresh_seconds, 0.1)
        at_least(f"{key}.catalogue_refresh_seconds", self.catalogue_refresh_seconds, 0.1)
        one_of(f"{key}.record_served", self.record_served, RECORD_SERVED)
        for name in ("api_keys", "public_keys"):
            if any(not k.strip() for k in getattr(self, name)):
                raise ConfigError(f"{key}.{name}", "holds an empty key")


@dataclass(frozen=True)
class Config:
    events: EventsConfig = field(default_factory=EventsConfig)
    models: dict[str, ModelConfig] = field(
        default_factory=lambda: {"als": ModelConfig("als"), "popular": ModelConfig("popular")}
    )
    index: IndexConfig = field(default_factory=IndexConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    experiments: tuple[dict[str, Any], ...] = ()
    segments: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def load_config(path: str | Path | None = None) -> Config:
    """Reads the TOML file at `path` (or $RECSYS_CONFIG); defaults for everything when neither is
    set."""
    path = path or os.environ.get("RECSYS_CONFIG")
    if not path:
        return config_from_dict({})
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
    except OSError as exc:
        raise ConfigError("--config", f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("--config", f"{path} is not valid TOML: {exc}") from None
    return config_from_dict(table)


def config_from_dict(table: dict[str, Any]) -> Config:
    """Builds and validates a Config from a parsed TOML table."""
    unknown(table, {f.name for f in dataclasses.fields(Config)}, "")
    events = section(EventsConfig, table.get("events", {}), "events")
    index = section(IndexConfig, table.get("index", {}), "index")
    server = section(ServerConfig, table.get("server", {}), "server")
    models = read_models(table["models"], "models") if "models" in table else Config().models
    experiments = table.get("experiments", [])
    if not isinstance(experiments, list) or not all(isinstance(e, dict) for e in experiments):
        raise ConfigError("experiments", "must be an array of tables ([[experiments]])")
    segments = table.get("segments", {})
    if not isinstance(segments, dict):
        raise ConfigError("segments", "must be a table")
    return Config(events, models, index, server, tuple(experiments), segments)


def read_models(table: Any, key: str) -> dict[str, ModelConfig]:
    if not isinstance(table, dict) or not table:
        raise ConfigError(key, 'must name at least one model, e.g. [models.als] kind = "als"')
    models = {}
    for name, body in table.items():
        if not isinstance(body, dict):
            raise ConfigError(f"{key}.{name}", "must be a table")
        params = dict(body)
        kind = params.pop("kind", name)
        if not isinstance(kind, str):
            raise ConfigError(f"{key}.{name}.kind", "must be a string")
        models[name] = ModelConfig(kind, params)
    return models


def section(cls: type[T], table: Any, key: str) -> T:
    """Builds the dataclass `cls` from `table`, checking names and types; then its own range
    checks."""
    if not isinstance(table, dict):
        raise ConfigError(key, "must be a table")
    hints = typing.get_type_hints(cls)
    unknown(table, set(hints), key)
    values = {name: coerce(f"{key}.{name}", value, hints[name]) for name, value in table.items()}
    built = cls(**values)
    check = getattr(built, "check", None)
    if check:
        check(key)
    return built


def coerce(key: str, value: Any, hint: Any) -> Any:
    """Checks `value` against the annotation `hint` (the few shapes configs use) and converts it."""
    origin = typing.get_origin(hint)
    if hint is float and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    if origin is tuple and isinstance(value, list):
        item = typing.get_args(hint)[0]
        return tuple(coerce(f"{key}[{i}]", v, item) for i, v in enumerate(value))
    if origin is dict and isinstance(value, dict):
        item = typing.get_args(hint)[1]
        return {str(k): coerce(f"{key}.{k}", v, item) for k, v in value.items()}
    raise ConfigError(key, f"expected {type_name(hint)}, got {value!r}")


def type_name(hint: Any) -> str:
    names = {float: "a number", int: "an integer", str: "a string", bool: "true or false"}
    if hint in names:
        return names[hint]
    return "an array" if typing.get_origin(hint) is tuple else "a table"


def unknown(table: dict[str, Any], known: set[str], key: str) -> None:
    for name in table:
        if name not in known:
            where = f"{key}.{name}" if key else name
            raise ConfigError(where, f"unknown key (known: {', '.join(sorted(known))})")


def at_least(key: str, value: float, low: float) -> None:
    if value < low:
        raise ConfigError(key, f"must be >= {low}, got {value}")


def between(key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(key, f"must be between {low} and {high}, got {value}")


def one_of(key: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(key, f"must be one of {', '.join(allowed)}, got {value!r}")
