"""Slow and idle clients against the candidate production set-ups: 200 requests for personalised
picks, alone and then while `--slow` connections (half stopped mid-headers, half with a body
shorter than its Content-Length) are held open. A set-up holds when every request is answered.

Candidates: gunicorn gthread 2 workers x 2 threads (the settings before --production), gthread
with 2 x 32 threads, gevent workers (when gevent is installed; it is not a dependency), and
`recsys serve --production` (nginx in front of the 2 x 2 gthread workers).

    .venv/bin/python -m benchmarks.bench_slow_clients --slow 64
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.bench_server import prepare_bundle
from benchmarks.common import print_table, write_json
from benchmarks.loadgen import Gunicorn, Production, slow_connections, timed_requests

CANDIDATES = {  # name -> (worker class, threads), or None for the production command
    "gthread 2x2": ("gthread", 2),
    "gthread 2x32": ("gthread", 32),
    "gevent 2": ("gevent", 1),
    "nginx + gthread 2x2 (--production)": None,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=64, help="connections held open")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds per request")
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--out")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        models = prepare_bundle(Path(tmp), users=5_000, items=args.items, events=100_000)
        from recsys.bundle import Bundle

        known = Bundle.load(models).users
        users = [known[i] for i in range(args.requests)]
        paths = [f"/v1/users/{user}/recommendations" for user in users]
        env = {"RECSYS_MODELS": str(models), "RECSYS_DATABASE_URL": f"sqlite:///{tmp}/ev.db"}
        for name, worker in CANDIDATES.items():
            if worker and worker[0] == "gevent" and importlib.util.find_spec("gevent") is None:
                continue
            rows.append(measure(name, worker, env, paths, args))
            print_table(rows[-1:])
    print_table(rows)
    write_json("bench_slow_clients", {"slow": args.slow, "requests": args.requests,
                                      "rows": rows}, args.out)  # fmt: skip


def measure(name: str, worker: tuple[str, int] | None, env: dict[str, str], paths: list[str],
            args: argparse.Namespace) -> dict[str, Any]:  # fmt: skip
    if worker is None:
        server: Gunicorn | Production = Production(env, workers=2)
    else:
        options = argparse.Namespace(workers=2, worker_class=worker[0], threads=worker[1],
                                     preload=True)  # fmt: skip
        server = Gunicorn("recsys_serving:create_app()", env, options)
    try:
        server.wait("/readyz")
        timed_requests(server.base, paths[:20], args.timeout)  # warm
        alone = timed_requests(server.base, paths, args.timeout)
        with slow_connections("127.0.0.1", server.port, args.slow):
            held = timed_requests(server.base, paths, args.timeout)
            healthz = timed_requests(server.base, ["/healthz"], args.timeout)[0]
    finally:
        server.stop()
    return {"set-up": name, **latency("alone", alone), **latency("slow", held),
            "healthz_ms": None if healthz is None else round(healthz * 1000, 1)}  # fmt: skip


def latency(label: str, seconds: list[float | None]) -> dict[str, Any]:
    answered = sorted(s * 1000 for s in seconds if s is not None)
    p99 = answered[int(0.99 * (len(answered) - 1))] if answered else None
    return {
        f"{label}_ok": f"{len(answered)}/{len(seconds)}",
        f"{label}_p50_ms": round(statistics.median(answered), 1) if answered else None,
        f"{label}_p99_ms": None if p99 is None else round(p99, 1),
    }


if __name__ == "__main__":
    main()
