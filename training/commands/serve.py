"""recsys serve: the development server, or with --production the production one: gunicorn with
the shipped settings (serving/gunicorn.conf.py) on a private unix socket, behind nginx with the
shipped front (serving/nginx.conf), which reads each request whole, with header and body timeouts,
before gunicorn sees it. Slow or idle clients then hold an nginx connection, never one of
gunicorn's few threads (benchmarks/bench_slow_clients.py measured the alternatives; docs/serving.md
says why this one). Both run until either exits or this command gets SIGTERM / SIGINT."""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from recsys.config import load_config
from recsys.errors import RecsysError

SERVING = Path(importlib.util.find_spec("recsys_serving").origin).parent  # shipped settings
NGINX_PATHS = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--models", help="models folder (default: $RECSYS_MODELS or ./models)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--production", action="store_true",
                        help="gunicorn behind nginx with the shipped settings")  # fmt: skip
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="gunicorn workers with --production (default: $RECSYS_WORKERS or 2)",
    )


def run(args: argparse.Namespace) -> int:
    if args.models:
        os.environ["RECSYS_MODELS"] = args.models
    if args.production:
        return production(args.host, args.port, args.workers)
    if args.workers is not None:
        raise RecsysError("--workers needs --production")
    from recsys_serving import create_app

    create_app().run(host=args.host, port=args.port, threaded=True)
    return 0


def production(host: str, port: int, workers: int | None) -> int:
    """Runs gunicorn and nginx until one of them exits or a signal asks; the exit code."""
    nginx = shutil.which("nginx") or next((p for p in NGINX_PATHS if os.access(p, os.X_OK)), None)
    if nginx is None:
        raise RecsysError("nginx not found: the production front needs it (apt-get install nginx)")
    if workers is not None and workers < 1:
        raise RecsysError(f"--workers must be at least 1, got {workers}")
    max_body = load_config(os.environ.get("RECSYS_CONFIG") or None).server.max_body_bytes
    with runtime_folder() as runtime:
        socket = runtime / "gunicorn.sock"
        config = runtime / "nginx.conf"
        config.write_text(front_config(runtime, socket, f"{host}:{port}", max_body))
        checked = subprocess.run([nginx, "-t", "-q", "-p", str(runtime), "-c", str(config)],
                                 capture_output=True, text=True)  # fmt: skip
        if checked.returncode != 0:
            raise RecsysError(f"nginx refused its configuration: {one_line(checked.stderr)}")
        env = {**os.environ, "RECSYS_BIND": f"unix:{socket}", "RECSYS_FRONT": "1"}
        if workers is not None:
            env["RECSYS_WORKERS"] = str(workers)
        gunicorn = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", str(SERVING / "gunicorn.conf.py"),
             "recsys_serving:create_app()"], env=env,
        )  # fmt: skip
        front = subprocess.Popen([nginx, "-p", str(runtime), "-c", str(config),
                                  "-g", "daemon off;"])  # fmt: skip
        return supervise(gunicorn, front)


def supervise(gunicorn: subprocess.Popen[bytes], front: subprocess.Popen[bytes]) -> int:
    """Waits for a signal or for either process to exit, then stops both gracefully."""
    stopping: list[int] = []
    previous = {sig: signal.signal(sig, lambda number, _: stopping.append(number))
                for sig in (signal.SIGTERM, signal.SIGINT)}  # fmt: skip
    try:
        while not stopping and gunicorn.poll() is None and front.poll() is None:
            time.sleep(0.2)
    finally:
        for process, graceful in ((front, signal.SIGQUIT), (gunicorn, signal.SIGTERM)):
            if process.poll() is None:
                process.send_signal(graceful)
        for process in (front, gunicorn):
            try:
                process.wait(timeout=35)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if stopping:
        return 0
    failed = gunicorn if gunicorn.returncode else front
    name = "gunicorn" if failed is gunicorn else "nginx"
    sys.stderr.write(f"recsys serve: {name} exited with {failed.returncode}\n")
    return 1


def front_config(runtime: Path, socket: Path, listen: str, max_body: int) -> str:
    template = (SERVING / "nginx.conf").read_text()
    for name, value in (("RUNTIME", runtime), ("SOCKET", socket), ("LISTEN", listen),
                        ("MAX_BODY", max_body)):  # fmt: skip
        template = template.replace(f"@{name}@", str(value))
    return template


@contextmanager
def runtime_folder() -> Iterator[Path]:
    """nginx's and gunicorn's files (config, socket, pid, temp), removed at the end. Traversable
    by others: nginx's workers run as an unprivileged user when the master is root."""
    folder = Path(tempfile.mkdtemp(prefix="recsys-serve-"))
    try:
        folder.chmod(0o711)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def one_line(text: str) -> str:
    return " ".join(text.split())[:300]
