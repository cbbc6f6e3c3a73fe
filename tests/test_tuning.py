"""Automatic tuning: the validation split never leaks, the search is seeded and bounded, the best
config is valid, and `recsys train --tune` records the search in the manifest."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from recsys.config import Config, ConfigError, ModelConfig, config_from_dict
from recsys.data import Events, load_events
from recsys.models import build_model
from recsys.tuning import Budget, tune, tune_config, validation_split
from recsys.tuning.plan import Search, choose_kind
from recsys.tuning.space import SPACES, draw_events, draw_near, draw_params
from recsys.versions import current_version
from recsys_training.cli import main

SMALL = {"models": {"bm25": {"kind": "bm25", "K": 50}, "popular": {}}}


@pytest.fixture(scope="module")
def events(shop: Path) -> Events:
    return load_events(shop / "events.parquet", ("view", "add_to_cart", "purchase"))


def pair_keys(events: Events, mask: np.ndarray) -> set[int]:
    keys = events.user[mask].astype(np.int64) * len(events.items) + events.item[mask]
    return set(keys.tolist())


def test_split_holds_out_each_users_newest_purchases(events: Events) -> None:
    split = validation_split(events)
    assert split.method == "newest-per-user" and split.valid.nnz > 0
    held = split.valid.tocoo()
    held_keys = set((held.row.astype(np.int64) * len(events.items) + held.col).tolist())
    assert not held_keys & pair_keys(events, split.train)  # no event of a held pair trains
    bought = events.is_type("purchase")
    for user in split.users[:50]:
        trained = split.train & (events.user == user)
        assert trained.any()
        newest_held = events.timestamp[bought & (events.user == user) & ~split.train].max()
        assert events.timestamp[trained].max() <= newest_held


def test_without_times_the_split_is_a_seeded_random_holdout(events: Events) -> None:
    flat = dataclasses.replace(events, timestamp=np.zeros_like(events.timestamp))
    first, again = validation_split(flat, seed=3), validation_split(flat, seed=3)
    assert first.method == "random-per-user"
    assert (first.valid != again.valid).nnz == 0 and (first.train == again.train).all()
    assert (first.valid != validation_split(flat, seed=4).valid).nnz > 0
    assert not pair_keys(flat, ~first.train) & pair_keys(flat, first.train)


def test_tune_starts_from_the_config_keeps_the_best_and_is_seeded(events: Events) -> None:
    split = validation_split(events)
    train = split.matrix(Config().events)
    config = ModelConfig("bm25", {"K": 50})
    result = tune("knn", config, train, split.train_events, split.valid, Budget(trials=4), seed=1)
    again = tune("knn", config, train, split.train_events, split.valid, Budget(trials=4), seed=1)
    assert len(result.trials) == 4
    assert result.trials[0].params == {"K": 50, "K1": 1.2, "B": 0.75}
    assert result.score == max(t.score for t in result.trials) > 0
    assert [t.params for t in result.trials] == [t.params for t in again.trials]
    build_model("knn", result.best)  # the best parameters pass the config checks


def test_a_spent_time_budget_stops_after_the_first_trial(events: Events) -> None:
    split = validation_split(events)
    config = ModelConfig("bm25", {})
    train = split.matrix(Config().events)
    result = tune("bm25", config, train, split.train_events, split.valid, Budget(50, 0.0))
    assert len(result.trials) == 1


def test_draws_stay_in_range_and_valid_for_the_models() -> None:
    rng = np.random.default_rng(0)
    for kind in ("als", "bpr", "bm25", "covisit", "spectral", "ease"):
        model = build_model(kind, ModelConfig(kind, {}))
        space = {k: v for k, v in SPACES[kind].items() if hasattr(model.params, k)}
        for _ in range(20):
            params = draw_near(space, draw_params(space, rng), rng)
            build_model(kind, ModelConfig(kind, params))
    weights = draw_events(Config().events, rng).weights
    assert weights["purchase"] == 5.0 and weights.keys() == Config().events.weights.keys()


def test_tune_config_tunes_every_model_and_records_the_search(events: Events) -> None:
    config = config_from_dict({**SMALL, "tuning": {"kinds": []}})
    tuned, record = tune_config(events, config, Budget(trials=3))
    assert set(tuned.models) == set(config.models)
    assert record["split"]["method"] == "newest-per-user" and record["metric"] == "ndcg@20"
    assert record["events"]["searched"] and record["events"]["judge"] == "bm25"
    assert len(record["models"]["bm25"]["trials"]) == 3
    assert len(record["models"]["popular"]["trials"]) == 1  # nothing to search
    assert record["kind"]["chosen"] == tuned.models["bm25"].kind == "bm25"  # kinds = []: kept
    assert tuned.events.weights["purchase"] == config.events.weights["purchase"]
    config_from_dict({"models": {n: {"kind": m.kind, **m.params} for n, m in tuned.models.items()}})


def test_the_kind_is_chosen_on_validation_each_from_its_defaults_with_its_own_budget(
    events: Events,
) -> None:
    """Every candidate kind gets the whole budget (2 trials), starts from its defaults (or its
    configured table), and the chosen one is the best of them, never below the configured model."""
    config = config_from_dict(
        {
            "models": {"knn": {"kind": "bm25", "K": 50}, "ease": {"regularization": 300.0}},
            "tuning": {"kinds": ["als", "ease"]},
        }
    )
    tuned, record = tune_config(events, config, Budget(trials=2))
    choice = record["kind"]
    assert choice["model"] == "knn" and set(choice["candidates"]) == {"bm25", "als", "ease"}
    first = {kind: c["trials"][0]["params"] for kind, c in choice["candidates"].items()}
    assert first["bm25"] == {"K": 50, "K1": 1.2, "B": 0.75}
    assert first["als"] == {"factors": 64, "regularization": 0.05, "alpha": 2.0, "iterations": 15}
    assert first["ease"] == {  # its own ease table, the rest its defaults
        "regularization": 300.0,
        "low_pass": 0.3,
        "user_weight": 0.25,
        "popularity": -0.1,
    }
    assert all(len(c["trials"]) == 2 for c in choice["candidates"].values())
    scores = {kind: c["score"] for kind, c in choice["candidates"].items()}
    assert tuned.models["knn"].kind == choice["chosen"] == max(scores, key=scores.__getitem__)
    assert record["models"]["knn"]["score"] >= max(scores.values()) >= choice["configured"]["score"]
    assert choice["why"].startswith("best ndcg@20 on the validation split: bm25 ")
    for search in record["models"].values():  # every search keeps its configured first trial
        assert search["score"] >= search["trials"][0]["score"]


def test_a_kind_whose_max_items_the_catalogue_exceeds_is_skipped(events: Events) -> None:
    config = config_from_dict({"models": {"knn": {"kind": "bm25"}}, "tuning": {"kinds": ["ease"]}})
    small_ease = {"knn": config.models["knn"], "e": ModelConfig("ease", {"max_items": 10})}
    config = dataclasses.replace(config, models=small_ease)
    split = validation_split(events)
    search = Search(split, split.users, Budget(trials=1), 20, 0)
    _, choice = choose_kind(search, "knn", config, split.matrix(config.events), print)
    assert choice["chosen"] == "bm25" and set(choice["candidates"]) == {"bm25"}
    assert choice["skipped"] == {"ease": f"{len(events.items):,} items, above its max_items 10"}


def test_a_bad_kind_in_tuning_names_its_key() -> None:
    with pytest.raises(ConfigError) as error:
        config_from_dict({"tuning": {"kinds": ["als", "gbdt"]}})
    assert error.value.key == "tuning.kinds[1]"


def test_train_tune_publishes_the_tuned_models_and_the_search(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "recsys.toml"
    config.write_text('[models.knn]\nkind = "bm25"\n[models.popular]\n[tuning]\nkinds = ["als"]\n')
    models = tmp_path / "models"
    args = ["train", "--events", str(shop / "events.parquet"), "--config", str(config)]
    code = main([*args, "--models", str(models), "--tune", "--tune-trials", "2"])
    assert code == 0, capsys.readouterr().err
    manifest = json.loads((models / current_version(models) / "manifest.json").read_text())
    search = manifest["tuning"]["models"]["knn"]
    assert len(search["trials"]) == 2 and search["budget"]["trials"] == 2
    assert manifest["tuning"]["kind"]["chosen"] == manifest["models"]["knn"]["kind"]
    best = search["best"]
    assert {k: manifest["models"]["knn"]["params"][k] for k in best} == best
    tuned_weights = manifest["tuning"]["events"]["best"]["weights"]
    assert manifest["config"]["events"]["weights"] == tuned_weights


@pytest.mark.parametrize("option", [["--tune-trials", "0"], ["--tune-minutes", "-1"]])
def test_a_bad_budget_is_one_line_and_exit_2(
    shop: Path, tmp_path: Path, option: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stop:
        main(["train", "--events", str(shop / "events.parquet"), "--tune", *option])
    assert stop.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
