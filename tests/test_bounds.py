"""Memory bounded by construction: what a client sends never grows a worker beyond the documented
bounds (docs/production.md)."""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import psutil
import pytest
from flask.testing import FlaskClient

from recsys_serving import create_app


@pytest.fixture(scope="module")
def client(models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> FlaskClient:
    folder = tmp_path_factory.mktemp("bounds")
    return create_app({
        "models_dir": models_dir, "database_url": f"sqlite:///{folder / 'events.db'}",
        "watch": False, "config": {"server": {"open": True}},
    }).test_client()  # fmt: skip


def test_hostile_baskets_leave_a_worker_bounded(client: FlaskClient) -> None:
    """1000 distinct 1000-id baskets: the memo keeps 16-byte digests, not baskets (it grew
    ~340 KB per basket when the basket itself was the key)."""
    random = np.random.default_rng(5)

    def post() -> int:
        basket = [f"hostile-{v}" for v in random.integers(0, 10**9, 1000)]
        return client.post("/v1/cross-sell?exclude=a,b", json={"items": basket}).status_code

    statuses = [post() for _ in range(30)]  # warm: allocator arenas, first answers
    gc.collect()
    before = psutil.Process().memory_info().rss
    statuses += [post() for _ in range(1000)]
    gc.collect()
    grown = psutil.Process().memory_info().rss - before
    assert statuses == [200] * 1030
    assert grown < 40 << 20, f"grew {grown >> 20} MB"
