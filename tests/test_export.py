"""recsys export: every email rule on a tiny hand-made shop whose picks are checked by hand.

The shop: items i0..i7 with 2-d ALS factors set by hand, so a user vector (1, 0) ranks items by
their first coordinate: i6 .95 (out of stock), i0 .9, i1 .8, i2 .7, i3 .6, i4 .5, i5 .4, i7 .3.
Categories: i0 i1 i2 i6 shoes, i3 i4 bags, i5 i7 hats. Directions: i3 and i4 point the same way
(similar), i2 is next closest to them.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from recsys.bundle import Bundle
from recsys.campaigns import (
    ExportRules,
    build_audience,
    choose_ids,
    export_picks,
    read_history,
    read_user_ids,
)
from recsys.campaigns import export as export_module
from recsys.data import Catalogue, Vocabulary, load_events
from recsys.models.als import ALS
from recsys.models.cooccurrence import Cooccurrence, CooccurrenceParams
from recsys.popularity import Popularity
from recsys_training.cli import main

DAY = 86_400
NOW = 1_790_000_000
ITEMS = [f"i{k}" for k in range(8)]
USERS = ["alice", "bob", "carol", "erin", "frank"]
FACTORS = [
    (0.9, 0),
    (0.8, 0.1),
    (0.7, 0.2),
    (0.6, 0.6),
    (0.5, 0.5),
    (0.4, -0.4),
    (0.95, 0),
    (0.3, -0.3),
]
CATEGORY = ["shoes", "shoes", "shoes", "bags", "bags", "hats", "shoes", "hats"]
IN_STOCK = [True] * 6 + [False, True]
TRENDING = [1, 2, 3, 9, 8, 7, 10, 6]
EVENTS = [  # user, item, type, days ago
    ("alice", "i1", "purchase", 5),
    ("alice", "i0", "view", 1),
    ("bob", "i0", "purchase", 60),
    ("bob", "i2", "view", 3),
    ("carol", "i7", "purchase", 10),
    ("carol", "i3", "add_to_cart", 2),
    ("carol", "i5", "add_to_cart", 20),
    ("erin", "i5", "view", 4),
    ("erin", "i5", "view", 0),
    ("frank", "i2", "add_to_cart", 3),
    ("frank", "i2", "purchase", 1),
]
TYPES = ("view", "add_to_cart", "purchase")


def tiny_bundle(tmp: Path) -> Bundle:
    model = ALS()
    model.user_factors = np.tile(np.float32([1, 0]), (len(USERS), 1))
    model.item_factors = np.asarray(FACTORS, np.float32)
    users, items = Vocabulary(USERS), Vocabulary(ITEMS)
    pairs = [(USERS.index(u), ITEMS.index(i), t) for u, i, t, _ in EVENTS]
    interactions = sp.csr_matrix(
        (np.ones(len(pairs), np.float32), ([p[0] for p in pairs], [p[1] for p in pairs])),
        shape=(len(USERS), len(ITEMS)),
    )
    bought = [p for p in pairs if p[2] == "purchase"]
    purchased = sp.csr_matrix(
        (np.ones(len(bought), np.float32), ([p[0] for p in bought], [p[1] for p in bought])),
        shape=(len(USERS), len(ITEMS)),
    )
    catalogue = Catalogue(
        pa.table(
            {
                "item_id": ITEMS,
                "title": [f"Item {k}" for k in range(8)],
                "category": CATEGORY,
                "price": [float(k) + 0.5 for k in range(8)],
                "in_stock": IN_STOCK,
            }
        ),
        frozenset({"item_id", "title", "category", "price", "in_stock"}),
    )
    trending = np.float32(TRENDING)
    return Bundle(
        tmp,
        {"version": "test"},
        users,
        items,
        interactions.tocsr(),
        purchased.tocsr(),
        Popularity(trending, trending),
        {"als": model},
        catalogue,
    )


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return tiny_bundle(tmp_path)


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    rows = [
        {"user_id": u, "item_id": i, "event_type": t, "timestamp": NOW - d * DAY}
        for u, i, t, d in EVENTS
    ]
    pcsv.write_csv(pa.Table.from_pylist(rows), path)
    return path


def picks_of(
    bundle: Bundle,
    tmp: Path,
    users: list[str] | None = None,
    events: Path | None = None,
    segments: pa.Table | None = None,
    history: pa.Table | None = None,
    **rules: int,
) -> dict[str, list[tuple[str, str]]]:
    """user -> [(item, reason), ...] of an export to Parquet."""
    loaded = load_events(events, TYPES) if events else None
    ids = choose_ids(bundle, pa.array(users) if users else None, None, segments, loaded)
    audience = build_audience(bundle, ids, 30.0, 7.0, loaded, segments, history)
    out = tmp / "picks.parquet"
    export_picks(bundle, audience, out, ExportRules(**{"n": 3, "per_category": 2, **rules}))
    found: dict[str, list[tuple[str, str]]] = {}
    for row in pq.read_table(out).to_pylist():
        found.setdefault(row["user_id"], []).append((row["item_id"], row["reason"]))
    return found


def items_of(picks: list[tuple[str, str]]) -> list[str]:
    return [item for item, _ in picks]


def test_recent_purchases_out_of_stock_and_category_cap(
    bundle: Bundle, events_file: Path, tmp_path: Path
) -> None:
    picks = picks_of(bundle, tmp_path, ["alice", "bob"], events_file)
    # alice bought i1 5 days ago (excluded); i6 is out of stock; a 3rd shoe would break the cap
    assert items_of(picks["alice"]) == ["i0", "i2", "i3"]
    # bob bought i0 60 days ago: outside the 30-day window, so it may come back
    assert items_of(picks["bob"]) == ["i0", "i1", "i3"]
    assert {reason for _, reason in picks["alice"]} == {"for_you"}


def test_one_item_per_category(bundle: Bundle, events_file: Path, tmp_path: Path) -> None:
    picks = picks_of(bundle, tmp_path, ["alice"], events_file, per_category=1)
    assert items_of(picks["alice"]) == ["i0", "i3", "i5"]


def test_without_events_every_purchase_counts_as_recent(bundle: Bundle, tmp_path: Path) -> None:
    picks = picks_of(bundle, tmp_path, ["bob"])
    assert items_of(picks["bob"]) == ["i1", "i2", "i3"]


def test_cart_abandoner_gets_cart_then_similar_items(
    bundle: Bundle, events_file: Path, tmp_path: Path
) -> None:
    # i3 was carted 2 days ago after carol's last purchase; i5 20 days ago is outside the window
    picks = picks_of(bundle, tmp_path, ["carol"], events_file)
    assert picks["carol"] == [
        ("i3", "abandoned_cart"),
        ("i4", "similar_to:i3"),
        ("i2", "similar_to:i3"),
    ]


def test_cart_abandoner_gets_complements_from_a_complements_model(
    bundle: Bundle, events_file: Path, tmp_path: Path
) -> None:
    rows = [[3, 7]] * 3 + [[3, 5]] * 2 + [[3, 0]]
    baskets = sp.csr_matrix(
        (np.ones(12, np.float32), (np.repeat(range(6), 2), np.ravel(rows))), shape=(6, len(ITEMS))
    )
    params = CooccurrenceParams(measure="confidence", min_support=1, shrinkage=0, min_baskets=0)
    bundle.models["cooccurrence"] = Cooccurrence(params).fit_baskets(baskets)
    picks = picks_of(bundle, tmp_path, ["carol"], events_file)
    # i7 goes best with i3 but carol bought it 10 days ago
    assert picks["carol"] == [
        ("i3", "abandoned_cart"),
        ("i5", "bought_with:i3"),
        ("i0", "bought_with:i3"),
    ]


def test_customer_without_history_gets_trending_in_segment_favourites(
    bundle: Bundle, tmp_path: Path
) -> None:
    # dave is unknown to the bundle; his segment (browsers) only ever looked at hats (erin)
    segments = pa.table({"user_id": ["dave", "erin"], "segment": ["browsers", "browsers"]})
    picks = picks_of(bundle, tmp_path, ["dave", "erin"], segments=segments)
    assert picks["dave"] == [("i5", "trending"), ("i7", "trending"), ("i3", "trending")]
    unknown = picks_of(bundle, tmp_path, ["zoe"])  # no segment: trending overall, in stock
    assert items_of(unknown["zoe"]) == ["i3", "i4", "i5"]


def test_items_of_earlier_campaigns_are_not_sent_again(bundle: Bundle, tmp_path: Path) -> None:
    history = tmp_path / "history"
    history.mkdir()
    (history / "old.jsonl").write_text(
        json.dumps({"user_id": "bob", "items": [{"rank": 1, "item_id": "i1"}]}) + "\n"
    )
    pcsv.write_csv(
        pa.table({"user_id": ["bob"], "rank": [1], "item_id": ["i2"]}), history / "new.csv"
    )
    taken = read_history(history, campaigns=2)
    assert sorted(taken.column("item_id").to_pylist()) == ["i1", "i2"]
    picks = picks_of(bundle, tmp_path, ["bob"], history=taken)
    assert items_of(picks["bob"]) == ["i3", "i4", "i5"]  # i0 bought, i1 i2 already sent


def test_only_the_newest_campaigns_count(tmp_path: Path) -> None:
    import os

    for age, item in enumerate(["i1", "i2", "i3"]):
        path = tmp_path / f"c{age}.csv"
        pcsv.write_csv(pa.table({"user_id": ["bob"], "item_id": [item]}), path)
        os.utime(path, (NOW - age * DAY, NOW - age * DAY))
    assert read_history(tmp_path, campaigns=2).column("item_id").to_pylist() == ["i1", "i2"]


def test_formats_hold_the_same_picks(bundle: Bundle, tmp_path: Path) -> None:
    audience = build_audience(bundle, pa.array(["alice", "bob"]), 30.0, 7.0)
    rules = ExportRules(n=2, per_category=0)
    for name in ("picks.csv", "picks.jsonl", "picks.parquet"):
        export_picks(bundle, audience, tmp_path / name, rules)
    parquet = pq.read_table(tmp_path / "picks.parquet").to_pylist()
    csv = pcsv.read_csv(tmp_path / "picks.csv").to_pylist()
    assert (
        [r["item_id"] for r in parquet] == [r["item_id"] for r in csv] == ["i0", "i2", "i1", "i2"]
    )
    assert list(parquet[0]) == ["user_id", "rank", "item_id", "score", "reason", "title", "price"]
    lines = [json.loads(line) for line in (tmp_path / "picks.jsonl").read_text().splitlines()]
    assert [line["user_id"] for line in lines] == ["alice", "bob"]
    assert lines[0]["items"][0] == {
        "rank": 1,
        "item_id": "i0",
        "score": pytest.approx(0.9),
        "reason": "for_you",
        "title": "Item 0",
        "price": 0.5,
    }


def test_failed_export_leaves_no_partial_file(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "picks.parquet"
    out.write_bytes(b"last week's complete export")
    audience = build_audience(bundle, pa.array(USERS), 30.0, 7.0)
    calls = []
    real = export_module.Picker.table

    def fail_on_third_chunk(self: export_module.Picker, start: int, picks: object) -> pa.Table:
        calls.append(start)
        if len(calls) == 3:
            raise RuntimeError("killed mid-way")
        return real(self, start, picks)  # type: ignore[arg-type]

    monkeypatch.setattr(export_module.Picker, "table", fail_on_third_chunk)
    with pytest.raises(RuntimeError, match="killed"):
        export_picks(bundle, audience, out, ExportRules(n=2, chunk=1))
    assert out.read_bytes() == b"last week's complete export"
    assert [p.name for p in tmp_path.iterdir()] == ["picks.parquet"]  # no temporary left


def test_user_lists(tmp_path: Path) -> None:
    (tmp_path / "ids.txt").write_text("00042\n42\n\n00042\n")
    pcsv.write_csv(pa.table({"user_id": ["a", "b"], "email": ["x", "y"]}), tmp_path / "ids.csv")
    assert read_user_ids(tmp_path / "ids.txt").to_pylist() == ["00042", "42"]
    assert read_user_ids(tmp_path / "ids.csv").to_pylist() == ["a", "b"]
    (tmp_path / "ids.csv.gz").write_bytes(gzip.compress(b"user_id\nalice\nbob\n"))
    assert read_user_ids(tmp_path / "ids.csv.gz").to_pylist() == ["alice", "bob"]
    (tmp_path / "plain.csv.gz").write_bytes(gzip.compress(b"carol\ndave\n"))
    assert read_user_ids(tmp_path / "plain.csv.gz").to_pylist() == ["carol", "dave"]


def test_cli_exports_a_segment_from_events(
    shop: Path, models_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    out = tmp_path / "abandoners.jsonl"
    code = main(
        [
            "export",
            "--models",
            str(models),
            "--out",
            str(out),
            "--segment",
            "cart_abandoners",
            "--events",
            str(shop / "events.parquet"),
            "--n",
            "5",
        ]
    )
    assert code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines and all(1 <= len(line["items"]) <= 5 for line in lines)
    assert any(line["items"][0]["reason"] == "abandoned_cart" for line in lines)
    assert main(["export", "--models", str(models), "--out", str(tmp_path / "x.xlsx")]) == 2
    assert main(["export", "--models", str(models), "--out", str(out), "--segment", "new"]) == 2
    assert "needs --segments" in capsys.readouterr().err


def test_a_killed_export_leaves_no_output_and_the_next_one_removes_its_leftover(
    models_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "picks.csv"
    command = [
        sys.executable,
        "-m",
        "recsys_training.cli",
        "export",
        "--models",
        str(models_dir),
        "--out",
        str(out),
        "--chunk",
        "1",
    ]
    process = subprocess.Popen(
        command,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        while process.poll() is None and not writing(tmp_path / ".picks.csv.tmp-*"):
            time.sleep(0.01)
        assert process.poll() is None, "the export ended before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    assert not out.exists()
    killed = tmp_path / f".picks.csv.tmp-{process.pid}"
    assert killed.exists(), "a killed export cannot clean up after itself"
    running = tmp_path / f".picks.csv.tmp-{os.getppid()}"  # may be an export still going
    other = tmp_path / f".other.csv.tmp-{process.pid}"  # another target's
    for leftover in (running, other):
        leftover.write_text("partial")
    assert main(["export", "--models", str(models_dir), "--out", str(out), "--n", "2"]) == 0
    assert out.exists() and not killed.exists()
    assert running.exists() and other.exists()


def writing(pattern: Path) -> bool:
    """Whether a temporary file matching `pattern` exists and has rows in it already."""
    for path in pattern.parent.glob(pattern.name):
        try:
            if path.stat().st_size > 0:
                return True
        except FileNotFoundError:  # renamed into place in the meantime
            return False
    return False
