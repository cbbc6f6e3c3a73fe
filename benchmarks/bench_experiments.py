"""A/B experiments: assignment cost per request next to a bare sha256 of the same ids, and the
report on a simulated log next to a bare pyarrow join + group-by of the same tables.

    .venv/bin/python -m benchmarks.bench_experiments --ids 200000 --users 200000
"""

from __future__ import annotations

import argparse
import hashlib

import numpy as np
import pyarrow as pa

from benchmarks.common import print_table, timed, write_json
from recsys.experiments import Experiments
from recsys.experiments.report import experiment_report

VARIANTS = [
    {"name": "A", "model": "als", "share": 0.5},
    {"name": "B", "model": "bm25", "share": 0.5},
]
CONFIG = [
    {"name": "similar", "placements": ["similar"], "variants": VARIANTS},
    {"name": "home", "placements": ["recommendations"], "variants": VARIANTS},
]


def assign_all(experiments: Experiments, ids: list[str]) -> int:
    return sum(experiments.assign("recommendations", v) is not None for v in ids)


def bare_hash(ids: list[str]) -> int:
    return sum(hashlib.sha256(f"home\x00{v}".encode()).digest()[0] for v in ids)


def simulated_log(users: int, seed: int) -> tuple[pa.Table, pa.Table]:
    """One response per visitor (5 items), an impression of the first item each, clicks for 10%,
    add-to-cart for 6%, purchases for 5% (half carry no request_id: attributed by item)."""
    rng = np.random.default_rng(seed)
    experiments = Experiments.from_config(CONFIG)
    ids = [f"user-{i}" for i in range(users)]
    variants = [experiments.assign("recommendations", v).variant for v in ids]
    requests = [f"r{i}" for i in range(users)]
    times = np.sort(rng.uniform(0, 14 * 86_400, users))
    items = [[f"i{(i * 7 + k) % 5000}" for k in range(5)] for i in range(users)]
    served = pa.table(
        {
            "request_id": requests,
            "user_id": ids,
            "experiment": ["home"] * users,
            "variant": variants,
            "item_ids": items,
            "timestamp": times,
        }
    )
    columns: dict[str, list] = {
        n: []
        for n in (
            "user_id",
            "item_id",
            "event_type",
            "timestamp",
            "request_id",
            "price",
            "quantity",
            "order_id",
        )
    }
    for kind, share in (
        ("impression", 1.0),
        ("click", 0.1),
        ("add_to_cart", 0.06),
        ("purchase", 0.05),
    ):
        for i in np.flatnonzero(rng.random(users) < share):
            columns["user_id"].append(ids[i])
            columns["item_id"].append(items[i][0])
            columns["event_type"].append(kind)
            columns["timestamp"].append(float(times[i] + 60))
            columns["request_id"].append(requests[i] if kind != "purchase" or i % 2 else None)
            columns["price"].append(float(rng.gamma(2.0, 20.0)) if kind == "purchase" else None)
            columns["quantity"].append(1 if kind == "purchase" else None)
            columns["order_id"].append(f"o{i}" if kind == "purchase" else None)
    return served, pa.table(columns)


def bare_join(served: pa.Table, events: pa.Table) -> pa.Table:
    """The least any report must do: join events to responses and count per variant and type."""
    joined = events.join(served.select(["request_id", "variant"]), "request_id")
    return joined.group_by(["variant", "event_type"]).aggregate(
        [("price", "sum"), ("user_id", "count")]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=200_000, help="visitors assigned")
    parser.add_argument("--users", type=int, default=200_000, help="visitors in the report's log")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--out-json")
    args = parser.parse_args()
    experiments = Experiments.from_config(CONFIG)
    ids = [f"visitor-{i}" for i in range(args.ids)]
    ours, _ = timed(lambda: assign_all(experiments, ids), args.repeat)
    bare, _ = timed(lambda: bare_hash(ids), args.repeat)
    rows = [
        {
            "task": "assign",
            "n": args.ids,
            "recsys s": ours,
            "per item us": ours / args.ids * 1e6,
            "reference": "bare sha256",
            "reference s": bare,
            "ratio": ours / bare,
        }
    ]
    served, events = simulated_log(args.users, seed=1)
    home = experiments.get("home")
    ours, report = timed(lambda: experiment_report(home, served, events), args.repeat)
    bare, _ = timed(lambda: bare_join(served, events), args.repeat)
    rows.append(
        {
            "task": "report",
            "n": args.users,
            "recsys s": ours,
            "per item us": ours / (served.num_rows + events.num_rows) * 1e6,
            "reference": "pyarrow join+group_by",
            "reference s": bare,
            "ratio": ours / bare,
        }
    )
    print_table(rows)
    print(report["verdict"])
    write_json(
        "experiments",
        {"args": vars(args), "events": events.num_rows, "results": rows},
        args.out_json,
    )


if __name__ == "__main__":
    main()
