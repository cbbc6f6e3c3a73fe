"""The `[[experiments]]` tables, validated into frozen dataclasses when the config is loaded (and
POST /admin/experiments bodies, through recsys.experiments.stored).

```toml
[[experiments]]
name = "home-recs"
placements = ["recommendations"]
salt = "2026-11"                     # default: the name; a new salt reshuffles this experiment
variants = [ { name = "A", model = "als", share = 0.5 },
             { name = "B", strategy = "als+diversity=0.3", share = 0.5 } ]
start = "2026-11-01T00:00:00Z"       # optional window (ISO-8601, TOML date-time or Unix seconds)
audience = "returning"               # all | new | returning
segment = "champions"                # optional: only visitors in this segment
attribution_hours = 24.0
```
A strategy is a model name and settings: `diversity` (0..1, the re-ranking's share of novelty) is
the one there is. A variant may also give them as a table: `params = { diversity = 0.3 }`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from recsys.checks import at_least, between, one_of, section, shown, unknown
from recsys.errors import ConfigError

PLACEMENTS = ("recommendations", "similar", "cross-sell", "session", "popular", "batch")
AUDIENCES = ("all", "new", "returning")
MODES = ("split", "interleave")
SHARE_SLACK = 1e-9
STRATEGY_PARAMS = {"diversity": (0.0, 1.0)}  # name -> (low, high)
LATEST_TIME = dt.datetime(9999, 12, 31, tzinfo=dt.UTC).timestamp()  # datetime's last year


@dataclass(frozen=True)
class VariantConfig:
    """One arm: a model of the bundle, a bundle version, or a strategy "model+param=value+..."."""

    name: str
    share: float
    model: str = ""
    bundle: str = ""
    strategy: str = ""
    params: dict[str, float] = field(default_factory=dict)

    def check(self, key: str) -> None:
        if not self.name:
            raise ConfigError(f"{key}.name", "must be a non-empty string")
        between(f"{key}.share", self.share, 0, 1)
        if self.model and self.strategy:
            raise ConfigError(f"{key}.strategy", "give either model or strategy, not both")
        if self.strategy:
            parse_strategy(self.strategy, f"{key}.strategy")
        for name, value in self.params.items():
            check_strategy_param(f"{key}.params.{name}", name, value)

    @property
    def model_key(self) -> str:
        """The key that names this variant's model (relative to the variant)."""
        return "strategy" if self.strategy else "model"

    def resolved(self) -> tuple[str, dict[str, Any]]:
        """The model name and the parameters this variant serves with."""
        model, params = (parse_strategy(self.strategy, "strategy") if self.strategy
                         else (self.model, {}))  # fmt: skip
        params = {**params, **self.params}
        if self.bundle:
            params["bundle"] = self.bundle
        return model, params


@dataclass(frozen=True)
class ExperimentTable:
    """The TOML shape of one experiment besides its variants (times are converted afterwards)."""

    name: str
    placements: tuple[str, ...] = ("recommendations",)
    salt: str = ""
    mode: str = "split"
    control: str = ""
    start: str = ""
    end: str = ""
    audience: str = "all"
    segment: str = ""
    attribution_hours: float = 24.0


TABLE_KEYS = (*(f.name for f in dataclasses.fields(ExperimentTable)), "variants")


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    variants: tuple[VariantConfig, ...]
    placements: tuple[str, ...]
    salt: str
    mode: str
    control: str
    start: float | None
    end: float | None
    audience: str
    segment: str
    attribution_hours: float

    def variant(self, name: str) -> VariantConfig | None:
        return next((v for v in self.variants if v.name == name), None)

    def active(self, now: float) -> bool:
        return (self.start is None or now >= self.start) and (self.end is None or now < self.end)

    def to_dict(self) -> dict[str, Any]:
        """The public description (GET /v1/experiments)."""
        return {
            "name": self.name,
            "mode": self.mode,
            "placements": list(self.placements),
            "control": self.control,
            "variants": [variant_dict(v) for v in self.variants],
            "start": iso(self.start),
            "end": iso(self.end),
            "audience": self.audience,
            "segment": self.segment or None,
            "attribution_hours": self.attribution_hours,
        }


def variant_dict(variant: VariantConfig) -> dict[str, Any]:
    model, params = variant.resolved()
    return {"name": variant.name, "share": variant.share, "model": model, "params": params}


def read_experiments(
    tables: Any, models: Collection[str] | None = None
) -> tuple[ExperimentConfig, ...]:
    """Validates the raw `[[experiments]]` list; ConfigError naming the key on any problem.
    `models`: the model names variants may serve (None: not known here, any name)."""
    if not isinstance(tables, list | tuple):
        raise ConfigError("experiments", "must be an array of tables ([[experiments]])")
    experiments = tuple(
        read_experiment(t, f"experiments[{i}]", models) for i, t in enumerate(tables)
    )
    seen: set[str] = set()
    for i, experiment in enumerate(experiments):
        if experiment.name in seen:
            raise ConfigError(f"experiments[{i}].name", f"duplicate name {experiment.name!r}")
        seen.add(experiment.name)
    return experiments


def read_experiment(
    table: Any, key: str, models: Collection[str] | None = None
) -> ExperimentConfig:
    """One `[[experiments]]` table (`models` as for read_experiments)."""
    if not isinstance(table, dict):
        raise ConfigError(key, "must be a table")
    times = {name: str(table[name]) for name in ("start", "end") if name in table}
    unknown(table, set(TABLE_KEYS), key)
    rest = {name: value for name, value in table.items() if name != "variants"}
    raw = section(ExperimentTable, {**rest, **times}, key)
    if not raw.name:
        raise ConfigError(f"{key}.name", "must be a non-empty string")
    variants = read_variants(table.get("variants"), f"{key}.variants")
    check_variants(variants, raw.mode, f"{key}.variants")
    if models is not None:
        check_models(variants, models, f"{key}.variants")
    for i, placement in enumerate(raw.placements):
        one_of(f"{key}.placements[{i}]", placement, PLACEMENTS)
    one_of(f"{key}.mode", raw.mode, MODES)
    one_of(f"{key}.audience", raw.audience, AUDIENCES)
    at_least(f"{key}.attribution_hours", raw.attribution_hours, 0)
    control = raw.control or variants[0].name
    if control not in {v.name for v in variants}:
        raise ConfigError(f"{key}.control", f"no variant named {control!r}")
    start = parse_time(table.get("start"), f"{key}.start")
    end = parse_time(table.get("end"), f"{key}.end")
    if start is not None and end is not None and end <= start:
        raise ConfigError(f"{key}.end", "must be after start")
    return ExperimentConfig(
        raw.name, variants, raw.placements, raw.salt or raw.name, raw.mode, control,
        start, end, raw.audience, raw.segment, raw.attribution_hours,
    )  # fmt: skip


def read_variants(tables: Any, key: str) -> tuple[VariantConfig, ...]:
    if not isinstance(tables, list):
        raise ConfigError(key, 'must be an array of tables, e.g. [{ name = "A", model = "als", '
                               'share = 0.5 }, ...]')  # fmt: skip
    return tuple(section(VariantConfig, v, f"{key}[{i}]") for i, v in enumerate(tables))


def check_variants(variants: tuple[VariantConfig, ...], mode: str, key: str) -> None:
    if len(variants) < 2:
        raise ConfigError(key, "needs at least two variants (a control and a treatment)")
    if mode == "interleave" and len(variants) != 2:
        raise ConfigError(key, "interleaving compares exactly two rankers")
    names = [v.name for v in variants]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise ConfigError(f"{key}[{i}].name", f"duplicate variant {name!r}")
    total = sum(v.share for v in variants)
    if total > 1 + SHARE_SLACK or total <= 0:
        raise ConfigError(key, f"shares must add up to at most 1 (and more than 0), got {total:g}")


def check_models(variants: tuple[VariantConfig, ...], models: Collection[str], key: str) -> None:
    """Every variant serves a model of `models`, unless it pins a bundle version (whose models
    may differ) or names none (the bundle's default)."""
    for i, variant in enumerate(variants):
        model, _ = variant.resolved()
        if model and not variant.bundle and model not in models:
            raise ConfigError(
                f"{key}[{i}].{variant.model_key}",
                f"no model {shown(model)} in [models] (known: {', '.join(sorted(models))})",
            )


def parse_strategy(strategy: str, key: str) -> tuple[str, dict[str, float]]:
    """ "als+diversity=0.3" -> ("als", {"diversity": 0.3}): a model name, then settings of
    STRATEGY_PARAMS, each a number in its range."""
    model, *settings = strategy.split("+")
    if not model.strip():
        raise ConfigError(key, f"must start with a model name, e.g. 'als+diversity=0.3', got "
                               f"{shown(strategy)}")  # fmt: skip
    params: dict[str, float] = {}
    for setting in settings:
        name, equals, text = (part.strip() for part in setting.partition("="))
        if not equals or not name or not text:
            raise ConfigError(key, f"expected name=value after '+', got {shown(setting)}")
        try:
            value = float(text)
        except ValueError:
            raise ConfigError(key, f"{name} must be a number, got {shown(text)}") from None
        params[name] = check_strategy_param(key, name, value)
    return model.strip(), params


def check_strategy_param(key: str, name: str, value: float) -> float:
    """`value` if `name` is a strategy setting and `value` is finite and in its range."""
    if name not in STRATEGY_PARAMS:
        known = ", ".join(STRATEGY_PARAMS)
        raise ConfigError(key, f"unknown setting {shown(name)} (known: {known})")
    low, high = STRATEGY_PARAMS[name]
    if not (math.isfinite(value) and low <= value <= high):
        raise ConfigError(key, f"{name} must be between {low:g} and {high:g}, got {value}")
    return value


def parse_time(value: Any, key: str) -> float | None:
    """Unix seconds from a TOML date-time, an ISO-8601 string or a number (UTC when no zone)."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return in_range(float(value), key)
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        value = dt.datetime.combine(value, dt.time())
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ConfigError(key, f"expected an ISO-8601 date-time, got {value!r}") from None
    if not isinstance(value, dt.datetime):
        raise ConfigError(key, f"expected a date-time, got {value!r}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return in_range(value.timestamp(), key)


def in_range(seconds: float, key: str) -> float:
    """Unix seconds between 1970 and the end of year 9999 (what reports can write as dates)."""
    if not (math.isfinite(seconds) and 0 <= seconds <= LATEST_TIME):
        raise ConfigError(key, f"must be a time between 1970 and 9999, got {seconds:g}")
    return seconds


def iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")
