"""The model bundle format, read and written here only: a version folder holding the id
vocabularies, the interaction and purchase matrices, popularity tables, the catalogue, the users'
segments and each model's files, described by manifest.json. Publishing a folder, CURRENT and the
checksums are recsys.versions'."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from importlib.metadata import version as package_version
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
from recsys.versions import resolve, verify

FORMAT = 1
USERS, ITEMS = "users.arrow", "items.arrow"
INTERACTIONS, PURCHASED = "interactions.npz", "purchased.npz"
CATALOGUE, POPULARITY, MODELS = "catalogue.parquet", "popularity", "models"
SEGMENTS = "segments.arrow"
PACKAGES = ("recsys", "implicit", "faiss-cpu", "numpy", "scipy", "pyarrow")  # in the manifest


@dataclass
class BundleContents:
    """What a bundle holds, as a trainer fitted it. Item and user numbers index every array."""

    users: Vocabulary
    items: Vocabulary
    interactions: sp.csr_matrix
    purchased: sp.csr_matrix
    popularity: Popularity
    models: dict[str, Recommender]
    catalogue: Catalogue | None = None
    segments: SegmentMembership | None = None


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


def write_bundle(
    folder: Path,
    contents: BundleContents,
    entries: dict[str, Any],
    model_entries: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """Writes every file of the bundle into `folder` and returns the manifest content: the
    trainer's `entries` (config, data, seconds, ...), then the format's own (format, created,
    package versions, catalogue columns, segment counts, and per model its kind, params and
    `model_entries[name]`). recsys.versions.publish adds the version and the checksums."""
    contents.users.save(folder / USERS)
    contents.items.save(folder / ITEMS)
    sp.save_npz(folder / INTERACTIONS, contents.interactions, compressed=False)
    sp.save_npz(folder / PURCHASED, contents.purchased, compressed=False)
    contents.popularity.save(folder / POPULARITY)
    if contents.segments is not None:
        contents.segments.save(folder / SEGMENTS)
    if contents.catalogue is not None:
        pq.write_table(contents.catalogue.table, folder / CATALOGUE)
    models = {}
    for name, model in contents.models.items():
        model.save(folder / MODELS / name)
        models[name] = {"kind": model.kind, "params": vars(model.params),
                        **model_entries.get(name, {})}  # fmt: skip
    return {
        "format": FORMAT,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        **entries,
        "versions": {pkg: package_version(pkg) for pkg in PACKAGES},
        "catalogue": sorted(contents.catalogue.given) if contents.catalogue else [],
        "segments": contents.segments.counts() if contents.segments is not None else {},
        "models": models,
    }


def load_catalogue_table(folder: Path, manifest: dict[str, Any]) -> Catalogue | None:
    if CATALOGUE not in manifest["files"]:
        return None
    return Catalogue(pq.read_table(folder / CATALOGUE), frozenset(manifest.get("catalogue", [])))


def load_segments(folder: Path, manifest: dict[str, Any]) -> SegmentMembership | None:
    if SEGMENTS not in manifest["files"]:
        return None
    return SegmentMembership.load(folder / SEGMENTS)
