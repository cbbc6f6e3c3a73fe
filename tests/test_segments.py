"""recsys segments: one hand-made customer per lifecycle segment, RFM quintiles and the config.

Buyers (recency days, orders, revenue) and their scores among the 8 buyers, worked out by hand:
    champ     1  5  500  r5 f5 m5      newbie   5  1   20  r5 f2 m2
    loyal    40  4  100  r3 f5 m4      big     45  1 2000  r2 f2 m5
    active   20  2   30  r4 f4 m2      atrisk 100  1   40  r2 f2 m3
    lapsed  200  1   10  r1 f2 m1      cart    32  1   50  r4 f2 m4
(ties share the average rank: the five single-order buyers all get f2.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from recsys.campaigns import SEGMENTS, compute_segments, segments_config, summarise
from recsys.campaigns.segments import quintiles
from recsys.data import load_events
from recsys.errors import ConfigError
from recsys_training.cli import main

DAY = 86_400
NOW = 1_790_000_000
ORDERS = {  # customer -> (days ago, revenue) per order
    "champ": [(1, 100), (10, 100), (20, 100), (50, 100), (80, 100)],
    "newbie": [(5, 20)],
    "loyal": [(40, 25), (90, 25), (120, 25), (150, 25)],
    "big": [(45, 2000)],
    "active": [(55, 15), (20, 15)],
    "atrisk": [(100, 40)],
    "lapsed": [(200, 10)],
    "cart": [(32, 50)],
}
EXPECTED = {
    "champ": "champions",
    "newbie": "new",
    "loyal": "loyal",
    "big": "big_spenders",
    "active": "active",
    "atrisk": "at_risk",
    "lapsed": "lapsed",
    "cart": "cart_abandoners",
    "browser": "browsers",
}


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    rows = []
    for user, orders in ORDERS.items():
        for k, (days, revenue) in enumerate(orders):
            rows.append(
                {
                    "user_id": user,
                    "item_id": f"i{k}",
                    "event_type": "purchase",
                    "timestamp": NOW - days * DAY,
                    "order_id": f"{user}-{k}",
                    "quantity": 2,
                    "price": revenue / 2,
                }
            )
    rows.append(
        {
            "user_id": "cart",
            "item_id": "i9",
            "event_type": "add_to_cart",
            "timestamp": NOW - 2 * DAY,
            "order_id": None,
            "quantity": None,
            "price": None,
        }
    )
    rows.append(
        {
            "user_id": "browser",
            "item_id": "i9",
            "event_type": "view",
            "timestamp": NOW,
            "order_id": None,
            "quantity": None,
            "price": None,
        }
    )
    path = tmp_path / "events.csv"
    pcsv.write_csv(pa.Table.from_pylist(rows), path)
    return path


def by_user(table: pa.Table) -> dict[str, dict]:
    return {row["user_id"]: row for row in table.to_pylist()}


def test_one_customer_per_segment(events_file: Path) -> None:
    events = load_events(events_file, ("view", "add_to_cart", "purchase"))
    rows = by_user(compute_segments(events, segments_config({})))
    assert {user: row["segment"] for user, row in rows.items()} == EXPECTED
    assert rows["champ"]["rfm"] == "555" and rows["loyal"]["rfm"] == "354"
    assert (rows["big"]["r"], rows["big"]["f"], rows["big"]["m"]) == (2, 2, 5)
    assert rows["loyal"]["frequency"] == 4 and rows["loyal"]["monetary"] == 100
    assert rows["browser"]["recency_days"] is None and rows["browser"]["r"] == 0
    # flags: a customer is in every segment whose rule holds, `segment` is the first of them
    assert rows["champ"]["loyal"] and rows["champ"]["active"] and not rows["champ"]["new"]
    assert rows["cart"]["active"] and rows["cart"]["cart_abandoners"]
    assert not rows["newbie"]["cart_abandoners"]


def test_thresholds_come_from_the_config(events_file: Path) -> None:
    events = load_events(events_file, ("view", "add_to_cart", "purchase"))
    config = segments_config({"lapsed_days": 90, "cart_days": 1.5, "loyal_orders": 5})
    rows = by_user(compute_segments(events, config))
    assert rows["atrisk"]["segment"] == "lapsed"
    assert rows["cart"]["segment"] == "active"  # carted 2 days ago: outside 1.5 days
    assert not rows["loyal"]["loyal"] and rows["champ"]["loyal"]


def test_cart_abandoner_who_bought_since_is_not_one(tmp_path: Path) -> None:
    rows = [("u", "i1", "add_to_cart", 3), ("u", "i1", "purchase", 1), ("v", "i2", "view", 0)]
    path = tmp_path / "e.csv"
    pcsv.write_csv(
        pa.Table.from_pylist(
            [
                {"user_id": u, "item_id": i, "event_type": t, "timestamp": NOW - d * DAY}
                for u, i, t, d in rows
            ]
        ),
        path,
    )
    table = compute_segments(
        load_events(path, ("view", "add_to_cart", "purchase")), segments_config({})
    )
    row = by_user(table)["u"]
    assert not row["cart_abandoners"] and row["new"]


def test_summary_counts_and_revenue_share(events_file: Path) -> None:
    events = load_events(events_file, ("view", "add_to_cart", "purchase"))
    summary = {
        row["segment"]: row
        for row in summarise(compute_segments(events, segments_config({}))).to_pylist()
    }
    assert list(summary) == list(SEGMENTS)
    assert all(row["customers"] == 1 for row in summary.values())
    total = sum(sum(r for _, r in orders) for orders in ORDERS.values())
    assert summary["big_spenders"]["revenue_share"] == pytest.approx(2000 / total, abs=1e-4)


def test_quintiles_share_scores_on_ties() -> None:
    values = np.array([1.0, 2, 3, 4, 5, 5, 0])
    mask = np.array([True] * 6 + [False])
    assert quintiles(values, mask).tolist() == [1, 2, 3, 4, 5, 5, 0]


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"new_days": -1}, "segments.new_days"),
        ({"lapsed_days": 10}, "segments.lapsed_days"),
        ({"champion_score": 6}, "segments.champion_score"),
        ({"loyal_orders": "3"}, "segments.loyal_orders"),
        ({"vip_days": 3}, "segments.vip_days"),
    ],
)
def test_bad_thresholds_name_the_key(table: dict, key: str) -> None:
    with pytest.raises(ConfigError) as error:
        segments_config(table)
    assert error.value.key == key


def test_cli_writes_segments_and_summary(
    events_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "segments.parquet"
    assert main(["segments", "--events", str(events_file), "--out", str(out)]) == 0
    assert out.is_file() and (tmp_path / "segments.summary.parquet").is_file()
    assert "big_spenders" in capsys.readouterr().out
    assert main(["segments", "--events", str(events_file), "--out", str(tmp_path / "s.txt")]) == 2
    assert main(["segments", "--events", str(tmp_path / "none.csv"), "--out", str(out)]) == 2
