"""The models folder: bundle versions published by one atomic rename, CURRENT naming the one that
serves, rollback, and the checksums every version is verified against before use.

A run that fails or is killed at any point leaves CURRENT and every published version untouched:
files are written under a hidden temporary folder, checked, renamed into place, and CURRENT is
replaced last. What a version's files hold is recsys.bundle's business; this module only knows
that `manifest.json` lists every file with its sha256.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recsys.errors import BundleError
from recsys.files import fsync_dir, fsync_tree, remove_leftovers, sha256_file, write_durably

CURRENT = "CURRENT"
MANIFEST = "manifest.json"
TMP_PREFIX = ".tmp-"
WORKER_STATUS = "worker.json"  # the retraining worker's status (`recsys worker`)


def publish(models_dir: Path, write: Callable[[Path], dict[str, Any]]) -> Path:
    """Calls `write(folder)` to fill a fresh version folder (it returns the manifest's content),
    adds checksums, publishes the folder and points CURRENT at it. Returns the published folder."""
    models_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(models_dir)
    version = new_version(models_dir)
    tmp = models_dir / f"{TMP_PREFIX}{version}-{os.getpid()}"
    try:
        tmp.mkdir()
        manifest = write(tmp)
        manifest.update(version=version, files=checksums(tmp))
        write_durably(tmp / MANIFEST, json.dumps(manifest, indent=2, default=str).encode())
        fsync_tree(tmp)
        final = models_dir / version
        os.rename(tmp, final)
        fsync_dir(models_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    set_current(models_dir, version)
    return final


def new_version(models_dir: Path) -> str:
    """A UTC timestamp (ISO 8601 basic), with a suffix if one already exists that second."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    version, n = stamp, 1
    while (models_dir / version).exists():
        version, n = f"{stamp}-{n}", n + 1
    return version


def set_current(models_dir: Path, version: str) -> None:
    tmp = models_dir / f"{TMP_PREFIX}{CURRENT}-{os.getpid()}"
    write_durably(tmp, f"{version}\n".encode())
    os.replace(tmp, models_dir / CURRENT)
    fsync_dir(models_dir)


def current_version(models_dir: Path) -> str | None:
    try:
        return (models_dir / CURRENT).read_text().strip() or None
    except FileNotFoundError:
        return None


def resolve(path: Path) -> Path:
    """The version folder `path` names: itself, or the CURRENT version of a models folder."""
    if (path / CURRENT).is_file():
        version = current_version(path)
        if not version:
            raise BundleError(f"{path / CURRENT} is empty")
        return path / version
    if (path / MANIFEST).is_file():
        return path
    raise BundleError(f"no bundle at {path} (no {CURRENT} or {MANIFEST})")


def list_versions(models_dir: Path) -> list[dict[str, Any]]:
    """Every published bundle, oldest first: version, created, models and whether it serves."""
    current = current_version(models_dir)
    found = []
    for folder in sorted(models_dir.iterdir()) if models_dir.is_dir() else []:
        manifest_path = folder / MANIFEST
        if folder.name.startswith(".") or not manifest_path.is_file():
            continue
        try:
            manifest = json.loads(manifest_path.read_text())
        except (OSError, ValueError):
            manifest = {}
        found.append(
            {
                "version": folder.name,
                "created": manifest.get("created"),
                "models": sorted(manifest.get("models", {})),
                "current": folder.name == current,
            }
        )
    return found


def rollback(models_dir: Path, version: str) -> None:
    """Points CURRENT at an earlier bundle after checking that it is whole."""
    verify(version_folder(models_dir, version))
    set_current(models_dir, version)


def version_folder(models_dir: Path, version: str) -> Path:
    """The folder of the published bundle `version`; BundleError when there is none by that name
    (temporary folders and paths are not versions)."""
    folder = models_dir / version
    named = bool(version) and not version.startswith(".") and "/" not in version
    if not named or not (folder / MANIFEST).is_file():
        raise BundleError(f"no bundle {version!r} in {models_dir}")
    return folder


def checksums(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): sha256_file(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def verify(folder: Path) -> dict[str, Any]:
    """The manifest, once every file it lists exists with the listed sha256; BundleError if not."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
        files = manifest["files"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"bundle {folder}: unreadable {MANIFEST} ({exc})") from None
    for name, expected in files.items():
        path = folder / name
        if not path.is_file():
            raise BundleError(f"bundle {folder}: file {name} is missing")
        if sha256_file(path) != expected:
            raise BundleError(f"bundle {folder}: file {name} fails its sha256 check (damaged)")
    return manifest


def remove_stale_temporaries(models_dir: Path, older_than_seconds: float = 3600) -> None:
    """Leftovers of runs that were killed; young ones may belong to a run still going."""
    remove_leftovers(
        models_dir.glob(f"{TMP_PREFIX}*"),
        lambda tmp: time.time() - tmp.stat().st_mtime > older_than_seconds,
    )


def prune_versions(models_dir: Path, keep_newest: int, keep: set[str]) -> list[str]:
    """Deletes published bundles beyond the newest `keep_newest`, never one named in `keep`
    (CURRENT, versions experiments pin). Returns the removed versions. A server that still maps
    a removed bundle's files keeps reading them (the files live until it lets go)."""
    versions = [entry["version"] for entry in list_versions(models_dir)]  # oldest first
    kept = set(versions[-keep_newest:] if keep_newest > 0 else []) | keep
    removed = [version for version in versions if version not in kept]
    for version in removed:
        shutil.rmtree(models_dir / version, ignore_errors=True)
    return removed


def read_worker_status(models_dir: Path) -> dict[str, Any] | None:
    """The retraining worker's status file in `models_dir`, or None (none yet, or unreadable)."""
    try:
        status = json.loads((models_dir / WORKER_STATUS).read_text())
    except (OSError, ValueError):
        return None
    return status if isinstance(status, dict) else None
