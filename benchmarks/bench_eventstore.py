"""Event store appends: events/s written in batches of 100 from 4 threads by EventStore.append, next
to bare sqlite3 executemany of the same rows into the same schema in the same run (a connection per
thread, and one shared connection behind a lock). The store runs both durability settings:
`synchronous=full` (the default: every commit on disk) and `normal` (the bare writers' setting).
`--postgres URL` adds the same pair on PostgreSQL. Then reading them all back (events_table, as
training does) next to a bare fetchall.

    .venv/bin/python -m benchmarks.bench_eventstore --threads 4 --batches 200
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import print_table, timed, write_json
from recsys.data.incoming import IncomingEvent
from recsys.eventstore import open_store
from recsys.eventstore.postgres import schema_url
from recsys.eventstore.schema import EVENT_COLUMNS, INSERT_EVENT, event_row

KINDS = ("view", "view", "view", "add_to_cart", "purchase")
Batch = list[IncomingEvent]
BARE = "bare sqlite3, connection per thread"
BARE_PG = "bare psycopg, connection per thread"
BARE_READ = "bare sqlite3 fetchall, ORDER BY ts"


def make_batches(threads: int, batches: int, size: int, seed: int = 1) -> list[list[Batch]]:
    """Per thread, `batches` lists of `size` events of realistic shape."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(threads):
        mine = []
        for _ in range(batches):
            users, items = rng.integers(0, 100_000, size), rng.integers(0, 20_000, size)
            mine.append(
                [
                    IncomingEvent(
                        f"u{u:06d}",
                        f"sku-{i:05d}",
                        KINDS[k],
                        1.79e9 + float(t),
                        session_id=f"s{u}-{t // 1800:.0f}",
                    )
                    for u, i, k, t in zip(
                        users,
                        items,
                        rng.integers(0, 5, size),
                        rng.integers(0, 10**6, size),
                        strict=True,
                    )
                ]
            )
        out.append(mine)
    return out


def in_threads(work: list[list[Batch]], write: Callable[[int, Batch], None]) -> None:
    def run(thread: int) -> None:
        for batch in work[thread]:
            write(thread, batch)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(len(work))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def store_appends(url: str, work: list[list[Batch]]) -> int:
    with open_store(url) as store:
        in_threads(work, lambda _, batch: store.append(batch))
        return store.count()


def sqlite_connection(path: Path) -> sqlite3.Connection:
    """A bare connection with WAL, NORMAL sync (the store's ?synchronous=normal), busy timeout."""
    connection = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    for pragma in ("busy_timeout = 30000", "journal_mode = WAL", "synchronous = NORMAL"):
        connection.execute(f"PRAGMA {pragma}")
    return connection


def bare_sqlite(path: Path, work: list[list[Batch]], shared: bool) -> int:
    """executemany of the same rows into the store's schema (created by opening the store)."""
    open_store(f"sqlite:///{path}").close()
    connections = [sqlite_connection(path)] if shared else [sqlite_connection(path) for _ in work]
    lock = threading.Lock()

    def write(thread: int, batch: Batch) -> None:
        connection = connections[0 if shared else thread]
        rows = [event_row(event) for event in batch]
        with lock if shared else nullcontext():
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(INSERT_EVENT, rows)
            connection.execute("COMMIT")

    in_threads(work, write)
    count = connections[0].execute("SELECT COUNT(*) FROM events").fetchone()[0]
    for connection in connections:
        connection.close()
    return int(count)


def bare_postgres(url: str, work: list[list[Batch]]) -> int:
    import psycopg

    open_store(url).close()
    insert = INSERT_EVENT.replace("?", "%s")
    connections = [psycopg.connect(url, autocommit=True) for _ in work]

    def write(thread: int, batch: Batch) -> None:
        with connections[thread].transaction():
            connections[thread].cursor().executemany(insert, [event_row(e) for e in batch])

    in_threads(work, write)
    count = connections[0].execute("SELECT COUNT(*) FROM events").fetchone()[0]
    for connection in connections:
        connection.close()
    return int(count)


@contextmanager
def scratch_schema(url: str) -> Iterator[Callable[[str], str]]:
    """Names -> URLs of fresh PostgreSQL schemas, all dropped at the end."""
    import psycopg

    made: list[str] = []

    def fresh(name: str) -> str:
        made.append(f"bench_eventstore_{name}_{os.getpid()}")
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute(f"CREATE SCHEMA {made[-1]}")
        return schema_url(url, made[-1])

    try:
        yield fresh
    finally:
        with psycopg.connect(url, autocommit=True) as connection:
            for schema in made:
                connection.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def read_rows(path: Path, repeat: int, events: int) -> list[dict[str, Any]]:
    """Reading every event back for training: events_table() (an Arrow table) next to a bare
    fetchall of the same query (Python tuples)."""
    query = f"SELECT {EVENT_COLUMNS}, id FROM events ORDER BY ts, id"
    with closing(sqlite_connection(path)) as bare, open_store(f"sqlite:///{path}") as store:
        bare_s, fetched = timed(lambda: bare.execute(query).fetchall(), repeat)
        ours_s, table = timed(store.events_table, repeat)
    assert len(fetched) == table.num_rows == events
    return [
        {"reader": name, "events": events, "best s": seconds, "events/s": events / seconds,
         "ratio vs bare": bare_s / seconds}
        for name, seconds in ((BARE_READ, bare_s), ("EventStore.events_table", ours_s))
    ]  # fmt: skip


Writer = Callable[[int], int]  # run number -> events stored (each run writes a fresh store)


def round_robin(writers: dict[str, Writer], repeat: int, events: int) -> dict[str, float]:
    """Best seconds per writer; the writers take turns so that machine noise hits all alike."""
    best = dict.fromkeys(writers, float("inf"))
    for run in range(repeat):
        for name, write in writers.items():
            seconds, stored = timed(lambda w=write, r=run: w(r))
            if stored != events:
                raise SystemExit(f"{name}: {stored} events stored, {events} written")
            best[name] = min(best[name], seconds)
    return best


def table_rows(best: dict[str, float], reference: str, events: int) -> list[dict[str, Any]]:
    return [
        {"writer": name, "events": events, "best s": seconds, "events/s": events / seconds,
         "ratio vs bare": best[reference] / seconds}
        for name, seconds in best.items()
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--batches", type=int, default=200, help="batches per thread")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3, help="runs per writer, best kept")
    parser.add_argument("--postgres", metavar="URL", help="runs in scratch schemas, dropped after")
    parser.add_argument("--out-json")
    args = parser.parse_args()
    work = make_batches(args.threads, args.batches, args.batch_size)
    events = args.threads * args.batches * args.batch_size
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp)
        best = round_robin({
            BARE: lambda run: bare_sqlite(db / f"bare{run}.db", work, shared=False),
            "bare sqlite3, one connection + lock":
                lambda run: bare_sqlite(db / f"shared{run}.db", work, shared=True),
            "EventStore.append (sqlite, synchronous=full)":
                lambda run: store_appends(f"sqlite:///{db / f'store{run}.db'}", work),
            "EventStore.append (sqlite, synchronous=normal)":
                lambda run: store_appends(f"sqlite:///{db / f'normal{run}.db'}"
                                          "?synchronous=normal", work),
        }, args.repeat, events)  # fmt: skip
        reads = read_rows(db / "store0.db", args.repeat, events)
    rows = table_rows(best, BARE, events)
    if args.postgres:
        with scratch_schema(args.postgres) as fresh:
            best = round_robin({
                BARE_PG: lambda run: bare_postgres(fresh(f"bare{run}"), work),
                "EventStore.append (postgresql)":
                    lambda run: store_appends(fresh(f"store{run}"), work),
            }, args.repeat, events)  # fmt: skip
        rows += table_rows(best, BARE_PG, events)
    print_table(rows)
    print()
    print_table(reads)
    write_json(
        "eventstore",
        {"args": vars(args) | {"postgres": bool(args.postgres)}, "results": rows, "reads": reads},
        args.out_json,
    )


if __name__ == "__main__":
    main()
