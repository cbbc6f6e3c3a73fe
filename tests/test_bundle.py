"""Publishing and loading bundles: checksums refuse damage, failed or killed runs change nothing."""

from __future__ import annotations

import ast
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from recsys.bundle import Bundle
from recsys.config import config_from_dict
from recsys.errors import BundleError, ConfigError
from recsys.popularity import Popularity, trending_window
from recsys.versions import current_version, list_versions, rollback
from recsys_training import pipeline
from recsys_training.pipeline import train

CONFIG = config_from_dict({"models": {"als": {"factors": 8, "iterations": 3}, "popular": {}}})


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    kinds = np.array(["view", "add_to_cart", "purchase"])
    lines = [f"u{rng.integers(50)},i{rng.integers(30)},{kinds[rng.integers(3)]},{1_700_000_000 + t}"
             for t in range(2_000)]
    path = tmp_path / "events.csv"
    path.write_text("user_id,item_id,event_type,timestamp\n" + "\n".join(lines) + "\n")
    return path


@pytest.fixture
def published(events_csv: Path, tmp_path: Path) -> Path:
    models = tmp_path / "models"
    train(events_csv, models, CONFIG)
    return models


def test_a_bundle_loads_with_its_manifest(published: Path) -> None:
    bundle = Bundle.load(published)
    manifest = bundle.manifest
    assert bundle.version == current_version(published)
    assert set(bundle.models) == {"als", "popular"}
    assert {"fingerprint", "config", "versions", "files", "created", "data"} <= set(manifest)
    assert {"implicit", "faiss-cpu", "numpy"} <= set(manifest["versions"])
    assert len(bundle.users) == bundle.interactions.shape[0] == manifest["data"]["users"]
    ids, _ = bundle.models["als"].recommend(np.array([0]), 5)
    assert ids.shape == (1, 5)


def test_a_changed_byte_is_refused(published: Path) -> None:
    folder = published / current_version(published)
    target = folder / "models" / "als" / "item_factors.npy"
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    with pytest.raises(BundleError, match=r"item_factors\.npy fails its sha256"):
        Bundle.load(published)


def test_a_missing_file_is_refused(published: Path) -> None:
    (published / current_version(published) / "items.arrow").unlink()
    with pytest.raises(BundleError, match=r"items\.arrow is missing"):
        Bundle.load(published)


def test_a_failure_while_writing_leaves_the_old_bundle(published: Path, events_csv: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    before = current_version(published)

    def half_written(folder: Path, *args: object) -> dict:
        (folder / "users.arrow").write_bytes(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(pipeline, "write_bundle", half_written)
    with pytest.raises(OSError, match="disk full"):
        train(events_csv, published, CONFIG)
    assert current_version(published) == before
    assert [v["version"] for v in list_versions(published)] == [before]
    assert not [p for p in published.iterdir() if p.name.startswith(".tmp")]
    Bundle.load(published)


def test_a_crash_before_current_moves_keeps_the_old_one(published: Path, events_csv: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    before = current_version(published)
    def power_cut(*_: object) -> None:
        raise OSError("power cut")

    monkeypatch.setattr("recsys.versions.set_current", power_cut)
    with pytest.raises(OSError, match="power cut"):
        train(events_csv, published, CONFIG)
    assert current_version(published) == before
    Bundle.load(published)


def test_killed_training_leaves_a_loadable_current(published: Path, events_csv: Path) -> None:
    """SIGKILL at several moments: CURRENT always names a whole bundle (the old or the new)."""
    for delay in (0.5, 1.5, 2.5):
        process = subprocess.Popen([sys.executable, "-m", "recsys_training.cli", "train",
                                    "--events", str(events_csv), "--models", str(published)])
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert Bundle.load(published).version == current_version(published)


def test_rollback_and_list(published: Path, events_csv: Path) -> None:
    first = current_version(published)
    train(events_csv, published, CONFIG)
    second = current_version(published)
    assert first != second
    assert [v["current"] for v in list_versions(published)] == [False, True]
    rollback(published, first)
    assert Bundle.load(published).version == first
    with pytest.raises(BundleError, match="no bundle"):
        rollback(published, "../etc")


def test_a_config_file_sets_models(events_csv: Path, tmp_path: Path) -> None:
    config = tmp_path / "recsys.toml"
    config.write_text('[models.pop]\nkind = "popular"\n')
    result = subprocess.run([sys.executable, "-m", "recsys_training.cli", "train", "--events",
                             str(events_csv), "--models", str(tmp_path / "m"), "--config",
                             str(config)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((Bundle.load(tmp_path / "m").path / "manifest.json").read_text())
    assert list(manifest["models"]) == ["pop"]


def test_the_trending_window_is_a_popular_model_key_stored_in_the_bundle(
    events_csv: Path, tmp_path: Path
) -> None:
    config = config_from_dict({"models": {"top": {"kind": "popular", "window_days": 3}}})
    train(events_csv, tmp_path / "m", config)
    bundle = Bundle.load(tmp_path / "m")
    assert bundle.popularity.window_days == 3.0
    assert "popularity/params.json" in bundle.manifest["files"]
    (bundle.path / "popularity" / "params.json").unlink()  # as bundles before it was stored
    assert Popularity.load(bundle.path / "popularity").window_days == 7.0
    assert trending_window(config_from_dict({}).models) == 7.0
    closed = {"top": {"kind": "popular", "window_days": 0}}
    with pytest.raises(ConfigError, match=r"models\.top\.window_days"):
        trending_window(config_from_dict({"models": closed}).models)
    two = {"a": {"kind": "popular", "window_days": 3}, "b": {"kind": "popular"}}
    with pytest.raises(ConfigError, match="must agree"):
        trending_window(config_from_dict({"models": two}).models)


def test_publishing_clears_only_old_leftovers_of_killed_runs(published: Path,
                                                              events_csv: Path) -> None:
    old, young = published / ".tmp-old-1", published / ".tmp-young-2"
    for leftover in (old, young):
        leftover.mkdir()
        (leftover / "users.arrow").write_bytes(b"partial")
    two_hours_ago = time.time() - 7200
    os.utime(old, (two_hours_ago, two_hours_ago))
    train(events_csv, published, CONFIG)
    assert not old.exists(), "a leftover older than an hour is removed"
    assert young.exists(), "a young one may belong to a run still going"


def test_the_bundle_format_has_one_module_and_the_models_folder_does_not_import_it() -> None:
    """recsys.bundle writes and reads the bundle's files; recsys.versions (the models folder) and
    recsys.files know nothing of what a bundle holds, so nothing imports in a circle; the trainer
    names no bundle file itself."""
    root = Path(__file__).resolve().parents[1]

    def imports(path: Path) -> set[str]:
        tree = ast.parse(path.read_text())
        found = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                 for alias in node.names}  # fmt: skip
        return found | {node.module or "" for node in ast.walk(tree)
                        if isinstance(node, ast.ImportFrom)}  # fmt: skip

    for module in ("versions", "files"):
        assert "recsys.bundle" not in imports(root / "recsys" / f"{module}.py")
    assert not (root / "recsys" / "store.py").exists()
    trainer = (root / "training" / "pipeline.py").read_text()
    assert "from recsys.bundle import BundleContents, write_bundle\n" in trainer
    assert not re.search(r"\.(arrow|npz|parquet)\"", trainer)
