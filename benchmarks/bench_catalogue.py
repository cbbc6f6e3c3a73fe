"""The live catalogue's costs on a 100k-item shop: personal picks per second with a filter or a
boost next to the same requests without (same run, same bundle, same users), and the refresh that
serves 10,000 changed items (store write; the refresher's read; the availability, filter columns
and content index rebuilt), which runs in each worker's background thread, off the request path.
Then new items by content: the content index's build (once per process and bundle), the refresh
that brings 100 new products, and per request: similar items of a new product, new arrivals, and
personal picks with server.explore_new = 0.1 next to 0.

Picks: CPU (time.thread_time) of the uncached picks logic per request (no HTTP, no memo: every
request computes its answer; a repeated request is a memo lookup), one BLAS thread as a worker
runs, minimum over repeats of a pass over a sample of users; req/s = 1 / CPU per request.

    .venv/bin/python -m benchmarks.bench_catalogue
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
from threadpoolctl import threadpool_limits

from benchmarks.bench_export import synthetic_bundle
from benchmarks.common import print_table, write_json
from recsys.data.catalogue import Catalogue
from recsys.eventstore import open_store
from recsys.service import Query, ServedBundle
from recsys.service.arrivals import new_arrivals
from recsys.service.content import content_index
from recsys.service.expressions import parse_boosts, parse_filter
from recsys.service.live import LiveItems
from recsys.service.picks import similar_picks, user_picks
from recsys_serving.live_catalogue import LiveCatalogue

RULES = {
    "none": {},
    "category=dept/c3": {"category": "dept/c3"},
    'filter=price < 50 and brand != "zeta"': {
        "filter": parse_filter('price < 50 and brand != "zeta"')
    },
    'boost=brand = "acme": 1.5': {"boost": parse_boosts('brand = "acme": 1.5')},
}

TEN, EXPLORE = Query(n=10), Query(n=10, explore_new=0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--changed", type=int, default=10_000, help="items changed at once")
    parser.add_argument("--sample", type=int, default=300, help="users asked for per pass")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    bundle = synthetic_bundle(args.users, args.items, 32, 50, "Flat")
    brands = pa.array(np.array(["acme", "zeta", "other"])[np.arange(args.items) % 3])
    table = bundle.catalogue.table.append_column("brand", brands)  # a catalogue file's column
    bundle.catalogue = Catalogue(table, bundle.catalogue.given | {"brand"})
    live = LiveItems()
    served = ServedBundle(bundle, live)
    served.warm()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(f"sqlite:///{Path(tmp) / 'events.db'}")
        catalogue = LiveCatalogue(store, 2.0, live, lambda: [served])
        earlier = rng_changes(served, 20_000, seed=2)  # changed earlier in the day
        store.change_items(earlier, 0)
        catalogue.refresh()
        users = np.random.default_rng(0).choice(args.users, args.sample, replace=False)
        sample = [bundle.users[int(u)] for u in users]
        with threadpool_limits(1):
            picks = picks_rates(served, sample, args.repeats)
        refresh = refresh_costs(store, catalogue, served, args.changed)
        with threadpool_limits(1):
            content = content_costs(store, catalogue, served, sample, args.repeats)
        store.close()
    print_table(picks)
    print_table([refresh])
    print_table(content)
    write_json("bench_catalogue", {"items": args.items, "users": args.users, "picks": picks,
                                   "refresh": refresh, "content": content}, args.out)  # fmt: skip


def picks_rates(served: ServedBundle, users: list[str], repeats: int) -> list[dict[str, Any]]:
    rows = []
    for label, rule in RULES.items():
        query = Query(n=10, **rule)
        served.allowed(query)  # the mask, compiled once per distinct rule
        best = min(pass_seconds(served, users, query) for _ in range(repeats))
        rows.append({"rule": label, "CPU/request, ms": 1000 * best, "req/s (1 core)": 1 / best})
    base = rows[0]["req/s (1 core)"]
    for row in rows:
        row["vs none"] = row["req/s (1 core)"] / base
    return rows


def pass_seconds(served: ServedBundle, users: list[str], query: Query) -> float:
    start = time.thread_time()
    for user in users:
        picks = user_picks(served, user, query, None)
        assert len(picks.ranked) == query.n
    return (time.thread_time() - start) / len(users)


def refresh_costs(
    store: Any, catalogue: LiveCatalogue, served: ServedBundle, changed: int
) -> dict[str, Any]:
    """Stock and price of `changed` items changed in one call, then one refresh."""
    changes = rng_changes(served, changed, seed=1)
    start = time.perf_counter()
    store.change_items(changes, time.time())
    written = time.perf_counter() - start
    start, cpu = time.perf_counter(), time.thread_time()
    catalogue.refresh()  # mark, rows since, overlay, availability rebuilt
    served.item_columns(served.follow())  # filter columns (the refresher's follow() does it too)
    wall, cpu = time.perf_counter() - start, time.thread_time() - cpu
    return {"changed items": changed, "store write, ms": 1000 * written,
            "refresh wall, ms": 1000 * wall, "refresh CPU, ms": 1000 * cpu}  # fmt: skip


def content_costs(
    store: Any, catalogue: LiveCatalogue, served: ServedBundle, users: list[str], repeats: int
) -> list[dict[str, Any]]:
    """The content index's build, the refresh bringing 100 new products, and CPU per request of
    what answers by content."""
    state = served.follow()
    columns = served.item_columns(state)
    start = time.thread_time()
    content_index(columns, served.bundle.items, served.interaction_counts, state)
    build = time.thread_time() - start
    words = np.array(["red", "trail", "shoe", "linen", "shirt", "lamp", "oak", "desk", "mug"])
    rng = np.random.default_rng(3)
    new = [(f"new-{i}", {"title": " ".join(rng.choice(words, 3)), "category": f"dept/c{i % 50}",
                         "in_stock": True}) for i in range(100)]  # fmt: skip
    store.change_items(new, time.time())
    start = time.thread_time()
    catalogue.refresh()
    arrival = time.thread_time() - start
    rows = [{"what": "content index build (once per process and bundle)", "CPU, ms": 1000 * build},
            {"what": "refresh bringing 100 new products", "CPU, ms": 1000 * arrival}]  # fmt: skip
    ids = [item_id for item_id, _ in new]
    asks = {
        "similar items of a new product": lambda i: similar_picks(served, ids[i % 100], TEN, None),
        "new arrivals": lambda i: new_arrivals(served, TEN),
        "personal picks, explore_new 0": lambda i: user_picks(served, users[i], TEN, None),
        "personal picks, explore_new 0.1": lambda i: user_picks(served, users[i], EXPLORE, None),
    }
    for label, ask in asks.items():
        best = min(cpu_per_call(ask, len(users)) for _ in range(repeats))
        rows.append({"what": label, "CPU, ms": 1000 * best, "req/s (1 core)": 1 / best})
    return rows


def cpu_per_call(ask: Any, count: int) -> float:
    start = time.thread_time()
    for i in range(count):
        assert len(ask(i).ranked) == 10
    return (time.thread_time() - start) / count


def rng_changes(served: ServedBundle, count: int, seed: int) -> list[tuple[str, dict[str, Any]]]:
    """Stock and price of `count` random items."""
    picked = np.random.default_rng(seed).choice(served.n_items, count, replace=False)
    return [(served.item_names[int(i)], {"in_stock": bool(i % 2), "price": float(i % 97)})
            for i in picked]  # fmt: skip


if __name__ == "__main__":
    main()
