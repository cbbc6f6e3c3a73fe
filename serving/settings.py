"""Server settings: defaults, then the TOML config ($RECSYS_CONFIG), then the environment, then the
test overrides given to create_app. Checked once, at start-up."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recsys.config import Config, config_from_dict, load_config
from recsys.data.incoming import MAX_EVENTS
from recsys.errors import ConfigError
from recsys.eventstore import DEFAULT_URL
from recsys.privacy import ForgetKey

OVERRIDES = (
    "config",
    "models_dir",
    "database_url",
    "api_keys",
    "public_keys",
    "token_secret",
    "max_events",
    "watch",
    "served_log",
    "forget_secret",
)
FORGET_SECRET_ENV = "RECSYS_FORGET_SECRET"


@dataclass(frozen=True)
class Settings:
    config: Config
    models_dir: Path = Path("models")
    database_url: str = DEFAULT_URL
    api_keys: tuple[str, ...] = dataclasses.field(default=(), repr=False)  # private keys
    public_keys: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    token_secret: str = dataclasses.field(default="", repr=False)  # user tokens (recsys.access)
    forget_secret: str = dataclasses.field(default="", repr=False)  # keys the forgotten list
    max_events: int = MAX_EVENTS  # per POST /v1/events
    watch: bool = True  # reload when models/CURRENT changes (every server.watch_seconds)
    served_log: int = 10_000  # responses queued for the store before new ones are dropped
    behind_front: bool = False  # $RECSYS_FRONT=1 (recsys serve --production): behind nginx

    @property
    def forget_key(self) -> ForgetKey | None:
        return ForgetKey(self.forget_secret) if self.forget_secret else None

    @property
    def record_all_served(self) -> bool:
        """Every response goes to the store, not only those in an experiment."""
        return self.config.server.record_served == "all"


def load_settings(test_config: Mapping[str, Any] | None = None) -> Settings:
    """Settings from the config file and environment; `test_config` keys (see OVERRIDES) win.
    `config` may be a Config or a table as in the TOML file."""
    overrides = dict(test_config or {})
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise ConfigError(unknown[0], f"unknown setting (known: {', '.join(OVERRIDES)})")
    config = overrides.pop("config", None)
    if isinstance(config, Mapping):
        config = config_from_dict(dict(config))
    config = config or load_config(os.environ.get("RECSYS_CONFIG") or None)
    settings = Settings(
        config=config,
        models_dir=Path(os.environ.get("RECSYS_MODELS", "models")),
        database_url=os.environ.get("RECSYS_DATABASE_URL", DEFAULT_URL),
        api_keys=config.server.api_keys + env_list("RECSYS_API_KEYS"),
        public_keys=config.server.public_keys + env_list("RECSYS_PUBLIC_KEYS"),
        token_secret=os.environ.get("RECSYS_TOKEN_SECRET", ""),
        forget_secret=os.environ.get(FORGET_SECRET_ENV, ""),
        behind_front=os.environ.get("RECSYS_FRONT") == "1",
    )
    if "models_dir" in overrides:
        overrides["models_dir"] = Path(overrides["models_dir"])
    for name in ("api_keys", "public_keys"):
        if name in overrides:
            overrides[name] = tuple(overrides[name])
    return dataclasses.replace(settings, **overrides)


def env_list(name: str) -> tuple[str, ...]:
    """A comma-separated environment variable's non-empty entries."""
    return tuple(k.strip() for k in os.environ.get(name, "").split(",") if k.strip())
