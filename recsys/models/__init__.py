"""Model registry: a model kind from the config -> its class. Every class follows `Recommender`."""

from __future__ import annotations

from typing import Any

from recsys.checks import section
from recsys.data.events import Events
from recsys.data.interactions import Interactions
from recsys.errors import ConfigError
from recsys.models.als import ALS
from recsys.models.base import FitsEvents, ModelConfig, Recommender
from recsys.models.bpr import BPR
from recsys.models.cooccurrence import Cooccurrence
from recsys.models.covisit import Covisit
from recsys.models.ease import EASE
from recsys.models.itemknn import BM25, TFIDF, Cosine, ItemKNN
from recsys.models.popular import Popular
from recsys.models.spectral import Spectral
from recsys.ranking import MISSING_ID, top_n

KINDS: dict[str, Any] = {
    cls.kind: cls
    for cls in (
        ALS, Popular, BPR, ItemKNN, Cosine, TFIDF, BM25, Cooccurrence, Covisit, Spectral, EASE
    )
}


def build_model(name: str, config: ModelConfig) -> Recommender:
    """A fresh, unfitted model for `[models.<name>]`, its parameters checked."""
    return model_class(name, config.kind)(model_params(name, config))


def model_params(name: str, config: ModelConfig) -> Any:
    """The kind's Params dataclass of `[models.<name>]`; ConfigError naming the key."""
    return section(model_class(name, config.kind).Params, config.params, f"models.{name}")


def fit(name: str, config: ModelConfig, interactions: Interactions, events: Events) -> Recommender:
    """Model `[models.<name>]` fitted on `interactions` and, for models that learn from them, on
    the `events` those interactions were built from (same item numbers): the one way every caller
    (train, evaluate, tune) fits a model, so offline scores are those of the trained model."""
    try:
        model = build_model(name, config).fit(interactions)
    except ConfigError as exc:  # a limit only the data can hit (ease's max_items): name the table
        if exc.key.startswith("models."):
            raise
        raise ConfigError(f"models.{name}.{exc.key}", exc.reason) from None
    if isinstance(model, FitsEvents):
        model.fit_events(events)
    return model


def model_class(name: str, kind: str) -> Any:
    if kind not in KINDS:
        raise ConfigError(
            f"models.{name}.kind", f"unknown kind {kind!r} (known: {', '.join(KINDS)})"
        )
    return KINDS[kind]


__all__ = [
    "KINDS",
    "MISSING_ID",
    "ModelConfig",
    "Recommender",
    "build_model",
    "fit",
    "model_class",
    "model_params",
    "top_n",
]
