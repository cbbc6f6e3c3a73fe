"""The event store on SQLite, and on PostgreSQL when RECSYS_TEST_POSTGRES_URL names a server
(.ci/postgres.sh starts one): one suite, both backends."""

from __future__ import annotations

import multiprocessing
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from recsys.data import load_events
from recsys.data.events import OPTIONAL_NUMBERS, OPTIONAL_TEXT, REQUIRED
from recsys.data.incoming import IncomingEvent
from recsys.eventstore import EventStore, StoreError, open_store
from recsys.privacy import ForgetKey
from tests.conftest import postgres_schema

KEY = ForgetKey("store-test-secret")
ROOT = Path(__file__).resolve().parents[1]


def event(user: str, item: str, when: float, kind: str = "view", **extra: object) -> IncomingEvent:
    return IncomingEvent(user, item, kind, when, **extra)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL: an SQLite file, or a PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'events.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def store(store_url: str) -> Iterator[EventStore]:
    with open_store(store_url, KEY) as opened:
        yield opened


def test_round_trip_keeps_every_field(store: EventStore) -> None:
    bought = event(
        "ü-1",
        "0042",
        1_700_000_100.5,
        "purchase",
        session_id="s",
        quantity=2,
        price=9.99,
        order_id="o",
        request_id="r",
    )
    assert store.append([event("ü-1", "42", 1_700_000_000), bought]) == 2
    assert store.count() == 2
    assert store.recent_events("ü-1") == [event("ü-1", "42", 1_700_000_000), bought]
    assert store.recent_events("nobody") == []
    assert store.append([]) == 0


def test_recent_events_are_the_latest_by_time_newest_last(store: EventStore) -> None:
    store.append([event("u", f"i{t}", float(t)) for t in (5, 1, 4, 2, 3)])
    store.append([event("u", "tie", 3.0, "purchase"), event("v", "other", 9.0)])
    assert [e.item_id for e in store.recent_events("u", limit=3)] == ["tie", "i4", "i5"]
    # what a request folds in: the same events, two columns of them
    for limit in (1, 3, 100, 0):
        assert store.recent_activity("u", limit) == [
            (e.item_id, e.event_type) for e in store.recent_events("u", limit)
        ]
    assert store.recent_activity("u", 2) == [("i4", "view"), ("i5", "view")]
    assert store.recent_activity("nobody") == []


def test_appends_from_16_threads_all_land(store: EventStore) -> None:
    def write(thread: int) -> None:
        for batch in range(10):
            store.append([event(f"t{thread}", f"i{k}", batch * 20 + k) for k in range(20)])
            store.recent_events(f"t{thread}", limit=5)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert store.count() == 16 * 200
    assert all(len(store.recent_events(f"t{n}", limit=1000)) == 200 for n in range(16))


def append_in_child(store: EventStore | str, worker: int) -> None:
    """Appends 200 events; given a URL, opens the store itself first (a worker starting up)."""
    opened = open_store(store) if isinstance(store, str) else store
    for batch in range(5):
        opened.append([event(f"w{worker}", f"i{k}", batch) for k in range(40)])
    if opened is not store:
        opened.close()


def run_workers(store: EventStore | str, count: int) -> list[int | None]:
    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=append_in_child, args=(store, n)) for n in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [worker.exitcode for worker in workers]


def test_forked_workers_share_the_store(store: EventStore) -> None:
    """gunicorn forks workers after the app (and its store) exist: each opens its own
    connections."""
    store.count()  # the parent holds a pooled connection when it forks
    assert run_workers(store, 3) == [0, 0, 0]
    assert store.count() == 3 * 200


def test_a_fork_while_the_stores_locks_are_held_does_not_hang_the_child(
    store: EventStore,
) -> None:
    """Another thread may hold the pool or writer lock at the moment gunicorn forks: the child
    gets fresh locks, not copies stuck in the held state."""
    store.count()
    with store._lock, store._writer_turn:
        child = multiprocessing.get_context("fork").Process(target=append_in_child, args=(store, 0))
        child.start()
    child.join(60)
    assert child.exitcode == 0 and store.count() == 200


def test_workers_creating_the_schema_at_once(store_url: str) -> None:
    assert run_workers(store_url, 4) == [0, 0, 0, 0]
    with open_store(store_url) as store:
        assert store.count() == 4 * 200


def test_a_failing_batch_writes_nothing(store: EventStore) -> None:
    store.append([event("u", "i", 1)])
    broken = IncomingEvent("u", None, "view", 2)  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="event store"):
        store.append([event("u", "j", 2), broken])
    assert store.count() == 1
    assert store.append([event("u", "k", 3)]) == 1  # the connection is still usable


def test_forget_user_removes_everything_and_is_remembered(store: EventStore) -> None:
    store.append([event("gone", "i1", 1), event("gone", "i2", 2), event("stays", "i1", 3)])
    store.record_served("r1", "gone", "recommendations", None, None, "als@v1", ["i1"], 4)
    store.record_served("r2", "stays", "recommendations", None, None, "als@v1", ["i2"], 5)
    assert store.forget_user("gone") == 3
    assert store.recent_events("gone") == []
    assert store.served_table().column("user_id").to_pylist() == ["stays"]
    assert store.count() == 1
    assert store.is_forgotten("gone") and not store.is_forgotten("stays")
    assert store.forgotten_users() == {KEY.digest("gone")}  # a keyed digest, never the raw id
    assert store.append([event("gone", "i3", 6), event("stays", "i3", 7)]) == 1
    assert store.forget_user("gone") == 0
    assert store.forget_user("never-seen") == 0 and store.is_forgotten("never-seen")


def test_events_table_feeds_load_events(store: EventStore, tmp_path: Path) -> None:
    store.append(
        [
            event("u1", "i1", 1_700_000_300, "purchase", quantity=3, price=2.5, order_id="o1"),
            event("u2", "i2", 1_700_000_100, session_id="s1"),
            event("u1", "i2", 1_700_000_200, "add_to_cart"),
        ]
    )
    table = store.events_table()
    public = {*REQUIRED, *OPTIONAL_TEXT, *OPTIONAL_NUMBERS}  # what load_events reads
    assert set(table.column_names) == public and len(table.column_names) == len(public)
    assert table.column("timestamp").to_pylist() == [1_700_000_100, 1_700_000_200, 1_700_000_300]
    pq.write_table(table, tmp_path / "from-store.parquet")
    events = load_events(tmp_path / "from-store.parquet", ("view", "add_to_cart", "purchase"))
    assert len(events) == 3 and list(events.users.ids(events.user)) == ["u2", "u1", "u1"]
    assert events.extra.column("quantity").to_pylist()[2] == 3
    assert store.events_table(since=1_700_000_200).num_rows == 2
    assert store.events_table(with_ids=True).column("event_id").to_pylist() == [2, 3, 1]


def test_events_table_filters_types_in_sql_and_user_ids_are_distinct(store: EventStore) -> None:
    store.append(
        [
            event("u1", "i1", 100, "impression"),
            event("u1", "i1", 200, "click"),
            event("u2", "i2", 300, "view"),
            event("u2", "i2", 400, "purchase"),
        ]
    )
    clicks = store.events_table(event_types=("click", "purchase"))
    assert clicks.column("event_type").to_pylist() == ["click", "purchase"]
    late = store.events_table(since=300, event_types=["purchase", "impression"])
    assert late.column("timestamp").to_pylist() == [400]
    assert store.events_table(event_types=()).num_rows == 0
    assert sorted(store.user_ids()) == ["u1", "u2"]


def test_served_responses_round_trip_by_experiment(store: EventStore) -> None:
    assert store.served_table().num_rows == 0
    store.record_served("r1", "u1", "recommendations", "home", "A", "als@v1", ["a", "b"], 10.0)
    store.record_served("r2", None, "session", None, None, "fallback:popular", [], 11.0)
    store.record_served("r3", "u2", "recommendations", "home", "B", "bpr@v1", ["c"], 12.0)
    home = store.served_table("home")
    assert home.column("request_id").to_pylist() == ["r1", "r3"]
    assert home.column("item_ids").to_pylist() == [["a", "b"], ["c"]]
    assert home.to_pylist()[1] == {
        "request_id": "r3",
        "user_id": "u2",
        "placement": "recommendations",
        "experiment": "home",
        "variant": "B",
        "model": "bpr@v1",
        "item_ids": ["c"],
        "timestamp": 12.0,
    }
    assert store.served_table().num_rows == 3


def test_served_rows_written_in_one_batch_read_back_in_order(store: EventStore) -> None:
    rows = [(f"r{i}", f"u{i % 3}", "recommendations", "home", "AB"[i % 2], "als@v1",
             [f"i{i}", f"i{i + 1}"], 100.0 + i) for i in range(600)]  # fmt: skip
    assert store.record_served_many([]) == 0
    assert store.record_served_many(rows) == 600
    table = store.served_table("home")
    assert table.column("request_id").to_pylist() == [row[0] for row in rows]
    assert table.to_pylist()[599]["item_ids"] == ["i599", "i600"]
    assert table.column("variant").to_pylist()[:3] == ["A", "B", "A"]


def test_schema_is_created_once_and_a_newer_one_refused(store_url: str) -> None:
    with open_store(store_url) as first:
        first.append([event("u", "i", 1)])
    with open_store(store_url) as second:
        assert second.count() == 1
        with second._transaction() as cursor:
            cursor.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(StoreError, match="schema version 99"):
        open_store(store_url)


def test_a_closed_store_says_so(store: EventStore) -> None:
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()


@pytest.mark.parametrize(
    "url",
    [
        "mysql://host/db",
        "sqlite:///:memory:",
        "sqlite://relative.db",
        "sqlite:////no/such/dir/x.db",
    ],
)
def test_bad_urls_are_one_line_errors(url: str) -> None:
    with pytest.raises(StoreError, match=r"sqlite|postgresql|folder"):
        open_store(url)


def test_unreachable_postgres_hides_the_password() -> None:
    with pytest.raises(StoreError) as caught:
        open_store("postgresql://me:secret@127.0.0.1:1/db?connect_timeout=2")
    assert "secret" not in str(caught.value) and "me:***@" in str(caught.value)


WRITER = """
import sys
from recsys.data.incoming import IncomingEvent
from recsys.eventstore import open_store
store = open_store(sys.argv[1])
for batch in range(100_000):
    store.append([IncomingEvent("u", f"i{k}", "view", batch) for k in range(100)])
    print(batch, flush=True)
"""


def test_a_killed_writer_leaves_whole_batches(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    command = [sys.executable, "-c", WRITER, url]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT) as writer:
        assert all(writer.stdout.readline() for _ in range(5)), "the writer died"
        writer.send_signal(signal.SIGKILL)
    with closing(sqlite3.connect(tmp_path / "events.db")) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    with open_store(url) as store:
        assert store.count() >= 500 and store.count() % 100 == 0
