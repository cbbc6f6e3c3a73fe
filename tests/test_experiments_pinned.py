"""Bundle-version variants: a variant pinned to an earlier bundle keeps serving it (through a real
gunicorn server) while CURRENT moves on; a pinned version that is missing or damaged stops the
server from starting, naming the variant's key."""

from __future__ import annotations

import shutil
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from flask import Flask
from live_server import Server, running_server

from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.errors import ConfigError
from recsys.experiments import Experiments, routing
from recsys.service import Query, ServedBundle, for_user
from recsys.versions import current_version
from recsys_serving import create_app
from recsys_training.pipeline import train

CONFIG = config_from_dict({"models": {"als": {"factors": 16, "iterations": 5}, "popular": {}}})
EXPERIMENTS = """
[server]
open = true
watch_seconds = 0.2

[[experiments]]
name = "versions"
salt = "pin"
variants = [ {{ name = "A", model = "als", share = 0.5 }},
             {{ name = "B", bundle = "{first}", model = "als", share = 0.5 }} ]

[[experiments]]                      # after "versions": only ?experiment=mixed reaches it
name = "mixed"
mode = "interleave"
variants = [ {{ name = "now", model = "als", share = 1.0 }},
             {{ name = "then", bundle = "{first}", model = "als", share = 0.0 }} ]
"""


@dataclass
class Versions:
    models: Path
    first: str  # trained on every event of the shop
    second: str  # trained on the older part of them: CURRENT when the server starts
    newer: Path  # the newer part of them


def pinned_experiment(version: str) -> dict:
    return {"name": "old-vs-new", "variants": [{"name": "A", "model": "als", "share": 0.5},
            {"name": "B", "bundle": version, "model": "als", "share": 0.5}]}  # fmt: skip


def start_app(models: Path, tmp_path: Path, version: str) -> Flask:
    return create_app(
        {
            "models_dir": models,
            "database_url": f"sqlite:///{tmp_path / 'events.db'}",
            "watch": False,
            "config": {"server": {"open": True}, "experiments": [pinned_experiment(version)]},
        }
    )


@pytest.fixture(scope="module")
def versions(models_dir: Path, shop: Path, tmp_path_factory: pytest.TempPathFactory) -> Versions:
    folder = tmp_path_factory.mktemp("pinned")
    shutil.copytree(models_dir, folder / "models")
    first = str(current_version(folder / "models"))
    events = pq.read_table(shop / "events.parquet").sort_by("timestamp")
    pq.write_table(events.slice(0, 60_000), folder / "older.parquet")
    pq.write_table(events.slice(20_000), folder / "newer.parquet")
    train(folder / "older.parquet", folder / "models", CONFIG, shop / "catalogue.csv")
    second = str(current_version(folder / "models"))
    return Versions(folder / "models", first, second, folder / "newer.parquet")


@pytest.fixture(scope="module")
def server(versions: Versions, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    folder = tmp_path_factory.mktemp("pinned-server")
    config = folder / "recsys.toml"
    config.write_text(EXPERIMENTS.format(first=versions.first))
    with running_server(folder, versions.models, config, workers=2) as found:
        yield found


def picks(server: Server, user: str, experiment: str = "versions") -> dict:
    status, body = server.call(
        "GET", f"/v1/users/{user}/recommendations?n=5&experiment={experiment}"
    )
    assert status == 200, body
    return body


def top_ids(served: ServedBundle, user: str) -> list[str]:
    """The picks of `served`'s ALS for `user`, computed here."""
    return served.bundle.items.ids(for_user(served, user, Query(n=5), "als").ranked.ids)


def serving_everywhere(server: Server, version: str) -> None:
    """Until twenty readiness answers in a row (from either worker) name `version`."""
    deadline, streak = time.monotonic() + 60, 0
    while streak < 20 and time.monotonic() < deadline:
        streak = streak + 1 if server.call("GET", "/readyz")[1].get("version") == version else 0
        time.sleep(0.02)
    assert streak >= 20, f"the server did not move to {version}"


def test_a_pinned_variant_serves_its_version_while_current_moves_on(
    server: Server, versions: Versions, shop: Path
) -> None:
    first = ServedBundle(Bundle.load(versions.models / versions.first))
    users = Bundle.load(versions.models / versions.second).users.arrow.to_pylist()[:40]
    by_variant: dict[str, list[str]] = {"A": [], "B": []}
    for user in users:
        body = picks(server, user)
        by_variant[body["variant"]].append(user)
        version = versions.second if body["variant"] == "A" else versions.first
        assert body["model"] == f"als@{version}", body
        if body["variant"] == "B":  # the first version's own picks, in its item ids
            assert [item["item_id"] for item in body["items"]] == top_ids(first, user)
    assert by_variant["A"] and by_variant["B"]

    train(versions.newer, versions.models, CONFIG, shop / "catalogue.csv")
    third = str(current_version(versions.models))
    serving_everywhere(server, third)
    for variant, version in (("A", third), ("B", versions.first)):
        for user in by_variant[variant][:5]:
            body = picks(server, user)
            assert (body["variant"], body["model"]) == (variant, f"als@{version}"), body


def test_interleaving_two_versions_merges_both_rankers(server: Server, versions: Versions) -> None:
    now = ServedBundle(Bundle.load(versions.models))
    then = ServedBundle(Bundle.load(versions.models / versions.first))
    experiments = Experiments.from_config(
        tomllib.loads(EXPERIMENTS.format(first=versions.first))["experiments"]
    )
    bundles = {versions.first: then}.__getitem__
    assert now.item_names != then.item_names  # other item numbers: the rival's are translated
    for user in Bundle.load(versions.models / versions.second).users.arrow.to_pylist()[:10]:
        body = picks(server, user, "mixed")
        assert body["variant"] == "interleaved"
        assert body["model"] == f"interleave:als@{now.version}|als@{then.version}"
        ids = [item["item_id"] for item in body["items"]]
        ours, theirs = top_ids(now, user), top_ids(then, user)
        assert len(ids) == 5 == len(set(ids)) and set(ids) <= set(ours) | set(theirs)
        assert {ours[0], theirs[0]} <= set(ids)  # each ranker's best is drafted first
        # the library, seeded with the response's request id, merges the same list
        query = Query(n=5, experiment="mixed")
        assigned = routing.assigned(experiments, "recommendations", user, query, now)
        found = routing.routed(assigned, now, query, routing.user_ranker(user), bundles,
                               body["request_id"])  # fmt: skip
        assert found.served is now and found.picks.model == body["model"]
        assert found.served.bundle.items.ids(found.picks.ranked.ids) == ids


def test_a_missing_or_damaged_pinned_version_stops_the_start(
    versions: Versions, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as missing:
        start_app(versions.models, tmp_path, "20250101T000000Z")
    assert missing.value.key == "experiments[0].variants[1].bundle"
    assert "no bundle '20250101T000000Z'" in str(missing.value)
    models = tmp_path / "models"
    shutil.copytree(versions.models, models)
    (models / versions.first / "models" / "als" / "item_factors.npy").write_bytes(b"damaged")
    with pytest.raises(ConfigError, match=r"variants\[1\]\.bundle.*fails its sha256"):
        start_app(models, tmp_path, versions.first)
    with pytest.raises(ConfigError, match=r"no bundle '\.\./models'"):
        start_app(models, tmp_path, "../models")


def test_pinning_the_current_version_shares_its_bundle(versions: Versions, tmp_path: Path) -> None:
    current = str(current_version(versions.models))
    holder = start_app(versions.models, tmp_path, current).extensions["recsys"].holder
    assert holder.pin(current) is holder.served
