"""EASE (Steck, WWW 2019): the closed-form item-item regression

    B = I - P diag(1 / diag(P)),   P = (X^T X + regularization I)^-1,   diag(B) = 0

It inverts a dense items x items matrix (4 bytes an entry, done in place), so it is refused above
`max_items`; kind "spectral" is the item-item model for large catalogues. The result keeps its
`neighbours` best entries per item (0: all) and is scored like item-kNN; `low_pass` > 0 adds
spectral's low-pass term (GF-CF's ideal low-pass filter) on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Self

import numpy as np
import scipy.linalg.lapack as lapack
import scipy.sparse as sp

from recsys.checks import at_least, between
from recsys.data.interactions import Interactions
from recsys.errors import ConfigError
from recsys.models.item_similarity import top_k_per_row
from recsys.models.spectral import LowPassModel, low_pass, normalise


@dataclass(frozen=True)
class EASEParams:
    regularization: float = 1000.0
    neighbours: int = 0
    max_items: int = 20_000
    low_pass: float = 0.0  # > 0 adds spectral's low-pass term of `factors` singular vectors
    factors: int = 256

    def check(self, key: str) -> None:
        at_least(f"{key}.regularization", self.regularization, 1e-6)
        between(f"{key}.neighbours", self.neighbours, 0, 100_000)
        between(f"{key}.max_items", self.max_items, 1, 100_000)
        at_least(f"{key}.low_pass", self.low_pass, 0)
        between(f"{key}.factors", self.factors, 1, 2048)


class EASE(LowPassModel):
    kind: ClassVar[str] = "ease"
    Params: ClassVar[type] = EASEParams

    def fit(self, interactions: Interactions) -> Self:
        p = self.params
        matrix = sp.csr_matrix(interactions.matrix, dtype=np.float32)
        n_items = matrix.shape[1]
        if n_items > p.max_items:
            gigabytes = 4 * n_items**2 / 1e9
            raise ConfigError(
                "max_items",
                f'kind "ease" inverts an items x items matrix: {n_items:,} items need '
                f"{gigabytes:.1f} GB, above max_items = {p.max_items:,}; use kind "
                '"spectral" for a catalogue this large (or raise max_items)',
            )
        weights = closed_form(matrix, p.regularization)
        if p.neighbours:
            weights = top_k_per_row(sp.csr_matrix(weights), p.neighbours)
        self._keep(weights, matrix)
        if p.low_pass > 0:  # as in GF-CF: x B + low_pass (x D^-1/2 V)(V^T D^1/2)
            normalised, item_degree = normalise(matrix)
            self.keep_low_pass(*low_pass(normalised, item_degree, p.factors, 0), p.low_pass)
        return self


def closed_form(matrix: sp.csr_matrix, regularization: float) -> np.ndarray:
    """EASE's B for a (users x items) matrix, float32, inverted in place (one items x items
    array)."""
    gram = (matrix.T @ matrix).toarray().astype(np.float32)
    gram[np.diag_indices_from(gram)] += regularization
    factor, info = lapack.spotrf(gram, lower=True, overwrite_a=True)
    if info == 0:
        inverse, info = lapack.spotri(factor, lower=True, overwrite_c=True)
    if info != 0:
        raise ArithmeticError(f"EASE: regularised Gram matrix not invertible (LAPACK {info})")
    mirror_lower(inverse)
    diagonal = np.diag(inverse).copy()
    inverse /= -diagonal[None, :]
    inverse[np.diag_indices_from(inverse)] = 0.0
    return inverse


def mirror_lower(square: np.ndarray, block: int = 1024) -> None:
    """Copies the lower triangle of `square` onto its upper one, in place, a band at a time (LAPACK
    fills one triangle; a whole transposed copy would double the memory)."""
    n = len(square)
    for start in range(0, n, block):
        stop = min(start + block, n)
        own = square[start:stop, start:stop]
        own[np.triu_indices(stop - start, 1)] = own.T[np.triu_indices(stop - start, 1)]
        square[start:stop, stop:] = square[stop:, start:stop].T
