"""Reading events: every format, ids kept as strings, and every kind of bad row named precisely."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from recsys.config import EventsConfig
from recsys.data import (
    Interactions,
    events_matrix,
    load_catalogue,
    load_events,
    purchases_matrix,
)
from recsys.errors import InputError

TYPES = ("view", "add_to_cart", "purchase")
ROWS = [
    {
        "user_id": "u1",
        "item_id": "00042",
        "event_type": "view",
        "timestamp": "2026-11-01T10:00:00Z",
    },
    {"user_id": "u1", "item_id": "42", "event_type": "purchase", "timestamp": "1793527300"},
    {
        "user_id": "u2",
        "item_id": "00042",
        "event_type": "add_to_cart",
        "timestamp": "2026-11-01 10:05:00",
    },
]


def write_csv(path: Path, header: str, lines: list[str]) -> Path:
    path.write_text("\n".join([header, *lines]) + "\n")
    return path


def write_all_formats(folder: Path) -> list[Path]:
    header = "user_id,item_id,event_type,timestamp"
    lines = [",".join(row.values()) for row in ROWS]
    csv = write_csv(folder / "e.csv", header, lines)
    gz = folder / "e.csv.gz"
    gz.write_bytes(gzip.compress(csv.read_bytes()))
    jsonl = folder / "e.jsonl"
    jsonl.write_text("".join(json.dumps(row) + "\n" for row in ROWS))
    jgz = folder / "e.jsonl.gz"
    jgz.write_bytes(gzip.compress(jsonl.read_bytes()))
    parquet = folder / "e.parquet"
    pq.write_table(pa.Table.from_pylist(ROWS), parquet)
    return [csv, gz, jsonl, jgz, parquet]


def test_every_format_reads_the_same(tmp_path: Path) -> None:
    results = [load_events(path, TYPES) for path in write_all_formats(tmp_path)]
    for events in results:
        assert events.users.ids(events.user) == ["u1", "u1", "u2"]
        assert events.items.ids(events.item) == ["00042", "42", "00042"]
        assert [events.event_types[e] for e in events.event] == ["view", "purchase", "add_to_cart"]
        np.testing.assert_array_equal(events.timestamp, results[0].timestamp)
    assert len({events.fingerprint() for events in results}) == 1


def test_ids_are_numbered_in_first_seen_order_whatever_the_dictionaries(tmp_path: Path) -> None:
    """Parquet ids are read dictionary-encoded, one dictionary per row group: the numbers are still
    those of the first appearance after sorting by time, as for text read row by row."""
    rows = [
        {"user_id": user, "item_id": item, "event_type": "view", "timestamp": stamp}
        for user, item, stamp in [("c", "x", 30), ("a", "y", 10), ("b", "x", 20), ("a", "z", 5)]
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "e.parquet", row_group_size=2)
    (tmp_path / "e.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    for path in (tmp_path / "e.parquet", tmp_path / "e.jsonl"):
        events = load_events(path, TYPES)
        assert events.users.ids(range(len(events.users))) == ["a", "b", "c"]
        assert events.items.ids(range(len(events.items))) == ["z", "y", "x"]
        assert list(events.user) == [0, 0, 1, 2] and list(events.item) == [0, 1, 2, 2]


def test_parquet_timestamp_columns(tmp_path: Path) -> None:
    table = pa.table({"user_id": ["u"], "item_id": ["i"], "event_type": ["view"],
                      "timestamp": pa.array([1793527200123], pa.timestamp("ms", tz="UTC"))})
    pq.write_table(table, tmp_path / "t.parquet")
    assert list(load_events(tmp_path / "t.parquet", TYPES).timestamp) == [1793527200]


def test_a_folder_reads_every_file(tmp_path: Path) -> None:
    write_all_formats(tmp_path)
    assert len(load_events(tmp_path, TYPES)) == 5 * len(ROWS)


def test_timestamps_iso_and_unix_agree(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "t.csv",
        "user_id,item_id,event_type,timestamp",
        [
            "u,i,view,2026-11-01T10:00:00Z",
            "u,i,view,1793527200",
            "u,i,view,2026-11-01T11:00:00+01:00",
            "u,i,view,2026-11-01 10:00:00",
        ],
    )
    assert set(load_events(path, TYPES).timestamp) == {1793527200}


def test_optional_columns_are_kept(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "o.csv",
        "user_id,item_id,event_type,timestamp,quantity,price,order_id",
        ["u,i,purchase,1,2,9.5,o1", "u,j,view,2,,,"],
    )
    extra = load_events(path, TYPES).extra
    assert extra.column("quantity").to_pylist()[0] == 2
    assert extra.column("order_id").to_pylist() == ["o1", None]  # "" is no order id


BAD = [
    ("user_id,item_id,timestamp\nu,i,1\n", None, None, "missing required column 'event_type'"),
    (
        "user_id,item_id,event_type,timestamp\nu,i,view,1\nu,i,vieww,2\n",
        3,
        "event_type",
        "unknown event type",
    ),
    (
        "user_id,item_id,event_type,timestamp\nu,i,view,1\nu,i,view,yesterday\n",
        3,
        "timestamp",
        "unparsable timestamp",
    ),
    ("user_id,item_id,event_type,timestamp\nu,i,view,1\n,i,view,2\n", 3, "user_id", "empty id"),
    ("user_id,item_id,event_type,timestamp\nu,i,view,1\nu,i,view\n", 3, None, "expected 4 fields"),
    (
        "user_id,item_id,event_type,timestamp,quantity\nu,i,view,1,two\n",
        2,
        "quantity",
        "not a whole number",
    ),
]


@pytest.mark.parametrize(("text", "line", "column", "reason"), BAD)
def test_bad_rows_are_named(
    tmp_path: Path, text: str, line: int | None, column: str | None, reason: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        load_events(path, TYPES)
    error = caught.value
    assert (error.row, error.column) == (line, column)
    assert reason in str(error) and str(path) in str(error)
    assert "\n" not in str(error)


def test_skip_counts_bad_rows_by_reason(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "user_id,item_id,event_type,timestamp\nu,i,view,1\nu,i,vieww,2\n,i,view,3\n"
        "u,i,view,soon\nu,i,view\nu,j,purchase,5\n"
    )
    events = load_events(path, TYPES, on_error="skip")
    assert len(events) == 2
    assert sum(events.skipped.values()) == 4


def test_broken_jsonl_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(ROWS[0]) + "\n{not json\n")
    with pytest.raises(InputError, match=r"bad.jsonl:line 2: invalid JSON"):
        load_events(path, TYPES)


def test_unknown_file_type_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "events.xlsx").write_text("x")
    with pytest.raises(InputError, match="unknown file type"):
        load_events(tmp_path / "events.xlsx", TYPES)
    with pytest.raises(InputError, match="no such file"):
        load_events(tmp_path / "absent.csv", TYPES)


def test_matrix_weights_damps_and_decays(tmp_path: Path) -> None:
    day = 86_400
    path = write_csv(
        tmp_path / "w.csv",
        "user_id,item_id,event_type,timestamp",
        ["u,a,view,0", "u,a,view,0", "u,b,purchase,0", f"u,c,view,{10 * day}"],
    )
    events = load_events(path, TYPES)
    weights = {"view": 1.0, "add_to_cart": 3.0, "purchase": 5.0}
    plain = Interactions.from_events(events, EventsConfig(weights, damping="none"))
    row = dict(zip(events.items.ids(range(3)), plain.matrix.toarray()[0], strict=True))
    assert row == {"a": 2.0, "b": 5.0, "c": 1.0}
    damped = Interactions.from_events(events, EventsConfig(weights, damping="log1p"))
    np.testing.assert_allclose(damped.matrix.toarray()[0], np.log1p([2.0, 5.0, 1.0]), rtol=1e-6)
    decayed = Interactions.from_events(events, EventsConfig(weights, "none", half_life_days=10))
    np.testing.assert_allclose(decayed.matrix.toarray()[0], [1.0, 2.5, 1.0], rtol=1e-5)


def test_events_matrix_is_binary_over_the_chosen_events(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "b.csv",
        "user_id,item_id,event_type,timestamp",
        ["u,a,purchase,0", "u,a,purchase,1", "u,b,view,2", "v,b,purchase,3"],
    )
    events = load_events(path, TYPES)
    bought = events_matrix(events, events.is_type("purchase"))
    assert bought.dtype == np.float32 and bought.toarray().tolist() == [[1, 0], [0, 1]]
    widened = events_matrix(events, np.array([0, 1, 2]), n_items=3)  # row numbers, wider
    assert widened.toarray().tolist() == [[1, 1, 0], [0, 0, 0]]
    assert (purchases_matrix(events, 2) != bought).nnz == 0


def test_catalogue_aligns_and_types(tmp_path: Path) -> None:
    path = tmp_path / "cat.csv"
    path.write_text(
        "item_id,title,category,price,in_stock,brand\n00042,A,x/y,3.5,true,acme\n42,B,,,no,\n"
    )
    catalogue = load_catalogue(path)
    assert catalogue.table.column("in_stock").to_pylist() == [True, False]
    assert catalogue.table.column("brand").to_pylist()[0] == "acme"
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,in_stock\na,maybe\n")
    with pytest.raises(InputError, match="in_stock"):
        load_catalogue(bad)


def test_catalogue_price_that_is_not_a_number_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "cat.csv"
    bad.write_text("item_id,price\na,3.5\nb,cheap\n")
    with pytest.raises(InputError, match="price is not a number") as caught:
        load_catalogue(bad)
    assert caught.value.column == "price" and str(bad) in str(caught.value)
