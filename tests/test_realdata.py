"""Real public datasets (../shared/datasets, read in place): the pipeline reads them exactly and
learns on them. Skipped with a clear message where the folder is absent."""

from __future__ import annotations

import pytest
from conftest import dataset

from recsys.config import EventsConfig, ModelConfig
from recsys.data import Interactions, load_events
from recsys.evaluation.evaluate import evaluate_model
from recsys.evaluation.splits import given_test_split
from recsys.models import build_model, fit

pytestmark = pytest.mark.realdata
TYPES = tuple(EventsConfig().weights)


def test_ml_1m_reads_with_the_published_counts() -> None:
    events = load_events(dataset("ml-1m-implicit") / "train.csv.gz", TYPES)
    assert len(events) == 800_167
    test = load_events(dataset("ml-1m-implicit") / "test.csv.gz", TYPES)
    assert len(test) == 200_042
    assert len(events.users.lookup.keys() | test.users.lookup.keys()) == 6_040


def test_retailrocket_next_purchase_als_beats_popularity() -> None:
    folder = dataset("retailrocket-cml")
    events = load_events(folder / "events.csv.gz", TYPES)
    assert (len(events), len(events.users)) == (97_381, 2_174)
    split = given_test_split(events, load_events(folder / "test_purchases.csv.gz", TYPES))
    train = Interactions.from_events(split.train, EventsConfig())
    recall = {}
    for kind in ("als", "popular"):
        model = build_model(kind, ModelConfig(kind)).fit(train)
        result = evaluate_model(model, train.matrix, split.test, ks=(20,), exclude_train=True)
        recall[kind] = result.metrics["recall@20"]
    assert recall["als"] > 1.4 * recall["popular"], recall


def test_retailrocket_covisit_reaches_the_issue_goal() -> None:
    """Co-visitation item-kNN with its defaults on the given retailrocket test, the user's
    training items excluded (measured Recall@20 0.3730; issue 16's goal 0.17, ALS 0.1403)."""
    folder = dataset("retailrocket-cml")
    events = load_events(folder / "events.csv.gz", TYPES)
    split = given_test_split(events, load_events(folder / "test_purchases.csv.gz", TYPES))
    train = Interactions.from_events(split.train, EventsConfig())
    model = fit("covisit", ModelConfig("covisit"), train, split.train)
    result = evaluate_model(model, train.matrix, split.test, ks=(20,), exclude_train=True)
    assert result.metrics["recall@20"] > 0.17, result.metrics


IMPLICIT_ALS_ML_1M = {"recall@20": 0.2688, "ndcg@20": 0.3849}  # implicit's defaults, issue 16


def test_ml_1m_ease_beats_implicit_als_defaults() -> None:
    """EASE with its defaults on the given ml-1m split (measured 0.2892 / 0.4291, the user's
    training items excluded); implicit's own ALS with its defaults scores 0.2688 / 0.3849 there."""
    folder = dataset("ml-1m-implicit")
    split = given_test_split(
        load_events(folder / "train.csv.gz", TYPES), load_events(folder / "test.csv.gz", TYPES)
    )
    train = Interactions.from_events(split.train, EventsConfig())
    model = build_model("ease", ModelConfig("ease")).fit(train)
    result = evaluate_model(model, train.matrix, split.test, ks=(20,), exclude_train=True)
    assert result.metrics["recall@20"] > 0.285, result.metrics
    assert result.metrics["ndcg@20"] > 0.42, result.metrics
    for metric, implicit_default in IMPLICIT_ALS_ML_1M.items():
        assert result.metrics[metric] > implicit_default
