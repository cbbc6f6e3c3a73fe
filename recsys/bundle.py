"""A model bundle: everything the server needs, checked against its manifest's sha256 before use."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import scipy.sparse as sp

from recsys.data.catalogue import Catalogue, Categories
from recsys.data.vocabulary import Vocabulary
from recsys.errors import BundleError
from recsys.membership import SegmentMembership
from recsys.models import Recommender, model_class
from recsys.popularity import Popularity
from recsys.store import CURRENT, MANIFEST, current_version, sha256_file

USERS, ITEMS = "users.arrow", "items.arrow"
INTERACTIONS, PURCHASED = "interactions.npz", "purchased.npz"
CATALOGUE, POPULARITY, MODELS = "catalogue.parquet", "popularity", "models"
SEGMENTS = "segments.arrow"


@dataclass
class Bundle:
    """A loaded, verified bundle. Item and user numbers index every array in it."""

    path: Path
    manifest: dict[str, Any]
    users: Vocabulary
    items: Vocabulary
    interactions: sp.csr_matrix
    purchased: sp.csr_matrix
    popularity: Popularity
    models: dict[str, Recommender] = field(default_factory=dict)
    catalogue: Catalogue | None = None
    segments: SegmentMembership | None = None  # None: a bundle trained before they were stored

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @cached_property
    def categories(self) -> Categories:
        """The catalogue's categories; every item in none when the bundle has no catalogue."""
        if self.catalogue is None:
            return Categories.from_paths(np.full(len(self.items), "", object))
        return self.catalogue.categories

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        """Loads the bundle at `path`: a version folder, or a models folder (its CURRENT
        version)."""
        folder = resolve(Path(path))
        manifest = verify(folder)
        try:
            bundle = cls(
                path=folder,
                manifest=manifest,
                users=Vocabulary.load(folder / USERS),
                items=Vocabulary.load(folder / ITEMS),
                interactions=sp.load_npz(folder / INTERACTIONS).tocsr(),
                purchased=sp.load_npz(folder / PURCHASED).tocsr(),
                popularity=Popularity.load(folder / POPULARITY),
                models={
                    name: model_class(name, entry["kind"]).load(
                        folder / MODELS / name, entry.get("params", {})
                    )
                    for name, entry in manifest["models"].items()
                },
                catalogue=load_catalogue_table(folder, manifest),
                segments=load_segments(folder, manifest),
            )
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"bundle {folder} cannot be loaded: {exc}") from None
        if bundle.segments is not None and len(bundle.segments) != len(bundle.users):
            raise BundleError(f"bundle {folder}: {SEGMENTS} does not hold one row per user")
        return bundle

    def model_label(self, name: str) -> str:
        return f"{name}@{self.version}"


def resolve(path: Path) -> Path:
    if (path / CURRENT).is_file():
        version = current_version(path)
        if not version:
            raise BundleError(f"{path / CURRENT} is empty")
        return path / version
    if (path / MANIFEST).is_file():
        return path
    raise BundleError(f"no bundle at {path} (no {CURRENT} or {MANIFEST})")


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


def load_catalogue_table(folder: Path, manifest: dict[str, Any]) -> Catalogue | None:
    if CATALOGUE not in manifest["files"]:
        return None
    return Catalogue(pq.read_table(folder / CATALOGUE), frozenset(manifest.get("catalogue", [])))


def load_segments(folder: Path, manifest: dict[str, Any]) -> SegmentMembership | None:
    if SEGMENTS not in manifest["files"]:
        return None
    return SegmentMembership.load(folder / SEGMENTS)
