"""The pipeline learns: on a generated shop, ALS finds held-out purchases that popularity misses."""

from __future__ import annotations

from pathlib import Path

from recsys.config import EventsConfig, ModelConfig
from recsys.data import Interactions, load_events
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import temporal_split
from recsys.models import build_model


def test_als_beats_popularity_on_held_out_purchases(shop: Path) -> None:
    config = EventsConfig()
    events = load_events(shop / "events.parquet", tuple(config.weights))
    split = temporal_split(events, test_fraction=0.2)
    train = Interactions.from_events(split.train, config)
    recall = {}
    for kind, params in (("als", {"factors": 32, "iterations": 10}), ("popular", {})):
        model = build_model(kind, ModelConfig(kind, params)).fit(train)
        # Shops recommend what a customer viewed but has not bought yet: views stay candidates.
        result = evaluate_model(model, train.matrix, split.test, ks=(20,), exclude_train=False)
        recall[kind] = result.metrics["recall@20"]
    assert recall["als"] > 1.2 * recall["popular"], recall
