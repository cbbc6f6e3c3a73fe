"""Metrics and statistics on hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from recsys.evaluation import metrics
from recsys.evaluation.evaluate import lookup_hits
from recsys.evaluation.metrics import (
    hit_rate_at_k,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    precision_at_k,
    recall_at_k,
    recall_trunc_at_k,
)
from recsys.evaluation.stats import bootstrap_ci, paired_test

RANKED = np.array([3, 1, 7, 5, 9])  # hits at ranks 2 and 4
RELEVANT = {1, 5, 8}


@pytest.mark.parametrize(
    ("function", "k", "expected"),
    [
        (precision_at_k, 5, 2 / 5),
        (precision_at_k, 3, 1 / 3),
        (precision_at_k, 2, 1 / 2),
        (recall_at_k, 5, 2 / 3),
        (recall_at_k, 2, 1 / 3),
        (recall_trunc_at_k, 5, 2 / 3),
        (recall_trunc_at_k, 2, 1 / 2),
        (ndcg_at_k, 5, (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3) + 1 / 2)),
        (ndcg_at_k, 1, 0.0),
        (map_at_k, 5, (1 / 2 + 2 / 4) / 3),
        (map_at_k, 2, (1 / 2) / 2),
        (mrr_at_k, 5, 1 / 2),
        (mrr_at_k, 1, 0.0),
        (hit_rate_at_k, 1, 0.0),
        (hit_rate_at_k, 2, 1.0),
    ],
)
def test_hand_computed(function, k, expected):
    assert function(RANKED, RELEVANT, k) == pytest.approx(expected)
    assert function(RANKED, np.array(sorted(RELEVANT)), k) == pytest.approx(expected)


def test_recall_and_truncated_recall_differ_when_more_is_relevant_than_k():
    ranked, relevant = np.array([1, 2, 9]), {1, 2, 3, 4}
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(0.5)
    assert recall_trunc_at_k(ranked, relevant, 2) == pytest.approx(1.0)


def test_short_padded_and_empty_lists():
    assert precision_at_k(np.array([1]), {1, 2}, 3) == pytest.approx(1 / 3)
    assert ndcg_at_k(np.array([1]), {1, 2}, 3) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(np.array([-1, -1]), {1}, 2) == 0.0
    assert precision_at_k(np.array([1, 2]), set(), 2) == 0.0
    with pytest.raises(ValueError):
        precision_at_k(RANKED, RELEVANT, 0)


def test_perfect_list_scores_one():
    for function in (ndcg_at_k, map_at_k, recall_trunc_at_k, mrr_at_k):
        assert function(np.array([4, 2, 0]), {0, 2, 4}, 3) == pytest.approx(1.0)


def test_batch_hits_agree_with_per_list_hits():
    rng = np.random.default_rng(0)
    test = sp.random(40, 30, density=0.1, format="csr", random_state=1)
    ranked = np.stack([rng.permutation(30)[:8] for _ in range(40)])
    ranked[::5, -2:] = -1
    users = np.arange(40)
    rows = [test[u].indices for u in users]
    assert np.array_equal(lookup_hits(ranked, users, test), metrics.hit_matrix(ranked, rows))


def test_beyond_accuracy_hand_computed():
    assert metrics.coverage(np.array([[0, 1], [1, 2]]), 10) == pytest.approx(0.3)
    # p(item 0) = 4/4 -> 0 bits, p(item 1) = 2/4 -> 1 bit
    assert metrics.novelty(np.array([[0, 1]]), np.array([3.0, 1.0, 0.0]), 3) == pytest.approx(0.5)
    # categories 0, 0, 1: 4 of the 6 ordered pairs differ
    diversity = metrics.intra_list_diversity(np.array([[0, 1, 2]]), np.array([0, 0, 1]))
    assert diversity == pytest.approx(4 / 6)
    # popularity ranks: item 1 -> 1, item 0 -> 2, item 2 -> 3
    assert metrics.popularity_rank(np.array([[0, 2]]), np.array([5.0, 9.0, 1.0])) == 2.5
    hits = np.array([[True, False]])
    revenue = metrics.revenue_at_k(hits, np.array([[0, 2]]), np.array([10.0, 20.0, 30.0]), 2)
    assert revenue.tolist() == [10.0]


def test_micro_recall_trunc_is_implicit_precision():
    hits = np.array([[True, False, True], [False, False, False]])
    assert metrics.micro_recall_trunc(hits, np.array([2, 5]), 3) == pytest.approx(2 / (2 + 3))


def test_bootstrap_interval():
    assert bootstrap_ci(np.full(30, 0.25)) == pytest.approx((0.25, 0.25))
    values = np.random.default_rng(0).random(500)
    low, high = bootstrap_ci(values)
    assert low < values.mean() < high
    assert high - low < 0.1
    assert all(math.isnan(v) for v in bootstrap_ci(np.array([])))


def test_paired_test():
    a = np.array([0.0, 0.0, 0.0, 0.0, 1.0])
    b = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    result = paired_test(a, b)
    assert result.difference == pytest.approx(2.8)
    assert result.p_value == pytest.approx(0.008635792607551535)  # scipy.stats.ttest_rel
    assert result.significant
    same = paired_test(a, a)
    assert same.difference == 0 and same.p_value == 1.0 and not same.significant
    with pytest.raises(ValueError):
        paired_test(a, b[:3])
