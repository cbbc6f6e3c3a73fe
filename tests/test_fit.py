"""One fit call everywhere: `recsys evaluate` and tuning score a model exactly as the trainer fits
it (cooccurrence learns its order baskets from the events, not only the cosine fallback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recsys.config import Config, ModelConfig
from recsys.data import Events, Interactions, events_matrix, load_events
from recsys.evaluation.compare import score
from recsys.evaluation.evaluate import ItemFacts, evaluate_model
from recsys.evaluation.splits import Split, temporal_split
from recsys.models import Recommender, build_model, fit
from recsys.tuning import Budget, tune, validation_split
from recsys_training.cli import main

TYPES = ("view", "add_to_cart", "purchase")
COOCCURRENCE = ModelConfig("cooccurrence")


@pytest.fixture(scope="module")
def events(shop: Path) -> Events:
    return load_events(shop / "events.parquet", TYPES)


def trained_and_fallback(train: Interactions, events: Events) -> tuple[Recommender, Recommender]:
    """Cooccurrence as the trainer fits it (interactions, then the baskets of the events), and its
    interaction-cosine fallback alone."""
    trained = build_model("c", COOCCURRENCE).fit(train)
    trained.fit_events(events)
    return trained, build_model("c", COOCCURRENCE).fit(train)


def ndcg_as_evaluate_scores(model: Recommender, split: Split, train: Interactions) -> float:
    bought = events_matrix(split.train, split.train.is_type("purchase"), len(split.train.items))
    facts = ItemFacts.from_train(train.matrix)
    result = score(model, train.matrix, split.test, None, bought, (10,), facts, None)
    assert result is not None
    return result.metrics["ndcg@10"]


def test_recsys_evaluate_scores_the_trained_cooccurrence_not_its_fallback(
    shop: Path, events: Events, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", "--events", str(shop / "events.parquet"), "--models", "cooccurrence"]
    code = main([*argv, "--k", "10", "--resamples", "10", "--report", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    reported = json.loads((tmp_path / "report.json").read_text())["models"]["cooccurrence"]
    split = temporal_split(events)  # evaluate's default split
    train = Interactions.from_events(split.train, Config().events)
    trained, fallback = trained_and_fallback(train, split.train)
    expected = ndcg_as_evaluate_scores(trained, split, train)
    assert reported["ndcg@10"] == pytest.approx(expected, abs=1e-9)
    assert abs(expected - ndcg_as_evaluate_scores(fallback, split, train)) > 1e-3


def test_tuning_trials_score_the_trained_cooccurrence(events: Events) -> None:
    split = validation_split(events)
    train = split.matrix(Config().events)
    result = tune("c", COOCCURRENCE, train, split.train_events, split.valid, Budget(trials=1))
    trained, fallback = trained_and_fallback(train, split.train_events)

    def ndcg(model: Recommender) -> float:
        return evaluate_model(model, train.matrix, split.valid, (20,)).metrics["ndcg@20"]

    assert result.trials[0].score == pytest.approx(ndcg(trained), abs=1e-9)
    assert abs(ndcg(trained) - ndcg(fallback)) > 1e-3


def test_fit_gives_models_without_events_learning_their_plain_fit(events: Events) -> None:
    train = Interactions.from_events(events, Config().events)
    model = fit("top", ModelConfig("popular"), train, events)
    plain = build_model("top", ModelConfig("popular")).fit(train)
    assert (model.item_scores == plain.item_scores).all()
