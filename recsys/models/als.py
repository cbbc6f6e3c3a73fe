"""Implicit-feedback ALS (Hu, Koren, Volinsky) from the `implicit` package."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from scipy.linalg import lapack
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
        """User vectors for rows of interactions the model never saw: implicit's
        recalculate_user; one row (a request's) solved by `fold_in_row`, the same equations
        without the checks and sparse arithmetic that cost implicit more than the solve."""
        user_items = user_items.tocsr()
        model, base = self.fold_in_model()
        if user_items.shape[0] == 1:
            vector = fold_in_row(model, base, user_items.indices, user_items.data)
            if vector is not None:
                return vector[None, :]
        users = np.arange(user_items.shape[0])
        return np.atleast_2d(model.recalculate_user(users, user_items))

    def fold_in_model(self) -> tuple[AlternatingLeastSquares, np.ndarray]:
        """implicit's model over our item factors and YtY + regularization I, made once per set
        of factors: YtY would otherwise cost more than the fold-in itself on every call."""
        cached = getattr(self, "_fold_in", None)
        if cached is None or cached[0] is not self.item_factors:
            model = self.implicit_model()
            model.item_factors = np.array(self.item_factors, np.float32)  # writable: bundles mmap
            model.num_threads = 1  # fold-ins are small: threads cost ~100x what they save here
            with threadpool_limits(1, "blas"):
                base = model.YtY + np.float32(model.regularization) * np.eye(
                    model.factors, dtype=np.float32
                )
            self._fold_in = cached = (self.item_factors, model, base)
        return cached[1], cached[2]


def fold_in_row(
    model: AlternatingLeastSquares, base: np.ndarray, items: np.ndarray, values: np.ndarray
) -> np.ndarray | None:
    """One user's vector by implicit's least squares (implicit/cpu/_als.pyx, Hu et al.): with
    confidences c = alpha x value, A = YtY + reg I + sum over the items of (|c| - 1) y y^T and
    b = sum of c y over the items with c > 0, solved by Cholesky (LAPACK posv, as implicit).
    None when A is not positive definite (then implicit's own answer is taken)."""
    if not len(items):
        return np.zeros(base.shape[0], np.float32)
    confidence = np.float32(model.alpha) * np.asarray(values, np.float32)
    rows = model.item_factors[items]
    a = base + (rows.T * (np.abs(confidence) - 1)) @ rows
    b = rows.T @ np.maximum(confidence, 0)
    _, solution, info = lapack.sposv(a, b, overwrite_a=True, overwrite_b=True)
    return np.asarray(solution, np.float32) if info == 0 else None
