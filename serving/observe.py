"""Per-request bookkeeping: request ids, the JSON access log, Prometheus metrics and CORS headers.

Metrics are per process unless $PROMETHEUS_MULTIPROC_DIR is set (serving/gunicorn.conf.py sets it),
in which case every worker writes its values there and /metrics adds them up."""

from __future__ import annotations

import atexit
import logging
import os
import random
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from flask import Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from recsys.privacy import ForgetKey
from recsys.service import ServedBundle
from recsys.versions import read_worker_status
from recsys_serving.jsonio import dumps

REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
FLUSH_SECONDS = 0.05  # access log lines are written in batches this often
BACKLOG = 100_000  # access log lines queued at most
LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)

access_log = logging.getLogger("recsys.access")


class Metrics:
    """The server's Prometheus metrics, in a registry of their own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "recsys_requests", "HTTP requests by endpoint and status", ["endpoint", "status"],
            registry=self.registry,
        )  # fmt: skip
        self.latency = Histogram(
            "recsys_request_seconds", "Request latency by endpoint", ["endpoint"],
            buckets=LATENCY_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.fallbacks = Counter(
            "recsys_fallbacks", "Answers that fell back (unknown user/item, starved filters)",
            ["endpoint", "fallback"], registry=self.registry,
        )  # fmt: skip
        self.model = Gauge(
            "recsys_model_version", "1 for the bundle version this process serves", ["version"],
            registry=self.registry, multiprocess_mode="liveall",
        )  # fmt: skip
        self.served_dropped = Counter(
            "recsys_served_log_dropped", "Served responses not recorded (store too slow)",
            registry=self.registry,
        )  # fmt: skip
        self.reloads = Counter(
            "recsys_reloads", "Bundle reloads by outcome", ["outcome"], registry=self.registry
        )
        self.store_available = Gauge(
            "recsys_store_available", "1 while the event store answers, 0 while it is down",
            registry=self.registry, multiprocess_mode="livemostrecent",
        )  # fmt: skip
        self.degraded = Counter(
            "recsys_degraded_answers", "Answers given without the event store (bundle only)",
            ["endpoint"], registry=self.registry,
        )  # fmt: skip
        self.thread_errors = Counter(
            "recsys_background_errors", "Errors in background threads (logged; the loop went on)",
            ["thread"], registry=self.registry,
        )  # fmt: skip
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self._collectors: list[Any] = []

    def add_collector(self, collector: Any) -> None:
        """A collector read at every scrape (also when workers' metrics are merged)."""
        self.registry.register(collector)
        self._collectors.append(collector)

    def thread_error(self, thread: str) -> None:
        self.thread_errors.labels(thread).inc()

    def observe(self, endpoint: str, status: int, seconds: float) -> None:
        """Counts a request and its latency (labelled children looked up once per label set)."""
        key = (endpoint, status)
        children = self._children.get(key)
        if children is None:
            children = (self.requests.labels(endpoint, str(status)), self.latency.labels(endpoint))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def set_version(self, old: str | None, served: ServedBundle) -> None:
        if old is not None and old != served.version:
            self.model.labels(old).set(0)
        self.model.labels(served.version).set(1)

    def exposition(self) -> Response:
        folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        registry = self.registry
        if folder:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, folder)
            for collector in self._collectors:
                registry.register(collector)
        return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


class WorkerStatus:
    """The retraining worker's status file (`recsys worker`, beside the bundles) as gauges, read
    at each scrape: when it last ran, whether that run succeeded, when it runs next."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = models_dir

    def collect(self) -> Iterator[GaugeMetricFamily]:
        status = read_worker_status(self.models_dir)
        if status is None:
            return
        last = status.get("last_run") or {}
        values = {
            "last_run_timestamp_seconds": ("when the last run ended", last.get("finished")),
            "last_run_ok": ("1 when the last run succeeded", last.get("ok")),
            "last_run_seconds": ("how long the last run took", last.get("seconds")),
            "next_run_timestamp_seconds": ("when the next run is due", status.get("next_run")),
            "runs": ("runs since the worker started", status.get("runs")),
            "failures": ("failed runs since the worker started", status.get("failures")),
        }
        for name, (text, value) in values.items():
            if isinstance(value, int | float):
                yield GaugeMetricFamily(f"recsys_worker_{name}", f"Retraining worker: {text}",
                                        value=float(value))  # fmt: skip


class OwnHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The access log's handler when recsys set it up. Requests only queue their line; a thread
    per process writes the queue every FLUSH_SECONDS in one write (a LogRecord, a write and a
    flush per request under the handler's lock held request threads back: a third of a
    request's time under load). Lines still queued are written at exit; beyond BACKLOG queued
    lines the oldest are dropped rather than growing without bound."""

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._lines: deque[str] = deque(maxlen=BACKLOG)
        self._pid: int | None = None

    def write_line(self, line: str) -> None:
        if self._pid != os.getpid():
            self._start()
        self._lines.append(line)

    def _start(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            threading.Thread(target=self._run, name="recsys-access-log", daemon=True).start()
            atexit.register(self.write_queued)

    def _run(self) -> None:
        while True:
            time.sleep(FLUSH_SECONDS)
            self.write_queued()

    def write_queued(self) -> None:
        lines = self._lines
        batch = [lines.popleft() for _ in range(len(lines))]
        if batch:
            with self.lock:  # type: ignore[union-attr]
                self.stream.write("\n".join(batch) + "\n")
                self.stream.flush()


def setup_access_log() -> None:
    """One JSON object per line on stderr, unless the host application configured the logger."""
    if not access_log.handlers:
        handler = OwnHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access_log.addHandler(handler)
        access_log.setLevel(logging.INFO)
        access_log.propagate = False


def write_access(line: str) -> None:
    """`line` to the access log: straight to recsys's own handler, else through logging."""
    handlers = access_log.handlers
    if len(handlers) == 1 and type(handlers[0]) is OwnHandler and not access_log.filters:
        if access_log.isEnabledFor(logging.INFO):
            handlers[0].write_line(line)
    elif access_log.isEnabledFor(logging.INFO):
        access_log.info(line)


def logged_path(key: ForgetKey | None, raw_ids: bool) -> str:
    """The request path for the access log: a user id in it replaced by its keyed hash (no key:
    by ***), unless `raw_ids` (server.log_user_ids, for debugging)."""
    path = request.path
    user_id = (request.view_args or {}).get("user_id")
    if raw_ids or not isinstance(user_id, str) or not user_id:
        return path
    shown = key.pseudonym(user_id) if key is not None else "***"
    return path.replace(f"/users/{user_id}", f"/users/{shown}", 1)


def register_observers(
    app: Flask,
    metrics: Metrics,
    cors_origins: tuple[str, ...],
    key: ForgetKey | None = None,
    raw_ids: bool = False,
) -> None:
    @app.before_request
    def start() -> None:
        given = str(request.environ.get("HTTP_X_REQUEST_ID", ""))  # the X-Request-ID header
        g.request_id = given if REQUEST_ID.fullmatch(given) else f"r-{random.getrandbits(64):016x}"
        g.started = time.perf_counter()

    @app.after_request
    def finish(response: Response) -> Response:
        endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
        seconds = time.perf_counter() - g.get("started", time.perf_counter())
        metrics.observe(endpoint, response.status_code, seconds)
        request_id = g.get("request_id", "")
        response.headers["X-Request-ID"] = request_id
        if cors_origins:
            allow_cors(response, cors_origins)
        fields = {
            "ts": round(time.time(), 3),
            "request_id": request_id,
            "method": request.method,
            "path": logged_path(key, raw_ids),
            "endpoint": endpoint,
            "status": response.status_code,
            "ms": round(seconds * 1000, 2),
            "model": g.get("model"),
        }
        write_access(dumps(fields).decode())
        return response


def allow_cors(response: Response, origins: tuple[str, ...]) -> None:
    """CORS for storefront widgets on other origins listed in server.cors_origins ("*": any)."""
    origin = request.headers.get("Origin")
    if not origin or not origins:
        return
    if "*" in origins or origin in origins:
        response.headers["Access-Control-Allow-Origin"] = "*" if "*" in origins else origin
        response.headers["Access-Control-Allow-Headers"] = (
            "Content-Type, X-API-Key, X-User-Token, Authorization"
        )
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, DELETE, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "X-Request-ID"
        response.headers.add("Vary", "Origin")
