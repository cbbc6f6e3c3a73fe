"""EASE (Steck, WWW 2019): the closed-form item-item regression

    B = I - P diag(1 / diag(P)),   P = (X^T X + regularization I)^-1,   diag(B) = 0

It inverts a dense items x items matrix (4 bytes an entry, done in place), so it is refused above
`max_items`; kind "spectral" is the item-item model for large catalogues. The result keeps its
`neighbours` best entries per item (0: all) and is scored like item-kNN; `low_pass` > 0 adds
spectral's low-pass term (GF-CF's ideal low-pass filter) on top, its singular vectors from an
accurate randomised SVD (an exact eigendecomposition of the items x items matrix would cost 12x
more at 10,000 items for the same vectors).

Two degree corrections (each off at 0): `user_weight` = a weighs each user's row by
(n_u / mean n_u)^-a in X^T X (n_u: the user's items), so heavy users do not dominate the item-item
regression; `popularity` = c multiplies every score for item i by d_i^c (d_i: its users), c < 0
favouring less popular items. In all, a user's row x scores

    (x B_a + low_pass (x D_i^-e V)(V^T D_i^e)) D_i^c     e = low_pass_exponent

with B_a the EASE matrix of the user-weighted rows and V as in spectral.
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
    # The defaults are the best of `--tune` on ml-1m-implicit's validation split (docs/models.md).
    regularization: float = 3000.0
    neighbours: int = 0
    max_items: int = 20_000
    low_pass: float = 0.3  # > 0 adds spectral's low-pass term of `factors` singular vectors
    factors: int = 256
    user_weight: float = 0.25  # a: user rows weigh (n_u / mean n_u)^-a in the Gram matrix
    popularity: float = -0.1  # c: item i's scores times (its users)^c
    low_pass_exponent: float = 0.3  # e of the low-pass term D_i^-e V V^T D_i^e (GF-CF: 0.5)

    def check(self, key: str) -> None:
        at_least(f"{key}.regularization", self.regularization, 1e-6)
        between(f"{key}.neighbours", self.neighbours, 0, 100_000)
        between(f"{key}.max_items", self.max_items, 1, 100_000)
        at_least(f"{key}.low_pass", self.low_pass, 0)
        between(f"{key}.factors", self.factors, 1, 2048)
        between(f"{key}.user_weight", self.user_weight, 0, 2)
        between(f"{key}.popularity", self.popularity, -2, 2)
        between(f"{key}.low_pass_exponent", self.low_pass_exponent, 0, 1)


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
        weights = closed_form(user_weighted(matrix, p.user_weight), p.regularization)
        scale = item_scale(matrix, p.popularity)
        weights *= scale[None, :]
        if p.neighbours:
            weights = top_k_per_row(sp.csr_matrix(weights), p.neighbours)
        self._keep(weights, matrix)
        if p.low_pass > 0:  # as in GF-CF: x B + low_pass (x D^-e V)(V^T D^e), e = 1/2 there
            normalised, item_degree = normalise(matrix)
            user_side, item_side = low_pass(
                normalised, item_degree, p.factors, 0, p.low_pass_exponent, accurate=True
            )
            self.keep_low_pass(user_side, item_side * scale[:, None], p.low_pass)
        return self


def user_weighted(matrix: sp.csr_matrix, exponent: float) -> sp.csr_matrix:
    """Each user's row times (n_u / mean n_u)^-exponent, n_u the user's items (the mean over users
    with any, so the regularisation keeps its scale)."""
    if exponent == 0:
        return matrix
    counts = np.diff(matrix.indptr).astype(np.float64)
    mean = counts[counts > 0].mean() if (counts > 0).any() else 1.0
    weights = np.where(counts > 0, (np.maximum(counts, 1) / mean) ** -exponent, 0.0)
    return sp.csr_matrix(sp.diags(weights.astype(np.float32)) @ matrix)


def item_scale(matrix: sp.csr_matrix, exponent: float) -> np.ndarray:
    """d_i^exponent for each item's number of users d_i (1 for items nobody has)."""
    users_per_item = np.bincount(matrix.indices, minlength=matrix.shape[1]).astype(np.float64)
    return (np.maximum(users_per_item, 1) ** exponent).astype(np.float32)


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
