"""Is a difference real? Bootstrap intervals over users and a paired test of two models."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

CHUNK_CELLS = 4_000_000  # draws held at once: bounded memory, also in a server's report request


def bootstrap_means(
    values: np.ndarray, resamples: int = 1000, seed: int | np.random.Generator = 0
) -> np.ndarray:
    """Means of `resamples` bootstrap resamples of `values` (drawn with replacement). `seed` may be
    a generator shared by several calls. The chunk size never changes the figures: numpy draws the
    same stream in one call or in many."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return np.full(resamples, np.nan)
    rng = np.random.default_rng(seed)
    per_chunk = max(1, CHUNK_CELLS // len(values))
    means = []
    for start in range(0, resamples, per_chunk):
        draws = rng.integers(0, len(values), size=(min(per_chunk, resamples - start), len(values)))
        means.append(values[draws].mean(axis=1))
    return np.concatenate(means)


def bootstrap_ci(
    values: np.ndarray, level: float = 0.95, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of per-user `values`."""
    if len(values) == 0:
        return math.nan, math.nan
    means = bootstrap_means(values, resamples, seed)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedResult:
    """b minus a on the same users: the mean difference, its bootstrap interval and the two-sided
    p-value of a paired t-test (1.0 when the two never differ)."""

    difference: float
    low: float
    high: float
    p_value: float
    users: int

    @property
    def significant(self) -> bool:
        return self.p_value < 0.05 and not (self.low <= 0 <= self.high)

    def to_dict(self) -> dict[str, float | int | bool]:
        return {
            "difference": self.difference,
            "ci": [self.low, self.high],
            "p_value": self.p_value,
            "users": self.users,
            "significant": self.significant,
        }


def paired_test(
    a: np.ndarray, b: np.ndarray, level: float = 0.95, resamples: int = 1000, seed: int = 0
) -> PairedResult:
    """Compares per-user values of two models aligned on the same users."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same users: {a.shape} vs {b.shape}")
    diff = b - a
    if len(diff) == 0:
        return PairedResult(math.nan, math.nan, math.nan, math.nan, 0)
    low, high = bootstrap_ci(diff, level, resamples, seed)
    if len(diff) < 2 or np.ptp(diff) == 0:
        p_value = 1.0 if not diff.any() else 0.0
    else:
        p_value = paired_t_p_value(diff)
    return PairedResult(float(diff.mean()), low, high, p_value, len(diff))


def paired_t_p_value(diff: np.ndarray) -> float:
    """Two-sided p-value of a paired t-test on the differences (scipy.stats.ttest_rel's)."""
    n = len(diff)
    t = diff.mean() / (diff.std(ddof=1) / math.sqrt(n))
    return float(2 * special.stdtr(n - 1, -abs(t)))
