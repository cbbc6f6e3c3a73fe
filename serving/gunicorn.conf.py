"""Production settings: `recsys serve --production` runs gunicorn with this file on a unix socket
behind nginx (serving/nginx.conf), which reads requests whole before they reach a worker thread.
Run alone (gunicorn -c serving/gunicorn.conf.py "recsys_serving:create_app()") it is exposed to slow
clients: each connection that stops mid-request holds one of its four threads
(benchmarks/bench_slow_clients.py).

Two gthread workers of two threads suit a 2-core machine: benchmarks/bench_server.py measured
1, 2 and 4 threads; 4 gave no more throughput and about double the p99 latency at half load (threads
of one worker wait for each other's share of the GIL), 1 gave less throughput. The
app is preloaded: the master loads the bundle once and the workers share it copy-on-write (the
model arrays are memory-mapped, shared either way); threads, connections and metric files are
made per worker after the fork. RECSYS_PRELOAD=0 loads the app in each worker instead. Metrics
from all workers are summed through $PROMETHEUS_MULTIPROC_DIR, set before the app is imported.
"""

import gc
import json
import os
import tempfile

from gunicorn import util

bind = os.environ.get("RECSYS_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("RECSYS_WORKERS", "2"))
worker_class = os.environ.get("RECSYS_WORKER_CLASS", "gthread")
threads = int(os.environ.get("RECSYS_THREADS", "2"))
preload_app = os.environ.get("RECSYS_PRELOAD", "1") == "1"
keepalive = 5
accesslog = None  # the app writes one JSON line per request itself

# One BLAS thread per worker thread: requests do small products, and BLAS threads waking for each
# of them on two cores cost more than they save.
for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(name, "1")

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="recsys-metrics-")


def json_error(sock, status_int, reason, mesg):
    # gunicorn's own answers to requests it cannot parse (400, 414 request line too long, 431)
    # in the API's error shape instead of its HTML page.
    body = json.dumps({"error": {"code": reason.lower().replace(" ", "_"), "message": mesg}})
    head = (f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
    util.write_nonblock(sock, (head + body).encode("latin1"))


util.write_error = json_error


def pre_fork(server, worker):
    # The preloaded app (bundle, vocabularies, Flask) moves to the collector's permanent
    # generation: the workers' collections never walk it (benchmarks/bench_gc.py: the longest full
    # collection 98 -> 36 ms) nor write to its pages (which stay shared).
    gc.freeze()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def worker_exit(server, worker):
    # Responses still queued for the event store are written before the worker goes.
    found = getattr(worker.wsgi, "extensions", {}).get("recsys")
    if found is not None:
        found.served_log.drain()
