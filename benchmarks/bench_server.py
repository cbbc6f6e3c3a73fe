"""The server under load: throughput of GET /v1/users/{id}/recommendations and POST /v1/cross-sell,
then p50/p99 latency at half that throughput, next to a bare Flask endpoint returning a fixed JSON
list served by the same gunicorn settings in the same run. Load comes from wrk on loopback; each
run is bounded in time. Both servers stay up and the reference is measured again in every round
(--rounds), so a noisy neighbour slows both sides of a ratio; the table holds medians over the
rounds. Also memory per worker (RSS and PSS from /proc/<pid>/smaps_rollup).

"recommendations" and "cross-sell" cycle through 2,000 users / items, so after its first answer a
worker serves them from its per-bundle memo (returning visitors; --warm seconds of load per
endpoint before the first round let every worker meet them); "recs, new users" asks for a
different user each request (sampled from up to --new-users), the path a first visit takes;
"recs, fresh events" asks for 2,000 users who posted events: each request reads the store, and
the answer folded in from those events is remembered under them until another event arrives.

    .venv/bin/python -m benchmarks.bench_server --items 100000 --seconds 8
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import statistics
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flask import Flask

from benchmarks.common import print_table, write_json
from benchmarks.loadgen import Gunicorn, lua_script, wrk

FRESH_USERS = 2_000  # users who post events before their picks are asked for
REMEMBERED = ("recommendations", "recs, fresh events", "cross-sell")  # rows of repeat visitors
FIXED = {
    "request_id": "r-0",
    "model": "fixed",
    "experiment": None,
    "variant": None,
    "items": [{"item_id": f"sku-{i}", "score": 1.0 - i / 10} for i in range(10)],
}


def bare_app() -> Flask:
    """The reference: Flask answering a fixed JSON list, nothing else."""
    app = Flask(__name__)
    app.add_url_rule("/bare", "bare", lambda: FIXED)
    return app


def prepare_bundle(cache: Path, users: int, items: int, events: int) -> Path:
    """A shop of `items` items and a trained bundle (ALS + cooccurrence), made once per size."""
    from recsys.config import config_from_dict
    from recsys_data.generator import generate_shop
    from recsys_training.pipeline import train

    shop, models = cache / "shop", cache / "models"
    if not (models / "CURRENT").is_file():
        generate_shop(shop, users=users, items=items, events=events, seed=3)
        config = config_from_dict({"models": {"als": {"iterations": 10},
                                              "together": {"kind": "cooccurrence"}}})  # fmt: skip
        train(shop / "events.parquet", models, config, shop / "catalogue.csv")
    return models


def measure(server: Gunicorn, name: str, method: str, paths: list[str], bodies: list[str] | None,
            args: argparse.Namespace, folder: Path) -> dict[str, Any]:  # fmt: skip
    """Full-speed throughput and the workers' CPU per request (steadier than throughput on a busy
    machine), then latency at half of that throughput (wrk pacing each connection)."""
    warm = lua_script(folder, method, paths, bodies, None)
    wrk(server.base, warm, 2, args.connections)
    cpu = server.cpu_seconds()
    full = wrk(server.base, warm, args.seconds, args.connections)
    cpu_us = (server.cpu_seconds() - cpu) / full["requests"] * 1e6

    def script(delay: float) -> Path:
        return lua_script(folder, method, paths, bodies, delay)

    delay = half_load_delay(server, full["rps"], script, args.connections)
    paced = wrk(server.base, script(delay), args.seconds, args.connections)
    return {"endpoint": name, "rps": full["rps"], "cpu_us_per_request": round(cpu_us),
            "errors": full["non_2xx"],
            "half_load_rps": paced["rps"], "p50_ms": paced.get("p50_ms"),
            "p99_ms": paced.get("p99_ms"), "half_errors": paced["non_2xx"]}  # fmt: skip


def half_load_delay(server: Gunicorn, full_rps: float, paced: Callable[[float], Path],
                    connections: int) -> float:  # fmt: skip
    """The pause (ms) after each answer that makes `connections` send half of `full_rps`
    (`paced(ms)`: the wrk script pausing so). Each connection's cycle is its pause plus the
    request's latency, so a pause of connections / rate alone sent 0.41-0.46x of full speed (the
    2026-12-02 01:10 run's JSON): a 2 s probe at that pause measures what latency adds to the
    cycle, and the pause is shortened by as much."""
    cycle = 1000 * connections / (full_rps / 2)
    probe = wrk(server.base, paced(cycle), 2, connections)
    latency = 1000 * connections / max(probe["rps"], 1.0) - cycle
    return max(cycle - max(latency, 0.0), 0.0)


def summary(name: str, runs: list[dict[str, Any]], bare: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the rounds; throughput and CPU as ratios to the bare endpoint of the same round
    (min..max over rounds in `vs_bare_range`)."""
    ratios = [run["rps"] / ref["rps"] for run, ref in zip(runs, bare, strict=True)]
    cpu = [ref["cpu_us_per_request"] / run["cpu_us_per_request"]
           for run, ref in zip(runs, bare, strict=True)]  # fmt: skip
    keys = ("rps", "cpu_us_per_request", "half_load_rps", "p50_ms", "p99_ms")
    middle = {key: statistics.median(run[key] for run in runs) for key in keys}
    return {"endpoint": name, **middle, "errors": sum(run["errors"] + run["half_errors"]
                                                     for run in runs),
            "vs_bare": round(statistics.median(ratios), 3),
            "vs_bare_range": f"{min(ratios):.2f}..{max(ratios):.2f}",
            "cpu_vs_bare": round(statistics.median(cpu), 3)}  # fmt: skip


def post_events(server: Gunicorn, users: list[str], items: list[str]) -> None:
    """Two events per user through POST /v1/events: their picks then fold these in per request
    (store read, fold-in, index search), the path of a visitor browsing right now."""
    now = time.time()
    events = [{"user_id": user, "item_id": items[(i * 7 + k) % len(items)], "event_type": kind,
               "timestamp": now} for i, user in enumerate(users)
              for k, kind in enumerate(("view", "add_to_cart"))]  # fmt: skip
    for start in range(0, len(events), 1000):
        body = json.dumps({"events": events[start : start + 1000]}).encode()
        request = urllib.request.Request(server.base + "/v1/events", body,
                                         {"Content-Type": "application/json"})  # fmt: skip
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 202, response.status


def dropped(server: Gunicorn) -> float:
    """Served responses the server could not record (its metric)."""
    with urllib.request.urlopen(server.base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    found = re.search(r"^recsys_served_log_dropped_total\s+([\d.e+]+)", text, re.M)
    return float(found.group(1)) if found else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=60_000)
    parser.add_argument("--events", type=int, default=1_500_000)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "recsys-bench-server"))
    parser.add_argument("--models", help="use this models folder instead of generating one")
    parser.add_argument("--seconds", type=int, default=8, help="per wrk run")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="reference and endpoints, in turn")
    parser.add_argument("--warm", type=int, default=20,
                        help="seconds of load per endpoint before the first round, so that the "
                        "remembered rows measure remembered answers")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", default="gthread", choices=("gthread", "sync"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-preload", dest="preload", action="store_false")
    parser.add_argument(
        "--new-users",
        type=int,
        default=40_000,
        help="users for the uncached row (more than it sends requests)",
    )
    parser.add_argument("--out", help="JSON file (default benchmarks/results/server.json)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        parser.exit(2, "bench_server needs wrk (the load generator): apt-get install wrk\n")

    models = Path(args.models) if args.models else prepare_bundle(
        Path(args.cache), args.users, args.items, args.events)  # fmt: skip
    from recsys.bundle import Bundle

    bundle = Bundle.load(models)
    rng = random.Random(0)
    wanted = min(len(bundle.users), 2000 + FRESH_USERS + args.new_users)
    sampled = rng.sample(range(len(bundle.users)), wanted)
    users = [bundle.users[i] for i in sampled[:2000]]
    fresh_users = [bundle.users[i] for i in sampled[2000 : 2000 + FRESH_USERS]]
    new_users = [bundle.users[i] for i in sampled[2000 + FRESH_USERS :]]
    items = [bundle.items[i] for i in rng.sample(range(len(bundle.items)), 2000)]
    del bundle
    folder = Path(tempfile.mkdtemp(prefix="bench-server-"))
    runs: dict[str, list[dict[str, Any]]] = {}
    memory: dict[str, Any] = {}
    load_before = os.getloadavg()  # other work on the machine skews every figure: say how much
    bare = Gunicorn("benchmarks.bench_server:bare_app()", {}, args)
    config = folder / "open.toml"  # requests without a key are served (as `make run` does)
    config.write_text("[server]\nopen = true\n")
    env = {"RECSYS_MODELS": str(models), "RECSYS_CONFIG": str(config),
           "RECSYS_DATABASE_URL": f"sqlite:///{folder / 'events.db'}"}  # fmt: skip
    server = Gunicorn("recsys_serving:create_app()", env, args)
    try:
        bare.wait("/bare")
        server.wait("/readyz")
        post_events(server, fresh_users, items)
        # "recs, new users": every request a user not asked for before (the memo never answers)
        plan = [(bare, "bare flask", "GET", ["/bare"], None),
                (server, "recommendations", "GET",
                 [f"/v1/users/{u}/recommendations?n=10" for u in users], None),
                (server, "recs, new users", "GET",
                 [f"/v1/users/{u}/recommendations?n=10" for u in new_users], None),
                (server, "recs, fresh events", "GET",
                 [f"/v1/users/{u}/recommendations?n=10" for u in fresh_users], None),
                (server, "cross-sell", "POST", ["/v1/cross-sell?n=10"] * len(items),
                 [json.dumps({"items": [i]}) for i in items])]  # fmt: skip
        for target, name, method, paths, bodies in plan:  # each worker meets every visitor
            if name in REMEMBERED:
                wrk(target.base, lua_script(folder, method, paths, bodies, None), args.warm,
                    args.connections)  # fmt: skip
        for _ in range(args.rounds):  # rounds interleave the reference with the endpoints
            for target, name, method, paths, bodies in plan:
                runs.setdefault(name, []).append(
                    measure(target, name, method, paths, bodies, args, folder))
        memory = {"workers": server.memory(), "served_log_dropped": dropped(server)}
    finally:
        server.stop()
        bare.stop()
        shutil.rmtree(folder, ignore_errors=True)
    rows = [summary(name, found, runs["bare flask"]) for name, found in runs.items()]
    load = {"before": [round(x, 2) for x in load_before],
            "after": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    print_table(rows)
    print_table(memory["workers"])
    print(f"load average (1, 5, 15 min) before {load['before']}, after {load['after']}")
    names = ("workers", "worker_class", "threads", "preload", "connections", "seconds", "items",
             "rounds", "warm")  # fmt: skip
    settings = {k: getattr(args, k) for k in names}
    write_json("server", {"settings": settings, "models": str(models), "results": rows,
                          "rounds": runs, "memory": memory, "load_average": load},
               args.out)  # fmt: skip


if __name__ == "__main__":
    main()
