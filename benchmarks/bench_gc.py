"""Garbage-collector pauses in a server process: recommendations for users not asked before (each
answer is remembered, so long-lived objects pile up as in a busy worker), with the preloaded app
frozen out of the collector (`gc.freeze()`, what serving/gunicorn.conf.py does before forking) next
to the same process without it. Each mode runs in a fresh interpreter; pauses come from
gc.callbacks, per generation: how many collections, their total and their longest.

    .venv/bin/python -m benchmarks.bench_gc --requests 20000
"""

from __future__ import annotations

import argparse
import gc
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_server import prepare_bundle
from benchmarks.common import print_table, write_json

MODES = ("plain", "frozen")


def pauses_in_process(models: Path, requests: int, frozen: bool) -> dict[str, Any]:
    """Serves `requests` first-time users through the app's test client and times every
    collection."""
    from recsys.bundle import Bundle
    from recsys_serving import create_app

    folder = Path(tempfile.mkdtemp(prefix="bench-gc-"))
    app = create_app({"models_dir": models, "database_url": f"sqlite:///{folder / 'e.db'}",
                      "watch": False, "config": {"server": {"open": True}}})  # fmt: skip
    app.extensions["recsys"].holder.warm()
    users = Bundle.load(models).users
    client = app.test_client()
    if frozen:
        gc.freeze()
    found = {generation: [0, 0.0, 0.0] for generation in range(3)}  # count, total, longest
    started = [0.0]

    def timing(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        seconds = time.perf_counter() - started[0]
        entry = found[info["generation"]]
        entry[0], entry[1], entry[2] = entry[0] + 1, entry[1] + seconds, max(entry[2], seconds)

    gc.callbacks.append(timing)
    for number in range(min(requests, len(users))):
        client.get(f"/v1/users/{users[number]}/recommendations?n=10")
    gc.callbacks.remove(timing)
    return {f"gen{generation}": {"collections": count, "total_ms": round(1000 * total, 2),
                                 "longest_ms": round(1000 * longest, 2)}
            for generation, (count, total, longest) in found.items()}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "recsys-bench-server"))
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one measuring child
    parser.add_argument("--out")
    args = parser.parse_args()
    models = prepare_bundle(Path(args.cache), 60_000, 100_000, 1_500_000)
    if args.mode:
        print(json.dumps(pauses_in_process(models, args.requests, args.mode == "frozen")))
        return
    rows = []
    for mode in MODES:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_gc", "--mode", mode, "--cache", args.cache,
             "--requests", str(args.requests)], capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        for generation, figures in json.loads(out.splitlines()[-1]).items():
            rows.append({"mode": mode, "generation": generation, **figures})
    print_table(rows)
    write_json("gc", {"requests": args.requests, "rows": rows}, args.out)


if __name__ == "__main__":
    main()
