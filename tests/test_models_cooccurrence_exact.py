"""The bought-together matrix, pinned: on a hand-made shop, every score the model keeps equals the
one a slow, obvious implementation (dicts and loops) computes, ties at the `neighbours` cut
included; the sparse top-k and the blocked cosine agree with plain per-row sorting."""

from __future__ import annotations

import math
from collections import Counter
from itertools import combinations, pairwise

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.data import Interactions, Vocabulary
from recsys.models import item_similarity
from recsys.models.cooccurrence import Cooccurrence, CooccurrenceParams
from recsys.models.item_similarity import cosine_similarity, row_blocks, top_k_per_row

Pairs = dict[tuple[int, int], float]
N_ITEMS = 8
# 0 sells with 1 often, with 2 and 3 equally (a tie at neighbours=2); 4..7 are thin.
BASKETS = [[0, 1]] * 4 + [[0, 2]] * 2 + [[0, 3]] * 2 + [[2], [3], [1, 5], [4], [6]]
# Thin 4 was viewed with 5 most, with 6 and 7 equally (a tie); thin 5 also with 1, its basket pair.
VIEWS = [[4, 5]] * 2 + [[4, 6], [4, 7], [1, 5]]
USERS = [{0: 1.0, 1: 1.0}, {4: 2.0, 5: 1.0}, {2: 1.0, 3: 1.0}, {1: 0.5, 5: 3.0}]
PARAMS = [
    CooccurrenceParams(neighbours=2, shrinkage=1.0, fallback_weight=0.1),
    CooccurrenceParams(measure="confidence", min_support=2, shrinkage=0.0, min_baskets=3),
]


def matrix_of(rows: list[dict[int, float]]) -> sp.csr_matrix:
    dense = np.zeros((len(rows), N_ITEMS), np.float32)
    for r, row in enumerate(rows):
        for item, value in row.items():
            dense[r, item] = value
    return sp.csr_matrix(dense)


def binary_rows(groups: list[list[int]]) -> list[dict[int, float]]:
    return [dict.fromkeys(group, 1.0) for group in groups]


def slow_top_k(pairs: Pairs, k: int) -> Pairs:
    """The k largest of each row, the lower column first among equal values."""
    kept: Pairs = {}
    for row in {i for i, _ in pairs}:
        best = sorted((-v, j) for (i, j), v in pairs.items() if i == row and v != 0)[:k]
        kept.update({(row, j): -v for v, j in best})
    return kept


def slow_pair_scores(p: CooccurrenceParams) -> Pairs:
    baskets = [set(b) for b in BASKETS]
    alone = Counter(i for b in baskets for i in b)
    together = Counter(pair for b in baskets for pair in combinations(sorted(b), 2))
    scores: Pairs = {}
    for (a, b), count in together.items():
        for i, j in ((a, b), (b, a)):
            if count >= p.min_support:
                lift = count * len(baskets) / (alone[i] * alone[j])
                measure = lift if p.measure == "lift" else count / alone[i]
                # the model rounds each score to float32 before ranking: so does the reference
                scores[i, j] = float(np.float32(measure * count / (count + p.shrinkage)))
    return slow_top_k(scores, p.neighbours)


def slow_cosine(rows: list[dict[int, float]], k: int, n_items: int = N_ITEMS) -> Pairs:
    norm = {i: math.sqrt(sum(r.get(i, 0) ** 2 for r in rows)) for i in range(n_items)}
    cosine: Pairs = {}
    for i, j in ((i, j) for i in range(n_items) for j in range(n_items) if i != j):
        dot = sum(r[i] * r[j] for r in rows if i in r and j in r)
        if dot:
            cosine[i, j] = dot / (norm[i] * norm[j])
    return slow_top_k(cosine, k)


def slow_similarity(p: CooccurrenceParams) -> Pairs:
    """Basket scores, plus for thin items the best of co-view and interaction cosines."""
    views = slow_cosine(binary_rows(VIEWS), p.neighbours)
    fallback = Counter({ij: v * p.fallback_weight for ij, v in views.items()})
    for ij, v in slow_cosine(USERS, p.neighbours).items():
        fallback[ij] += v * p.fallback_weight**2
    similarity = Counter(slow_pair_scores(p))
    baskets_of = Counter(i for b in BASKETS for i in set(b))
    for (i, j), v in slow_top_k(dict(fallback), p.neighbours).items():
        if baskets_of[i] < p.min_baskets:
            similarity[i, j] += v
    return dict(similarity)


def fitted(p: CooccurrenceParams) -> Cooccurrence:
    names = Vocabulary([str(i) for i in range(N_ITEMS)])
    users = Interactions(matrix_of(USERS), Vocabulary(["a", "b", "c", "d"]), names)
    model = Cooccurrence(p).fit(users)
    return model.fit_baskets(matrix_of(binary_rows(BASKETS)), matrix_of(binary_rows(VIEWS)))


def as_pairs(matrix: sp.csr_matrix) -> Pairs:
    coo = matrix.tocoo()
    return {(int(i), int(j)): float(v) for i, j, v in zip(coo.row, coo.col, coo.data, strict=True)}


@pytest.mark.parametrize("p", PARAMS, ids=["lift", "confidence"])
def test_every_kept_score_is_the_obvious_one(p: CooccurrenceParams) -> None:
    got, expected = as_pairs(fitted(p).similarity), slow_similarity(p)
    assert got.keys() == expected.keys()
    for pair, value in expected.items():
        assert got[pair] == pytest.approx(value, rel=1e-6), pair


def test_hand_computed_scores_and_ties() -> None:
    """13 baskets; 0 in 8, 1 in 5, 2 and 3 in 3. Lift(0, 1) = 4 * 13 / (8 * 5) = 1.3, shrunk by
    4 / (4 + 1); lift(0, 2) = lift(0, 3) = 2 * 13 / (8 * 3), shrunk by 2 / 3: the tie for 0's
    second neighbour goes to the lower item, 2. Thin 4: co-viewed with 5 (cosine 2 / (2 sqrt 3),
    interaction cosine 2 / (2 sqrt 10)), then 6 before 7 (both 1 / 2). Thin 5 adds its co-view
    and interaction cosines with 1 (1 / sqrt 3, 1.5 / (sqrt 1.25 sqrt 10)) to their basket lift."""
    similarity = fitted(PARAMS[0]).similarity.toarray()
    assert similarity[0, 1] == pytest.approx(1.3 * 4 / 5)
    assert similarity[0, 2] == pytest.approx(26 / 24 * 2 / 3) and similarity[0, 3] == 0
    assert similarity[1, 5] == pytest.approx(2.6 / 2)
    assert similarity[4, 5] == pytest.approx(0.1 / math.sqrt(3) + 0.01 / math.sqrt(10))
    assert similarity[4, 6] == pytest.approx(0.05) and similarity[4, 7] == 0
    co_view, interaction = 1 / math.sqrt(3), 1.5 / math.sqrt(1.25 * 10)
    assert similarity[5, 1] == pytest.approx(1.3 + 0.1 * co_view + 0.01 * interaction)


@pytest.mark.parametrize("p", PARAMS, ids=["lift", "confidence"])
def test_complements_rank_the_obvious_scores(p: CooccurrenceParams) -> None:
    model, expected = fitted(p), slow_similarity(p)
    baskets = [[0], [4], [0, 1], [5, 4], [7]]
    ids, scores, because = model.complements(matrix_of(binary_rows(baskets)), 3)
    for row, basket in enumerate(baskets):
        summed = Counter()
        for (i, j), v in expected.items():
            if i in basket and j not in basket:
                summed[j] += v
        ranked = sorted((-v, j) for j, v in summed.items() if v > 0)[:3]
        found = ids[row][ids[row] >= 0]
        assert found.tolist() == [j for _, j in ranked]
        np.testing.assert_allclose(scores[row, : len(found)], [-v for v, _ in ranked], rtol=1e-6)
        reasons = [max(sorted(basket), key=lambda i: expected.get((i, j), 0)) for j in found]
        assert because[row, : len(found)].tolist() == reasons


def random_matrix(seed: int, shape: tuple[int, int], ties: bool = True) -> sp.csr_matrix:
    """Half the cells set, to small integers (many ties, some negative) or to random positive
    values; some explicit zeros; columns stored in descending order."""
    rng = np.random.default_rng(seed)
    values = rng.integers(-2, 5, shape) if ties else rng.random(shape)
    dense = values * (rng.random(shape) < 0.5)
    matrix = sp.csr_matrix(dense.astype(np.float32))
    matrix.data[::7] = 0
    for row in range(shape[0]):  # reverse each row's storage order
        span = slice(matrix.indptr[row], matrix.indptr[row + 1])
        matrix.indices[span], matrix.data[span] = (
            matrix.indices[span][::-1],
            matrix.data[span][::-1],
        )
    matrix.has_sorted_indices = False
    return matrix


@pytest.mark.parametrize("k", [1, 3, 10, 40])
def test_top_k_per_row_keeps_the_largest_lower_columns_first(k: int) -> None:
    """Row lengths from 0 to 300 (several padding widths), ties at every cut."""
    matrix = random_matrix(k, (120, 300))
    matrix = sp.vstack([matrix, sp.csr_matrix((3, 300), dtype=np.float32)], format="csr")
    got = top_k_per_row(matrix.copy(), k)
    assert got.has_sorted_indices and got.dtype == np.float32 and got.shape == matrix.shape
    assert as_pairs(got) == slow_top_k(as_pairs(matrix), k)


def test_top_k_per_row_of_nothing() -> None:
    assert top_k_per_row(sp.csr_matrix((0, 0), dtype=np.float32), 5).shape == (0, 0)
    assert top_k_per_row(sp.csr_matrix((4, 6), dtype=np.float32), 5).nnz == 0


def test_cosine_is_the_same_in_any_number_of_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of one row each, a few rows, or all at once: the same bits, and the slow cosine."""
    rows = random_matrix(7, (50, 30), ties=False)
    whole = cosine_similarity(rows, 3)
    for products in (1, 9):
        monkeypatch.setattr(item_similarity, "PRODUCTS_PER_BLOCK", products)
        blocked = cosine_similarity(rows, 3)
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(blocked, part), getattr(whole, part))
    dicts = [dict(zip(r.indices.tolist(), r.data.tolist(), strict=True)) for r in rows]
    expected = slow_cosine([{i: v for i, v in d.items() if v} for d in dicts], 3, n_items=30)
    got = as_pairs(whole)
    assert got.keys() == expected.keys()
    assert all(got[ij] == pytest.approx(v, rel=1e-6) for ij, v in expected.items())


def test_row_blocks_cover_every_row_once() -> None:
    left = sp.csr_matrix(np.triu(np.ones((6, 6), np.float32)))
    right = sp.csr_matrix(np.ones((6, 4), np.float32))
    blocks = row_blocks(left, right, products=8)
    assert blocks[0][0] == 0 and blocks[-1][1] == 6
    assert all(a[1] == b[0] for a, b in pairwise(blocks))
    assert len(blocks) > 1
    assert row_blocks(sp.csr_matrix((0, 3)), sp.csr_matrix((3, 3)), 8) == [(0, 0)]
    assert row_blocks(sp.csr_matrix((5, 3)), sp.csr_matrix((3, 3)), 8) == [(0, 5)]
