"""Team-draft interleaving: fair merging, no preference between identical rankers, a clear one for
a better ranker."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from recsys.experiments import Experiments
from recsys.experiments.html import report_html
from recsys.experiments.interleave import interleave_report, team_draft, teams_label
from recsys.experiments.load import build_report

EXPERIMENT = {
    "name": "rankers",
    "mode": "interleave",
    "variants": [{"name": "A", "model": "als", "share": 1.0},
                 {"name": "B", "model": "bm25", "share": 0.0}],
}  # fmt: skip
ITEMS = [f"i{k}" for k in range(60)]


def test_team_draft_merges_fairly_and_deterministically() -> None:
    merged, teams = team_draft(["a", "b", "c", "d"], ["c", "a", "e", "f"], 6, seed="r1")
    assert len(set(merged)) == len(merged) == 6
    for prefix in range(1, 7):  # the teams never differ by more than one item
        assert abs(teams[:prefix].count(0) - teams[:prefix].count(1)) <= 1
    assert team_draft(["a", "b", "c", "d"], ["c", "a", "e", "f"], 6, seed="r1") == (merged, teams)
    assert team_draft(["a"], ["b", "c", "d"], 4, seed=0)[0][-2:] == ["c", "d"]  # A ran dry


def log(ranker_b_is_better: bool, requests: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """Each visitor likes 5 items; clicks follow relevance with a position bias. Ranker A (and B
    when not better) is a random order; the better B puts two liked items first."""
    rng = np.random.default_rng(seed)
    served: dict[str, list] = {"request_id": [], "experiment": [], "item_ids": [], "model": []}
    events: dict[str, list] = {"request_id": [], "item_id": [], "event_type": []}
    for r in range(requests):
        liked = set(rng.choice(ITEMS, 5, replace=False))
        ranking_a = list(rng.permutation(ITEMS))
        ranking_b = list(rng.permutation(ITEMS)) if ranker_b_is_better else list(ranking_a)
        if ranker_b_is_better:
            first = sorted(liked)[:2]
            ranking_b = first + [item for item in ranking_b if item not in first]
        merged, teams = team_draft(ranking_a, ranking_b, 10, seed=f"r{r}")
        served["request_id"].append(f"r{r}")
        served["experiment"].append("rankers")
        served["item_ids"].append(merged)
        served["model"].append(teams_label(teams))
        for position, item in enumerate(merged):
            chance = (0.5 if item in liked else 0.03) / (1 + position) ** 0.5
            if rng.random() < chance:
                events["request_id"].append(f"r{r}")
                events["item_id"].append(item)
                events["event_type"].append("click")
    return pa.table(served), pa.table(events)


def test_identical_rankers_show_no_preference() -> None:
    experiment = Experiments.from_config([EXPERIMENT]).get("rankers")
    report = interleave_report(experiment, *log(False, 2000, seed=1))
    assert report["responses"] == 2000 and report["p_value"] > 0.05
    assert report["preference"]["low"] < 0.5 < report["preference"]["high"]
    assert "no significant preference" in report["verdict"]


def test_a_better_ranker_wins() -> None:
    experiment = Experiments.from_config([EXPERIMENT]).get("rankers")
    report = build_report(experiment, *log(True, 300, seed=2))
    assert report["wins"]["B"] > 2 * report["wins"]["A"] and report["p_value"] < 0.001
    assert report["verdict"].startswith("B beats A in interleaving")


def test_interleaving_assignment_carries_both_rankers() -> None:
    assigned = Experiments.from_config([EXPERIMENT]).assign("recommendations", "v1")
    assert (assigned.variant, assigned.model) == ("interleaved", "als")
    assert assigned.rival is not None and assigned.rival.model == "bm25"


def test_interleaving_report_renders_as_html() -> None:
    experiment = Experiments.from_config([EXPERIMENT]).get("rankers")
    page = report_html(build_report(experiment, *log(True, 50, seed=3)))
    assert "Interleaving" in page and "responses won" in page
