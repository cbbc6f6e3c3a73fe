"""The typed configuration: frozen dataclasses read from one TOML file, every section checked
when it is loaded.

Every key has a default; unknown keys, wrong types and out-of-range values raise ConfigError naming
the key, whichever section they are in: `[events]`, `[models.*]` (each kind's Params, see
recsys.models), `[index]`, `[server]`, `[[experiments]]` (recsys.experiments.config),
`[segments]` (recsys.campaigns.segments), `[[promotions]]` (recsys.service.promotions),
`[tuning]` (read by recsys.tuning) and `[sessions]` (recsys.tuning.sessions). The entry points
(training/, serving/settings.py) choose the file; nothing here reads the environment.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from recsys.campaigns.segments import SegmentsConfig, segments_config
from recsys.checks import at_least, between, one_of, section, unknown
from recsys.data.interactions import EventsConfig
from recsys.errors import ConfigError, InputError
from recsys.experiments.config import ExperimentConfig, read_experiments
from recsys.models import KINDS, ModelConfig, model_params
from recsys.popularity import trending_window
from recsys.service.promotions import Promotion, read_promotions

__all__ = [
    "Config",
    "ConfigError",
    "EventsConfig",
    "ExperimentConfig",
    "IndexConfig",
    "ModelConfig",
    "SegmentsConfig",
    "ServerConfig",
    "SessionsConfig",
    "TuningConfig",
    "config_from_dict",
    "load_config",
]
DEFAULT_MODELS = ("als", "popular")


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


@dataclass(frozen=True)
class TuningConfig:
    """`--tune` chooses the kind of the first tunable `[models]` table among its own kind and
    these (each with its own budget; a kind whose max_items the catalogue exceeds is skipped);
    `kinds = []` keeps the configured kind."""

    kinds: tuple[str, ...] = ("als", "bpr", "bm25", "covisit", "spectral", "ease")

    def check(self, key: str) -> None:
        for number, kind in enumerate(self.kinds):
            if kind not in KINDS:
                raise ConfigError(f"{key}.kinds[{number}]", f"unknown kind {kind!r}")


@dataclass(frozen=True)
class SessionsConfig:
    """ALS's share of the session blend (and of a known user's fresh events) when the bundle holds
    ALS and an item-based model: each of `als_shares` is tried on a validation split carved from
    the training events when the bundle is trained, and the best is kept; one value is kept as it
    is (no trial)."""

    als_shares: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)

    def check(self, key: str) -> None:
        if not self.als_shares:
            raise ConfigError(f"{key}.als_shares", "must hold at least one share")
        for number, share in enumerate(self.als_shares):
            between(f"{key}.als_shares[{number}]", share, 0, 1)


RECORD_SERVED = ("experiments", "all")
SECRET_NAME = re.compile(r"(keys|secret|password)$")  # server settings never written out


@dataclass(frozen=True)
class ServerConfig:
    api_keys: tuple[str, ...] = ()  # private keys: everything
    public_keys: tuple[str, ...] = ()  # safe in a web page (API.md section 6)
    open: bool = False  # requests without a key are served (not the private-only endpoints)
    metrics_private: bool = False  # /metrics only to a private key
    rate_limit: str = "600/minute"  # per public key and client address; "": none (serving/limits)
    rate_limit_storage: str = "memory://"  # per process; memcached://HOST:PORT is shared
    max_body_bytes: int = 1_000_000
    cors_origins: tuple[str, ...] = ()
    candidates: int = 200
    candidates_days: float = 0.0  # 0: every user
    similar_candidates: int = 100  # per item, its most similar items precomputed (0: off)
    watch_seconds: float = 2.0
    experiments_refresh_seconds: float = 2.0
    catalogue_refresh_seconds: float = 2.0  # item changes (POST /v1/items) reach every worker
    record_served: str = "experiments"  # responses kept for attribution: experiments | all
    retention_days: float = 0.0  # events and served responses older are purged (0: kept)
    log_user_ids: bool = False  # raw user ids in the access log (debugging); else their hash
    seen: str = "allow"  # personal picks' items the user interacted with: allow | exclude | cap
    seen_cap: float = 0.3  # with seen = "cap": at most this share of the list
    explore_new: float = 0.1  # share of similar lists' and personal picks' slots for new items
    batch_max_picks: int = 20_000  # users x n of one POST /v1/recommendations/batch

    def check(self, key: str) -> None:
        at_least(f"{key}.max_body_bytes", self.max_body_bytes, 1)
        between(f"{key}.candidates", self.candidates, 0, 10_000)
        at_least(f"{key}.candidates_days", self.candidates_days, 0)
        between(f"{key}.similar_candidates", self.similar_candidates, 0, 10_000)
        at_least(f"{key}.watch_seconds", self.watch_seconds, 0)
        at_least(f"{key}.experiments_refresh_seconds", self.experiments_refresh_seconds, 0.1)
        at_least(f"{key}.catalogue_refresh_seconds", self.catalogue_refresh_seconds, 0.1)
        one_of(f"{key}.record_served", self.record_served, RECORD_SERVED)
        one_of(f"{key}.seen", self.seen, ("allow", "exclude", "cap"))
        between(f"{key}.seen_cap", self.seen_cap, 0, 1)
        between(f"{key}.explore_new", self.explore_new, 0, 0.5)
        at_least(f"{key}.batch_max_picks", self.batch_max_picks, 1)
        for name in ("api_keys", "public_keys"):
            if any(not k.strip() for k in getattr(self, name)):
                raise ConfigError(f"{key}.{name}", "holds an empty key")
        at_least(f"{key}.retention_days", self.retention_days, 0)


@dataclass(frozen=True)
class Config:
    events: EventsConfig = field(default_factory=EventsConfig)
    models: dict[str, ModelConfig] = field(
        default_factory=lambda: {name: ModelConfig(name) for name in DEFAULT_MODELS}
    )
    index: IndexConfig = field(default_factory=IndexConfig)
    server: ServerConfig = field(default_factory=ServerConfig)
    experiments: tuple[ExperimentConfig, ...] = ()
    segments: SegmentsConfig = field(default_factory=SegmentsConfig)
    promotions: tuple[Promotion, ...] = ()
    tuning: TuningConfig = field(default_factory=TuningConfig)
    sessions: SessionsConfig = field(default_factory=SessionsConfig)

    def to_dict(self) -> dict[str, Any]:
        """The config as a table, secrets masked: what manifests and reports record."""
        table = dataclasses.asdict(self)
        table["server"] = {
            name: "***" if value and SECRET_NAME.search(name) else value
            for name, value in table["server"].items()
        }
        return table


def load_config(path: str | Path | None = None) -> Config:
    """Reads and checks the TOML file at `path`; defaults for everything without one. A file that
    cannot be read or is not TOML is an InputError naming it; a bad key a ConfigError naming the
    key (and the file)."""
    if path is None or path == "":
        return config_from_dict({})
    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
    except OSError as exc:
        raise InputError(str(path), f"cannot read the config file: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(str(path), f"not a valid TOML config file: {exc}") from None
    try:
        return config_from_dict(table)
    except ConfigError as exc:
        raise ConfigError(exc.key, exc.reason, str(path)) from None


def config_from_dict(table: dict[str, Any]) -> Config:
    """Builds and checks a Config from a parsed TOML table: every section, every model's
    parameters, every experiment (variants naming only models of `[models]`) and the segments."""
    unknown(table, {f.name for f in dataclasses.fields(Config)}, "")
    events = section(EventsConfig, table.get("events", {}), "events")
    index = section(IndexConfig, table.get("index", {}), "index")
    server = section(ServerConfig, table.get("server", {}), "server")
    models = read_models(table["models"], "models") if "models" in table else Config().models
    trending_window(models)  # popular models must agree on one trending table
    known = set(models) if "models" in table else None  # defaults: the bundle may hold others
    experiments = read_experiments(table.get("experiments", []), known)
    segments = segments_config(table.get("segments", {}))
    promotions = read_promotions(table.get("promotions", []))
    tuning = section(TuningConfig, table.get("tuning", {}), "tuning")
    sessions = section(SessionsConfig, table.get("sessions", {}), "sessions")
    return Config(
        events, models, index, server, experiments, segments, promotions, tuning, sessions
    )


def read_models(table: Any, key: str) -> dict[str, ModelConfig]:
    """`[models.<name>]` tables (kind defaults to the name), each checked against its kind."""
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
        model_params(name, models[name])
    return models
