"""Segment audiences: the trainer stores each bundle user's segments (checked by the manifest's
sha256 like every file), and the server admits exactly the members of an experiment's segment."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from flask import Flask

from recsys.bundle import SEGMENTS, Bundle
from recsys.campaigns import SEGMENTS as SEGMENT_NAMES
from recsys.campaigns import compute_segments, segments_config
from recsys.data import load_catalogue, load_events
from recsys.errors import BundleError
from recsys.membership import SegmentMembership
from recsys.versions import MANIFEST, current_version
from recsys_serving import create_app

UNKNOWN = "visitor-the-bundle-never-saw"


def two_experiments(segment: str = "champions") -> list[dict]:
    """Experiment "vip" (audience: `segment`) and "newcomers" (segment "new"), each with its whole
    audience in variant A; ?experiment= picks one."""
    variants = [{"name": "A", "model": "als", "share": 1.0},
                {"name": "B", "model": "popular", "share": 0.0}]  # fmt: skip
    return [{"name": "vip", "segment": segment, "variants": variants},
            {"name": "newcomers", "segment": "new", "variants": variants}]  # fmt: skip


def app_for(models: Path, tmp_path: Path, experiments: list[dict]) -> Flask:
    return create_app(
        {
            "models_dir": models,
            "database_url": f"sqlite:///{tmp_path / 'events.db'}",
            "watch": False,
            "config": {"server": {"open": True}, "experiments": experiments},
        }
    )


def experiment_of(app: Flask, user: str, requested: str) -> str | None:
    response = app.test_client().get(f"/v1/users/{user}/recommendations?n=2&experiment={requested}")
    assert response.status_code == 200, response.json
    return response.json["experiment"]


def test_membership_bits_round_trip_and_share_their_name_sets(tmp_path: Path) -> None:
    flags = pa.table({"a": [True, False, True, False], "new": [True, False, True, True]})
    membership = SegmentMembership.from_flags(flags, ("a", "new"))
    assert [membership.of(u) for u in range(4)] == [
        {"a", "new"}, set(), {"a", "new"}, {"new"},
    ]  # fmt: skip
    assert membership.of(0) is membership.of(2)  # one frozenset per bitmask, built once
    assert membership.of(None) == {"new"}  # unknown to the bundle: "new", a name it holds
    assert SegmentMembership.from_flags(flags, ("a",)).of(None) == frozenset()
    membership.save(tmp_path / "s.arrow")
    loaded = SegmentMembership.load(tmp_path / "s.arrow")
    assert loaded.names == ("a", "new") and loaded.counts() == {"a": 2, "new": 3}
    assert np.array_equal(loaded.masks, membership.masks)


def test_the_trainer_stores_the_segments_of_every_bundle_user(models_dir: Path, shop: Path) -> None:
    bundle = Bundle.load(models_dir)
    assert SEGMENTS in bundle.manifest["files"] and bundle.segments is not None
    assert bundle.segments.names == SEGMENT_NAMES
    events = load_events(shop / "events.parquet", ("view", "add_to_cart", "purchase"))
    expected = compute_segments(events, segments_config({}), load_catalogue(shop / "catalogue.csv"))
    assert expected.column("user_id").to_pylist() == bundle.users.arrow.to_pylist()
    counts = {}
    for name in SEGMENT_NAMES:
        members = np.asarray(expected.column(name).to_numpy(zero_copy_only=False), bool)
        stored = np.array([name in bundle.segments.of(u) for u in range(len(bundle.users))])
        assert np.array_equal(stored, members), name
        counts[name] = int(members.sum())
    assert bundle.manifest["segments"] == counts


def test_a_tampered_segments_file_is_refused(models_dir: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    target = models / str(current_version(models)) / SEGMENTS
    data = bytearray(target.read_bytes())
    data[-10] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"segments\.arrow fails its sha256"):
        Bundle.load(models)


def test_a_segment_audience_admits_only_its_members(models_dir: Path, tmp_path: Path) -> None:
    app = app_for(models_dir, tmp_path, two_experiments())
    bundle = Bundle.load(models_dir)
    assert bundle.segments is not None
    users = [bundle.users[u] for u in range(60)]
    champions = {bundle.users[u] for u in range(60) if "champions" in bundle.segments.of(u)}
    new = {bundle.users[u] for u in range(60) if "new" in bundle.segments.of(u)}
    assert champions and new and set(users) - champions and set(users) - new
    for user in users:
        assert (experiment_of(app, user, "vip") == "vip") == (user in champions), user
        assert (experiment_of(app, user, "newcomers") == "newcomers") == (user in new), user
    assert experiment_of(app, UNKNOWN, "newcomers") == "newcomers"  # unknown visitors are new
    assert experiment_of(app, UNKNOWN, "vip") is None


def test_an_unknown_segment_is_logged_with_the_known_ones(
    models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", "recsys.server"):
        app = app_for(models_dir, tmp_path, two_experiments("champs"))
    logged = [json.loads(r.getMessage()) for r in caplog.records
              if "experiment_segment_unknown" in r.getMessage()]  # fmt: skip
    assert [(e["experiment"], e["segment"]) for e in logged] == [("vip", "champs")]
    assert logged[0]["known"] == list(SEGMENT_NAMES)
    assert experiment_of(app, Bundle.load(models_dir).users[0], "vip") is None


def test_a_bundle_without_segments_admits_nobody_and_says_so(
    models_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bundle trained before segments were stored still loads and serves."""
    models = tmp_path / "models"
    shutil.copytree(models_dir, models)
    folder = models / str(current_version(models))
    (folder / SEGMENTS).unlink()
    manifest = json.loads((folder / MANIFEST).read_text())
    del manifest["files"][SEGMENTS]
    (folder / MANIFEST).write_text(json.dumps(manifest))
    assert Bundle.load(models).segments is None
    with caplog.at_level("WARNING", "recsys.server"):
        app = app_for(models, tmp_path, two_experiments())
    assert caplog.text.count("holds no segments") == 2
    assert experiment_of(app, Bundle.load(models).users[0], "vip") is None
    assert experiment_of(app, UNKNOWN, "newcomers") is None
