"""Item-kNN from `implicit.nearest_neighbours`: cosine, TF-IDF or BM25 weighted item-item
neighbours. Kind "itemknn" picks the weighting with `similarity`; kinds "cosine", "tfidf" and "bm25"
are shorthands (so `--models als,bm25` works)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar, Self

import implicit.nearest_neighbours as knn
import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recsys.checks import between, one_of
from recsys.data.interactions import Interactions
from recsys.errors import ConfigError
from recsys.models.item_similarity import ItemSimilarityModel, without_diagonal

SIMILARITIES = ("cosine", "tfidf", "bm25")


@dataclass(frozen=True)
class ItemKNNParams:
    similarity: str = "bm25"
    K: int = 100
    K1: float = 1.2
    B: float = 0.75

    def check(self, key: str) -> None:
        one_of(f"{key}.similarity", self.similarity, SIMILARITIES)
        between(f"{key}.K", self.K, 1, 10_000)
        between(f"{key}.K1", self.K1, 0, 1_000)
        between(f"{key}.B", self.B, 0, 1)


class ItemKNN(ItemSimilarityModel):
    """Scores a user's items' neighbours, weighted by the user's interaction strength."""

    kind: ClassVar[str] = "itemknn"
    Params: ClassVar[type] = ItemKNNParams

    def weighted(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """implicit's own weighting of the (users x items) matrix for the chosen similarity."""
        p = self.params
        if p.similarity == "bm25":
            weighted = knn.bm25_weight(matrix.T, p.K1, p.B).T
        elif p.similarity == "tfidf":
            weighted = knn.normalize(knn.tfidf_weight(matrix.T)).T
        else:
            weighted = knn.normalize(matrix.T).T
        return sp.csr_matrix(weighted, dtype=np.float64)  # all_pairs_knn wants doubles

    def fit(self, interactions: Interactions) -> Self:
        # The weighting, then the neighbour search, as implicit's Cosine/TFIDF/BM25Recommender.fit
        # do, but handing it CSR (implicit passes COO itself, and warns about it).
        model = knn.ItemItemRecommender(K=self.params.K)
        with threadpool_limits(1, "blas"):
            model.fit(self.weighted(interactions.matrix), show_progress=sys.stderr.isatty())
        # implicit's rows hold the item itself: never a suggestion
        self._keep(without_diagonal(model.similarity), interactions.matrix)
        return self


def shorthand_params(name: str) -> type:
    """Params of kind `name`: ItemKNNParams whose similarity is fixed to `name`."""

    @dataclass(frozen=True)
    class Params(ItemKNNParams):
        similarity: str = name

        def check(self, key: str) -> None:
            if self.similarity != name:
                raise ConfigError(
                    f"{key}.similarity", f'kind "{name}" is {name}; use kind "itemknn" to choose'
                )
            super().check(key)

    Params.__name__ = Params.__qualname__ = f"{name.upper()}Params"
    return Params


class Cosine(ItemKNN):
    kind: ClassVar[str] = "cosine"
    Params: ClassVar[type] = shorthand_params("cosine")


class TFIDF(ItemKNN):
    kind: ClassVar[str] = "tfidf"
    Params: ClassVar[type] = shorthand_params("tfidf")


class BM25(ItemKNN):
    kind: ClassVar[str] = "bm25"
    Params: ClassVar[type] = shorthand_params("bm25")
