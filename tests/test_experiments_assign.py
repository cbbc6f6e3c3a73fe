"""Assignment: deterministic, balanced, stable across instances and unmoved by other experiments;
config validation names the key."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from recsys.errors import ConfigError
from recsys.experiments import BUCKETS, Experiments, Visitor, bucket

HOME = {
    "name": "home",
    "placements": ["recommendations"],
    "salt": "2026-11",
    "variants": [
        {"name": "A", "model": "als", "share": 0.5},
        {"name": "B", "model": "bm25", "share": 0.3},
        {"name": "C", "strategy": "als+diversity=0.3", "share": 0.2},
    ],
}
SIMILAR = {
    "name": "similar-test",
    "placements": ["similar", "recommendations"],
    "variants": [{"name": "A", "model": "als", "share": 0.5},
                 {"name": "B", "model": "itemknn", "share": 0.5}],
}  # fmt: skip
IDS = [f"visitor-{i}" for i in range(100_000)]


def variants_of(experiments: Experiments, ids: list[str], placement: str = "recommendations"
                ) -> list[str | None]:  # fmt: skip
    picks = (experiments.assign(placement, visitor) for visitor in ids)
    return [a.variant if a else None for a in picks]


def test_split_is_balanced_over_100k_ids() -> None:
    names = variants_of(Experiments.from_config([HOME]), IDS)
    observed = [names.count(v) for v in ("A", "B", "C")]
    _, p_value = stats.chisquare(observed, [50_000, 30_000, 20_000])
    assert p_value > 0.001, observed
    buckets = np.bincount([bucket("s", v) * 100 // BUCKETS for v in IDS[:20_000]], minlength=100)
    assert stats.chisquare(buckets).pvalue > 0.001


def test_assignment_is_stable_across_instances_and_pinned() -> None:
    first = variants_of(Experiments.from_config([HOME]), IDS[:2000])
    again = variants_of(Experiments.from_config([dict(HOME)]), IDS[:2000])
    assert first == again
    # sha256, not Python's salted hash(): these values hold in every process and release
    assert [bucket("2026-11", f"u{i}") for i in range(3)] == [8551, 3527, 6394]


def test_adding_an_experiment_does_not_reshuffle_others() -> None:
    alone = Experiments.from_config([HOME])
    both = Experiments.from_config([HOME, SIMILAR])
    assert variants_of(alone, IDS[:5000]) == variants_of(both, IDS[:5000])
    home = both.get("home")
    assert [alone.variant_of(home, v) for v in IDS[:500]] == [
        both.variant_of(home, v) for v in IDS[:500]
    ]
    assert {a for a in variants_of(both, IDS[:2000], "similar")} == {"A", "B"}


def test_assignment_carries_model_and_params() -> None:
    experiments = Experiments.from_config([HOME])
    found = {
        a.variant: a for a in map(lambda v: experiments.assign("recommendations", v), IDS[:300])
    }
    assert (found["A"].model, found["A"].params) == ("als", {})
    assert (found["C"].model, found["C"].params) == ("als", {"diversity": 0.3})
    assert found["C"].experiment == "home"


def test_requested_windows_and_audience() -> None:
    windowed = {**SIMILAR, "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z"}
    experiments = Experiments.from_config([HOME, windowed])
    november, october = 1_763_000_000 + 30 * 86_400 * 12, 1_700_000_000.0
    assert experiments.assign("similar", "v1", now=november) is not None
    assert experiments.assign("similar", "v1", now=october) is None
    assert experiments.assign("recommendations", "v1", requested="similar-test",
                              now=november).experiment == "similar-test"  # fmt: skip
    assert experiments.assign("recommendations", "v1", requested="nope") is None
    returning = Experiments.from_config([{**HOME, "audience": "returning", "segment": "vip"}])
    assert returning.assign("recommendations", "v1") is None
    assert returning.assign("recommendations", "v1", visitor=Visitor(False, frozenset({"vip"}))
                            ) is None  # fmt: skip
    assert returning.assign("recommendations", "v1", visitor=Visitor(True, frozenset({"vip"}))
                            ) is not None  # fmt: skip


def test_partial_traffic_leaves_the_rest_out() -> None:
    half = {**HOME, "variants": [{"name": "A", "share": 0.25}, {"name": "B", "share": 0.25}]}
    names = variants_of(Experiments.from_config([half]), IDS[:20_000])
    assert 0.47 < names.count(None) / 20_000 < 0.53


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"variants": [{"name": "A", "share": 1.0}]}, "experiments[0].variants"),
        ({"variants": [{"name": "A", "share": 0.7}, {"name": "B", "share": 0.7}]},
         "experiments[0].variants"),
        ({"variants": [{"name": "A", "share": 0.5}, {"name": "A", "share": 0.5}]},
         "experiments[0].variants[1].name"),
        ({"variants": [{"name": "A", "share": 0.5, "modle": "x"}, {"name": "B", "share": 0.5}]},
         "experiments[0].variants[0].modle"),
        ({"variants": [{"name": "A", "share": 0.5, "strategy": "als+div"},
                       {"name": "B", "share": 0.5}]}, "experiments[0].variants[0].strategy"),
        ({"placements": ["home"]}, "experiments[0].placements[0]"),
        ({"start": "yesterday"}, "experiments[0].start"),
        ({"start": "2026-12-01", "end": "2026-11-01"}, "experiments[0].end"),
        ({"audience": "vip"}, "experiments[0].audience"),
        ({"control": "Z"}, "experiments[0].control"),
        ({"sault": "x"}, "experiments[0].sault"),
        ({"mode": "interleave"}, "experiments[0].variants"),
    ],
)  # fmt: skip
def test_bad_config_names_the_key(change: dict, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Experiments.from_config([{**HOME, **change}])
    assert caught.value.key == key


def test_duplicate_experiment_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="duplicate"):
        Experiments.from_config([HOME, HOME])
