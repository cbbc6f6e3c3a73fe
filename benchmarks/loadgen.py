"""Load generation on loopback: gunicorn serving an app with the production settings file, and
wrk driving it with a Lua script (bounded in time), for benchmarks/bench_server.py."""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Gunicorn:
    """One gunicorn master + workers for `app` on a free loopback port."""

    def __init__(self, app: str, env: dict[str, str], args: argparse.Namespace) -> None:
        self.port = free_port()
        self.metrics = tempfile.mkdtemp(prefix="bench-metrics-")
        env = {**os.environ, **env, "PROMETHEUS_MULTIPROC_DIR": self.metrics,
               "RECSYS_BIND": f"127.0.0.1:{self.port}", "RECSYS_WORKERS": str(args.workers),
               "RECSYS_WORKER_CLASS": args.worker_class, "RECSYS_THREADS": str(args.threads),
               "RECSYS_PRELOAD": "1" if args.preload else "0"}  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "serving" / "gunicorn.conf.py"),
             app], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait(self, path: str) -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(self.base + path, timeout=5) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{path} not ready")

    def memory(self) -> list[dict[str, float]]:
        """RSS and PSS (MB) of each worker."""
        found = []
        for child in psutil.Process(self.process.pid).children():
            text = Path(f"/proc/{child.pid}/smaps_rollup").read_text()
            values = {
                k: int(v) / 1024 for k, v in re.findall(r"^(Rss|Pss):\s+(\d+) kB", text, re.M)
            }
            found.append({"pid": child.pid, "rss_mb": values["Rss"], "pss_mb": values["Pss"]})
        return found

    def cpu_seconds(self) -> float:
        """User + system CPU of all workers so far."""
        total = 0.0
        for child in psutil.Process(self.process.pid).children():
            times = child.cpu_times()
            total += times.user + times.system
        return total

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        shutil.rmtree(self.metrics, ignore_errors=True)


def lua_script(folder: Path, method: str, paths: list[str], body: list[str] | None,
               delay_ms: float | None) -> Path:  # fmt: skip
    """A wrk script cycling through the given paths (and bodies), optionally pausing per request."""
    lines = ["local paths = {" + ",".join(json.dumps(p) for p in paths) + "}"]
    lines.append("local bodies = {" + ",".join(json.dumps(b) for b in body or []) + "}")
    lines.append('wrk.headers["Content-Type"] = "application/json"')
    lines.append("local i = math.random(#paths)")
    lines.append("request = function()\n  i = i % #paths + 1")
    if body:
        lines.append(f'  return wrk.format("{method}", paths[i], nil, bodies[i])\nend')
    else:
        lines.append(f'  return wrk.format("{method}", paths[i])\nend')
    if delay_ms is not None:  # wrk waits whole milliseconds: floor(d + U[0, 1)) keeps the mean d
        lines.append(f"delay = function() return math.floor({delay_ms:.3f} + math.random()) end")
    script = folder / f"load-{random.random():.6f}.lua"
    script.write_text("\n".join(lines) + "\n")
    return script


def wrk(base: str, script: Path, seconds: int, connections: int) -> dict[str, float]:
    """Runs wrk; requests/s, non-2xx count and latency percentiles (ms)."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), base],
        capture_output=True, text=True, check=True, timeout=seconds + 60,
    ).stdout  # fmt: skip
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
              "requests": int(re.search(r"(\d+) requests in", out).group(1))}  # fmt: skip
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    result["non_2xx"] = int(bad.group(1)) if bad else 0
    result["socket_errors"] = errors.group(1) if errors else ""
    for label, value, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
        result[f"p{label}_ms"] = float(value) * scale
    return result


@contextmanager
def slow_connections(host: str, port: int, count: int) -> Iterator[list[socket.socket]]:
    """`count` connections that never finish their request (held until the block ends): half stop
    in the middle of the headers, half send a body shorter than its Content-Length."""
    held: list[socket.socket] = []
    try:
        for i in range(count):
            sock = socket.create_connection((host, port), timeout=10)
            held.append(sock)
            if i % 2:
                sock.sendall(b"POST /v1/cross-sell HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/json\r\nContent-Length: 1000\r\n\r\n{\"items\": [")
            else:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Half: ")
        yield held
    finally:
        for sock in held:
            sock.close()


def timed_requests(base: str, paths: list[str], timeout: float) -> list[float | None]:
    """Each path asked once, in turn: seconds per answered request (2xx), None for a failure.
    Stops early after 5 failures in a row (a frozen server would take count x timeout)."""
    found: list[float | None] = []
    for path in paths:
        start = time.perf_counter()
        try:
            with urllib.request.urlopen(base + path, timeout=timeout) as response:
                response.read()
            found.append(time.perf_counter() - start)
        except (OSError, urllib.error.HTTPError):
            found.append(None)
            if found[-5:] == [None] * 5:
                break
    return found


class Production:
    """`recsys serve --production` (nginx in front of gunicorn) on a free loopback port."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.metrics = tempfile.mkdtemp(prefix="bench-metrics-")
        env = {**os.environ, **env, "PROMETHEUS_MULTIPROC_DIR": self.metrics}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "recsys_training.cli", "serve", "--production", "--port",
             str(self.port), "--workers", str(workers)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    base = Gunicorn.base
    wait = Gunicorn.wait
    stop = Gunicorn.stop
