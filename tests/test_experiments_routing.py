"""Variant routing (recsys.experiments.routing), the step the server and `recsys experiment
simulate` share: a variant's bundle, model and parameters, and interleaving by team draft."""

from __future__ import annotations

from pathlib import Path

import pytest

from recsys.bundle import Bundle
from recsys.errors import BundleError, NoModelError
from recsys.experiments import ExperimentConfig, Experiments
from recsys.experiments.assign import alone, assignment
from recsys.experiments.interleave import team_draft, teams_label
from recsys.experiments.routing import Source, routed, source, user_ranker
from recsys.service import Query, ServedBundle, for_user

SPLIT = {
    "name": "split",
    "variants": [
        {"name": "A", "strategy": "als+diversity=0.3", "share": 0.4},
        {"name": "B", "model": "retired", "share": 0.3},
        {"name": "C", "bundle": "v-old", "model": "als", "share": 0.3},
    ],
}
MIX = {
    "name": "mix",
    "mode": "interleave",
    "variants": [
        {"name": "als", "model": "als", "share": 1.0},
        {"name": "pop", "model": "popular", "share": 0.0},
    ],
}


@pytest.fixture(scope="module")
def served(models_dir: Path) -> ServedBundle:
    return ServedBundle(Bundle.load(models_dir))


def experiment(table: dict) -> ExperimentConfig:
    return Experiments.from_config([table]).experiments[0]


def no_pins(version: str) -> ServedBundle:
    raise BundleError(f"no bundle {version!r}")


def test_a_variant_gets_its_model_and_diversity(served: ServedBundle) -> None:
    split = experiment(SPLIT)
    query = Query(n=5)
    assert source(None, served, query, no_pins) == Source(served, None, query)
    found = source(alone(split, split.variants[0]), served, query, no_pins)
    assert (found.served, found.model, found.query) == (served, "als", Query(n=5, diversity=0.3))
    asked = Query(n=5, diversity=0.1)  # the request's own diversity wins
    assert source(alone(split, split.variants[0]), served, asked, no_pins).query == asked
    # a model the bundle lacks: the bundle's default model answers
    assert source(alone(split, split.variants[1]), served, query, no_pins).model is None


def test_a_pinned_version_comes_from_the_lookup(served: ServedBundle, models_dir: Path) -> None:
    split = experiment(SPLIT)
    old = ServedBundle(Bundle.load(models_dir))
    found = source(alone(split, split.variants[2]), served, Query(), {"v-old": old}.__getitem__)
    assert found.served is old and found.model == "als"
    with pytest.raises(NoModelError, match="experiment 'split' variant 'C': no bundle 'v-old'"):
        source(alone(split, split.variants[2]), served, Query(), no_pins)


def test_interleaving_merges_both_rankers_by_team_draft(served: ServedBundle) -> None:
    mix = experiment(MIX)
    assigned = assignment(mix, mix.variants[0])
    user, query = served.bundle.users[3], Query(n=6)
    ours = for_user(served, user, query, "als")
    theirs = for_user(served, user, query, "popular")
    labels = set()
    for seed in (f"r-{i}" for i in range(12)):
        found = routed(assigned, served, query, user_ranker(user), no_pins, seed)
        ids, teams = team_draft(ours.ranked.ids.tolist(), theirs.ranked.ids.tolist(), 6, seed)
        assert found.served is served and found.picks.ranked.ids.tolist() == ids
        assert found.picks.recorded == teams_label(teams, ("als", "pop"))
        assert found.picks.model == f"interleave:{ours.model}|{theirs.model}"
        labels.add(found.picks.recorded)
    assert len(labels) > 1  # the seed (the request id) decides the draft


def test_a_variant_alone_is_not_interleaved(served: ServedBundle) -> None:
    mix = experiment(MIX)
    user = served.bundle.users[3]
    found = routed(alone(mix, mix.variants[1]), served, Query(n=4), user_ranker(user), no_pins, "r")
    assert found.picks.model == for_user(served, user, Query(n=4), "popular").model
    assert found.picks.recorded is None
