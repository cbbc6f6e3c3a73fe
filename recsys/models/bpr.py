"""Bayesian Personalized Ranking (Rendle et al.) from the `implicit` package: pairwise ranking loss
over implicit feedback. Only the fit differs from ALS; search, save and load are VectorModel's."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.cpu.bpr import BayesianPersonalizedRanking
from threadpoolctl import threadpool_limits

from recsys.errors import ConfigError
from recsys.models.vector import VectorModel

MIN_STEPS = 1_000_000
THREADED_FROM = 200_000  # nnz


@dataclass(frozen=True)
class BPRParams:
    factors: int = 64
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 100
    seed: int = 0

    def check(self, key: str) -> None:
        if not 1 <= self.factors <= 1024:
            raise ConfigError(f"{key}.factors", f"must be between 1 and 1024, got {self.factors}")
        if not 0 < self.learning_rate <= 1:
            raise ConfigError(
                f"{key}.learning_rate", f"must be in (0, 1], got {self.learning_rate}"
            )
        if self.regularization < 0:
            raise ConfigError(f"{key}.regularization", "must be >= 0")
        if not 1 <= self.iterations <= 5000:
            raise ConfigError(
                f"{key}.iterations", f"must be between 1 and 5000, got {self.iterations}"
            )


class BPR(VectorModel):
    """implicit's BPR keeps an item bias as the last factor column and a constant 1 as the users'
    last column, so the plain inner product of the stored factors is the full BPR score (bias
    included) and the FAISS search needs no special case."""

    kind: ClassVar[str] = "bpr"
    Params: ClassVar[type] = BPRParams

    def implicit_model(self, nnz: int = 0) -> BayesianPersonalizedRanking:
        """implicit's BPR for a matrix of `nnz` entries: one epoch is nnz SGD steps, so a small
        matrix gets more epochs, enough for MIN_STEPS (else it barely leaves its random start),
        on one thread: there, starting threads every epoch costs more than the epoch itself."""
        p = self.params
        return BayesianPersonalizedRanking(
            factors=p.factors,
            learning_rate=p.learning_rate,
            regularization=p.regularization,
            iterations=max(p.iterations, math.ceil(MIN_STEPS / max(1, nnz))),
            random_state=p.seed,
            num_threads=1 if nnz < THREADED_FROM else 0,
        )

    def _fit_factors(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        model = self.implicit_model(matrix.nnz)
        with threadpool_limits(1, "blas"):  # implicit warns unless BLAS is single-threaded
            model.fit(matrix, show_progress=sys.stderr.isatty())
        return model.user_factors, model.item_factors
