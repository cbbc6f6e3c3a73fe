"""Implicit-feedback ALS (Hu, Koren, Volinsky) from the `implicit` package."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from recsys.checks import at_least
from recsys.errors import ConfigError
from recsys.models.vector import VectorModel


@dataclass(frozen=True)
class ALSParams:
    factors: int = 64
    regularization: float = 0.05
    alpha: float = 2.0
    iterations: int = 15
    seed: int = 0

    def check(self, key: str) -> None:
        if not 1 <= self.factors <= 1024:
            raise ConfigError(f"{key}.factors", f"must be between 1 and 1024, got {self.factors}")
        at_least(f"{key}.regularization", self.regularization, 0)
        if not self.alpha > 0:
            raise ConfigError(f"{key}.alpha", f"must be > 0, got {self.alpha}")
        if not 1 <= self.iterations <= 500:
            raise ConfigError(
                f"{key}.iterations", f"must be between 1 and 500, got {self.iterations}"
            )


class ALS(VectorModel):
    kind: ClassVar[str] = "als"
    Params: ClassVar[type] = ALSParams

    def implicit_model(self) -> AlternatingLeastSquares:
        p = self.params
        with threadpool_limits(1, "blas"):  # implicit warns unless BLAS is single-threaded
            return AlternatingLeastSquares(
                factors=p.factors,
                regularization=p.regularization,
                alpha=p.alpha,
                iterations=p.iterations,
                calculate_training_loss=False,
                random_state=p.seed,
            )

    def _fit_factors(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        model = self.implicit_model()
        with threadpool_limits(1, "blas"):  # implicit runs its own threads; BLAS threads fight them
            model.fit(matrix, show_progress=sys.stderr.isatty())
        return model.user_factors, model.item_factors

    def fold_in(self, user_items: sp.csr_matrix) -> np.ndarray:
        """User vectors for rows of interactions the model never saw (implicit's
        recalculate_user)."""
        users = np.arange(user_items.shape[0])
        vectors = self.fold_in_model().recalculate_user(users, user_items.tocsr())
        return np.atleast_2d(vectors)

    def fold_in_model(self) -> AlternatingLeastSquares:
        """implicit's model over our item factors, made once per set of factors: it caches YtY,
        which would otherwise cost more than the fold-in itself on every call."""
        cached = getattr(self, "_fold_in", None)
        if cached is None or cached[0] is not self.item_factors:
            model = self.implicit_model()
            model.item_factors = np.array(self.item_factors, np.float32)  # writable: bundles mmap
            model.num_threads = 1  # fold-ins are small: threads cost ~100x what they save here
            with threadpool_limits(1, "blas"):
                model.YtY  # noqa: B018 (computed and cached by implicit)
            self._fold_in = (self.item_factors, model)
            cached = self._fold_in
        return cached[1]
