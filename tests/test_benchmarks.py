"""Benchmark scripts fail with a clear line, not a traceback, when a tool they drive is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_bench_server_says_it_needs_wrk(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # no wrk on this PATH
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_server", "--seconds", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2
    assert "needs wrk" in done.stderr and "Traceback" not in done.stderr


def test_a_childs_peak_memory_is_its_own_not_its_parents() -> None:
    """run_with_peak reads the child's VmHWM: ru_maxrss would also count the parent's pages the
    child held until its exec (here 300 MB the child never touches)."""
    from benchmarks.common import run_with_peak

    held = bytearray(300 * 2**20)  # resident in this process while the child starts
    held[::4096] = b"x" * len(held[::4096])
    seconds, peak_mb = run_with_peak([sys.executable, "-c", "import time; time.sleep(0.3)"])
    assert 0 < peak_mb < 150 and seconds > 0
