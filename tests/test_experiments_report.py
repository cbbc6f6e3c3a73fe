"""The report on a small fixed log equals hand-computed values; attribution rules; SRM; verdicts
on simulated experiments with a known lift and on an A/A test."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats as scipy_stats

from recsys.data.incoming import IncomingEvent
from recsys.eventstore import open_store
from recsys.experiments import Experiments
from recsys.experiments.attribute import ATTRIBUTED_TYPES
from recsys.experiments.html import report_html
from recsys.experiments.load import report_from_store
from recsys.experiments.report import experiment_report
from recsys.experiments.stats import (
    bootstrap,
    paired,
    sample_ratio,
    two_proportions,
    welch,
    wilson,
)

EXPERIMENT = {
    "name": "exp",
    "variants": [{"name": "A", "model": "als", "share": 0.5},
                 {"name": "B", "model": "bm25", "share": 0.5}],
}  # fmt: skip
DAY = 86_400.0


def served_table(rows: list[tuple]) -> pa.Table:
    names = ("request_id", "user_id", "experiment", "variant", "item_ids", "timestamp")
    columns = list(zip(*rows, strict=True))
    types = {"item_ids": pa.list_(pa.string()), "timestamp": pa.float64()}
    return table(names, columns, types)


def table(names: tuple[str, ...], columns: list, types: dict) -> pa.Table:
    pairs = zip(names, columns, strict=True)
    return pa.table(
        {name: pa.array(values, types.get(name, pa.string())) for name, values in pairs}
    )


def events_table(rows: list[tuple]) -> pa.Table:
    """Rows of (user, item, type, timestamp, request_id, price, quantity, order_id)."""
    names = ("user_id", "item_id", "event_type", "timestamp", "request_id", "price", "quantity",
             "order_id")  # fmt: skip
    types = {"timestamp": pa.float64(), "price": pa.float64(), "quantity": pa.int64()}
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return table(names, columns, types)


SERVED = served_table([
    ("r1", "u1", "exp", "A", ["i1", "i2"], 0.0),
    ("r2", "u2", "exp", "A", ["i1", "i3"], 10.0),
    ("r3", "u3", "exp", "B", ["i2", "i3"], 20.0),
    ("r4", "u4", "exp", "B", ["i1", "i2"], 30.0),
    ("r5", "u1", "exp", "B", ["i3"], 40.0),  # u1 already saw A: a crossover, left out
    ("r6", "u9", "other", "B", ["i1"], 5.0),  # another experiment
])  # fmt: skip
EVENTS = events_table([
    ("u1", "i1", "impression", 1.0, "r1", None, None, None),
    ("u1", "i2", "impression", 1.0, "r1", None, None, None),
    ("u1", "i1", "click", 2.0, "r1", None, None, None),
    ("u1", "i1", "purchase", 3.0, "r1", 10.0, 2, "o1"),
    ("u1", "i3", "purchase", 45.0, "r5", 99.0, 1, "o9"),  # crossover response: not counted
    ("u2", "i1", "impression", 11.0, "r2", None, None, None),
    ("u2", "i3", "impression", 11.0, "r2", None, None, None),
    ("u2", "i1", "view", 12.0, "r2", None, None, None),
    ("u3", "i2", "impression", 21.0, "r3", None, None, None),
    ("u3", "i2", "click", 22.0, "r3", None, None, None),
    ("u3", "i2", "click", 23.0, "r3", None, None, None),  # a double click counts once
    ("u3", "i2", "add_to_cart", 24.0, "r3", None, None, None),
    ("u3", "i2", "purchase", 100.0, None, 5.0, 1, "o2"),  # recommended, no click: counts
    ("u4", "i1", "impression", 31.0, "r4", None, None, None),
    ("u4", "i2", "impression", 31.0, "r4", None, None, None),
    ("u4", "i1", "click", 32.0, "r4", None, None, None),
    ("u4", "i1", "add_to_cart", 33.0, "r4", None, None, None),
    ("u4", "i1", "purchase", 50.0, "r4", 20.0, 1, "o3"),
    ("u4", "i3", "purchase", 200.0, None, 7.0, 1, "o4"),  # never recommended to u4
    ("u4", "i2", "purchase", 30.0 + DAY + 1, None, 8.0, 1, "o5"),  # after the window
    ("u9", "i1", "purchase", 6.0, "r6", 50.0, 1, "o6"),  # the other experiment's
])  # fmt: skip


@pytest.fixture(scope="module")
def report() -> dict:
    experiment = Experiments.from_config([EXPERIMENT]).get("exp")
    return experiment_report(experiment, SERVED, EVENTS)


def test_counts_follow_the_attribution_rules(report: dict) -> None:
    a, b = report["variants"]["A"], report["variants"]["B"]
    assert (a["users"], a["responses"], a["impressions"], a["clicks"]) == (2, 2, 4, 1)
    assert (b["users"], b["responses"], b["impressions"], b["clicks"]) == (2, 2, 3, 2)
    assert (a["add_to_cart_users"], a["buyers"], a["orders"], a["revenue"]) == (0, 1, 1, 20.0)
    assert (b["add_to_cart_users"], b["buyers"], b["orders"], b["revenue"]) == (2, 2, 2, 25.0)
    assert report["crossover_users"] == 1


def test_statistics_equal_hand_computed_values(report: dict) -> None:
    a, b = report["variants"]["A"], report["variants"]["B"]
    assert a["ctr"]["value"] == 0.25 and b["ctr"]["value"] == pytest.approx(2 / 3)
    # Wilson interval of 1 in 4 at 95%: the textbook [0.0456, 0.6994]
    assert (a["ctr"]["low"], a["ctr"]["high"]) == pytest.approx((0.04559, 0.69936), abs=1e-4)
    assert a["conversion"]["value"] == 0.5 and b["conversion"]["value"] == 1.0
    assert a["revenue_per_user"]["value"] == 10.0 and b["revenue_per_user"]["value"] == 12.5
    assert a["aov"]["value"] == 20.0 and b["aov"]["value"] == 12.5
    # revenue per user [20, 0]: mean 10, sd 14.142, t(1) 97.5% = 12.706 -> 10 +- 127.06
    assert a["revenue_per_user"]["high"] == pytest.approx(10 + 12.7062 * 10, abs=1e-2)

    conversion = report["differences"]["B"]["conversion"]
    pooled_se = math.sqrt(0.75 * 0.25 * (1 / 2 + 1 / 2))  # pooled rate 3/4
    assert conversion["difference"] == 0.5
    assert conversion["p_value"] == pytest.approx(math.erfc(0.5 / pooled_se / math.sqrt(2)))
    half = 1.959964 * math.sqrt(0.5 * 0.5 / 2)  # Wald: the treatment's rate 1 adds no variance
    assert (conversion["low"], conversion["high"]) == pytest.approx((0.5 - half, 0.5 + half))
    assert conversion["relative"] == 1.0  # +100%

    revenue = report["differences"]["B"]["revenue_per_user"]
    welch = scipy_stats.ttest_ind([5.0, 20.0], [20.0, 0.0], equal_var=False)
    assert revenue["difference"] == 2.5
    assert revenue["p_value"] == pytest.approx(welch.pvalue)
    assert report["srm"]["observed"] == {"A": 2, "B": 2} and not report["srm"]["mismatch"]


def test_verdict_and_daily_curves(report: dict) -> None:
    assert report["verdict"] == (
        "B vs A: no significant difference yet on conversion or revenue per user."
    )
    last_a = [row for row in report["daily"] if row["variant"] == "A"][-1]
    assert (last_a["users"], last_a["conversion"], last_a["revenue_per_user"]) == (2, 0.5, 10.0)


def test_report_from_the_store_reads_only_attributed_event_types(tmp_path: Path) -> None:
    experiment = Experiments.from_config([EXPERIMENT]).get("exp")
    rows = SERVED.to_pylist()
    with open_store(f"sqlite:///{tmp_path / 'events.db'}") as store:
        store.record_served_many(
            [(r["request_id"], r["user_id"], "recommendations", r["experiment"], r["variant"],
              "als@v1", r["item_ids"], r["timestamp"]) for r in rows]
        )  # fmt: skip
        store.append(IncomingEvent(**row) for row in EVENTS.to_pylist())
        asked = []
        events_table = store.events_table
        store.events_table = lambda *a, **kw: asked.append(kw) or events_table(*a, **kw)
        from_store = report_from_store(experiment, store)
    assert asked == [{"event_types": ATTRIBUTED_TYPES}]  # the view event never leaves SQL
    expected = experiment_report(experiment, SERVED, EVENTS)
    assert from_store["variants"] == expected["variants"]
    assert from_store["differences"] == expected["differences"]


def test_empty_logs_give_an_empty_report() -> None:
    experiment = Experiments.from_config([EXPERIMENT]).get("exp")
    empty = experiment_report(experiment, SERVED.slice(0, 0), events_table([]))
    assert (
        empty["variants"]["A"]["users"] == 0
        and empty["variants"]["A"]["conversion"]["value"] is None
    )
    assert empty["differences"]["B"]["conversion"]["p_value"] is None and empty["daily"] == []


def test_sample_ratio_mismatch_is_flagged_on_a_skewed_split() -> None:
    assert sample_ratio({"A": 5000, "B": 5000}, {"A": 0.5, "B": 0.5}).mismatch is False
    skewed = sample_ratio({"A": 5000, "B": 4600}, {"A": 0.5, "B": 0.5})
    assert skewed.mismatch and skewed.p_value < 0.001
    assert sample_ratio({"A": 7000, "B": 3000}, {"A": 0.7, "B": 0.3}).mismatch is False


def simulated_log(rates: dict[str, float], users: int, seed: int, lose_b: float = 0.0
                  ) -> tuple[pa.Table, pa.Table]:  # fmt: skip
    """Visitors split by the real assignment; each buys the first recommended item with the
    variant's conversion rate, at a price drawn from one distribution. `lose_b` drops that share
    of B's responses (a broken logger: the classic SRM cause)."""
    experiments = Experiments.from_config([EXPERIMENT])
    rng = np.random.default_rng(seed)
    served, events = [], []
    for i in range(users):
        visitor = f"sim-{seed}-{i}"
        variant = experiments.assign("recommendations", visitor).variant
        if variant == "B" and rng.random() < lose_b:
            continue
        t = float(i)
        served.append((f"r{i}", visitor, "exp", variant, ["i1", "i2"], t))
        if rng.random() < rates[variant]:
            price = float(rng.gamma(2.0, 20.0))
            events.append((visitor, "i1", "purchase", t + 60, f"r{i}", price, 1, f"o{i}"))
    return served_table(served), events_table(events)


def report_of(served: pa.Table, events: pa.Table) -> dict:
    return experiment_report(Experiments.from_config([EXPERIMENT]).get("exp"), served, events)


def test_a_true_lift_is_reported_as_winning() -> None:
    report = report_of(*simulated_log({"A": 0.05, "B": 0.07}, 20_000, seed=3))
    conversion = report["differences"]["B"]["conversion"]
    assert conversion["p_value"] < 0.001 and conversion["low"] > 0
    assert 0.2 < conversion["relative"] < 0.6  # the true lift is +40%
    assert report["verdict"].startswith("B beats A on conversion, +")
    assert not report["srm"]["mismatch"]


def test_an_a_a_test_is_not_reported_as_winning() -> None:
    report = report_of(*simulated_log({"A": 0.05, "B": 0.05}, 20_000, seed=4))
    assert report["differences"]["B"]["conversion"]["p_value"] > 0.05
    assert "no significant difference" in report["verdict"]


def test_a_broken_split_is_flagged_in_the_verdict() -> None:
    report = report_of(*simulated_log({"A": 0.05, "B": 0.05}, 20_000, seed=5, lose_b=0.1))
    assert report["srm"]["mismatch"]
    assert report["verdict"].startswith("Sample ratio mismatch")


def test_two_proportions_and_wilson_edges() -> None:
    assert wilson(0, 0).value is None
    assert two_proportions((0, 10), (0, 10)).p_value == 1.0
    assert wilson(0, 10).low == 0.0 and wilson(10, 10).high == pytest.approx(1.0)


def test_paired_and_bootstrap_agree_with_references() -> None:
    rng = np.random.default_rng(0)
    control, treatment = rng.gamma(2.0, 10.0, 400), rng.gamma(2.0, 11.0, 400)
    found = paired(control, treatment)
    reference = scipy_stats.ttest_rel(treatment, control)
    assert found.p_value == pytest.approx(reference.pvalue)
    assert found.difference == pytest.approx(float((treatment - control).mean()))
    resampled = bootstrap(control, treatment, rounds=1000, seed=1)
    assert resampled.difference == pytest.approx(float(treatment.mean() - control.mean()))
    assert resampled.low < resampled.difference < resampled.high
    welch_found = welch(control, treatment)
    assert abs(resampled.low - welch_found.low) < 0.25 * (welch_found.high - welch_found.low)


def test_bootstrap_revenue_test_and_html() -> None:
    experiment = Experiments.from_config([EXPERIMENT]).get("exp")
    report = experiment_report(experiment, SERVED, EVENTS, revenue_test="bootstrap")
    assert report["revenue_test"] == "bootstrap"
    assert report["differences"]["B"]["revenue_per_user"]["difference"] == 2.5
    page = report_html(report)
    assert "<img" in page and "conversion" in page and report["verdict"] in page
