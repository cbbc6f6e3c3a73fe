"""The statistics of an experiment report, as pure functions of counts and arrays.

Rates get Wilson intervals and a pooled two-proportion z test; money (revenue per user, order
values) gets a t interval and Welch's test, or a percentile bootstrap for the difference; assignment
counts get a chi-square sample-ratio-mismatch test. Relative differences divide the
absolute difference and its interval by the control's value.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from recsys.evaluation.stats import bootstrap_means

CONFIDENCE = 0.95
SRM_ALPHA = 0.001  # SRM uses a strict threshold: a real split mismatch is never subtle


def z_value(confidence: float = CONFIDENCE) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


@dataclass(frozen=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Comparison:
    """Treatment minus control: absolute and relative, each with an interval, and a p-value."""

    difference: float | None
    low: float | None
    high: float | None
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    p_value: float | None

    def significant(self, alpha: float = 1 - CONFIDENCE) -> bool:
        return self.p_value is not None and self.p_value < alpha

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NO_ESTIMATE = Estimate(None, None, None)
NO_COMPARISON = Comparison(None, None, None, None, None, None, None)


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> Estimate:
    """The proportion with its Wilson score interval (sound near 0 and 1 and for small n)."""
    if trials <= 0:
        return NO_ESTIMATE
    z, p = z_value(confidence), successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials**2)) / (1 + z * z / trials)
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def two_proportions(
    control: tuple[int, int], treatment: tuple[int, int], confidence: float = CONFIDENCE
) -> Comparison:
    """(successes, trials) of each arm: a pooled z test, an unpooled (Wald) interval."""
    (x1, n1), (x2, n2) = control, treatment
    if n1 <= 0 or n2 <= 0:
        return NO_COMPARISON
    p1, p2 = x1 / n1, x2 / n2
    pooled = (x1 + x2) / (n1 + n2)
    se_pooled = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    p_value = 1.0 if se_pooled == 0 else float(2 * stats.norm.sf(abs(p2 - p1) / se_pooled))
    se = math.sqrt(p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2)
    half = z_value(confidence) * se
    return comparison(p2 - p1, p2 - p1 - half, p2 - p1 + half, p1, p_value)


def mean_interval(values: np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """The mean with a Student t interval."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return NO_ESTIMATE
    mean = float(values.mean())
    if len(values) < 2:
        return Estimate(mean, None, None)
    half = float(stats.t.ppf(0.5 + confidence / 2, len(values) - 1)) * standard_error(values)
    return Estimate(mean, mean - half, mean + half)


def standard_error(values: np.ndarray) -> float:
    return float(values.std(ddof=1) / math.sqrt(len(values)))


def welch(control: np.ndarray, treatment: np.ndarray, confidence: float = CONFIDENCE) -> Comparison:
    """Difference of means with Welch's t test and interval (unequal variances)."""
    a, b = np.asarray(control, np.float64), np.asarray(treatment, np.float64)
    if len(a) < 2 or len(b) < 2:
        return NO_COMPARISON
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    difference = float(b.mean() - a.mean())
    se = math.sqrt(va + vb)
    if se == 0:
        return comparison(difference, difference, difference, float(a.mean()),
                          1.0 if difference == 0 else 0.0)  # fmt: skip
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    p_value = float(2 * stats.t.sf(abs(difference) / se, df))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return comparison(difference, difference - half, difference + half, float(a.mean()), p_value)


def paired(
    control: np.ndarray, treatment: np.ndarray, confidence: float = CONFIDENCE
) -> Comparison:
    """Difference of means over the same units (offline replay: every visitor sees every variant)
    with a paired t test and interval."""
    a, b = np.asarray(control, np.float64), np.asarray(treatment, np.float64)
    if len(a) < 2:
        return NO_COMPARISON
    differences = b - a
    difference = float(differences.mean())
    se = standard_error(differences)
    if se == 0:
        return comparison(difference, difference, difference, float(a.mean()),
                          1.0 if difference == 0 else 0.0)  # fmt: skip
    df = len(a) - 1
    p_value = float(2 * stats.t.sf(abs(difference) / se, df))
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return comparison(difference, difference - half, difference + half, float(a.mean()), p_value)


def bootstrap(
    control: np.ndarray,
    treatment: np.ndarray,
    rounds: int = 2000,
    seed: int = 0,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Difference of means with a percentile bootstrap interval and a two-sided bootstrap p-value
    (how often the resampled difference falls on the other side of zero)."""
    a, b = np.asarray(control, np.float64), np.asarray(treatment, np.float64)
    if len(a) < 2 or len(b) < 2:
        return NO_COMPARISON
    rng = np.random.default_rng(seed)
    spread = bootstrap_means(b, rounds, rng) - bootstrap_means(a, rounds, rng)
    tail = (1 - confidence) / 2
    low, high = np.quantile(spread, [tail, 1 - tail])
    p_value = min(1.0, 2 * min(float((spread <= 0).mean()), float((spread >= 0).mean())))
    return comparison(float(b.mean() - a.mean()), float(low), float(high), float(a.mean()),
                      p_value)  # fmt: skip


def comparison(
    difference: float, low: float, high: float, baseline: float, p_value: float
) -> Comparison:
    if baseline == 0:
        return Comparison(difference, low, high, None, None, None, p_value)
    scale = abs(baseline)
    return Comparison(difference, low, high, difference / scale, low / scale, high / scale,
                      p_value)  # fmt: skip


@dataclass(frozen=True)
class SampleRatio:
    """The sample-ratio-mismatch check: observed vs expected assignment counts."""

    observed: dict[str, int]
    expected: dict[str, float]
    chi2: float
    p_value: float
    mismatch: bool

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def sample_ratio(counts: dict[str, int], shares: dict[str, float], alpha: float = SRM_ALPHA
                 ) -> SampleRatio:  # fmt: skip
    """Chi-square goodness of fit of the assignment counts to the configured shares."""
    total = sum(counts.values())
    weight = sum(shares.values())
    expected = {name: total * share / weight for name, share in shares.items()}
    if total == 0 or len(counts) < 2:
        return SampleRatio(dict(counts), expected, 0.0, 1.0, False)
    observed = np.array([counts.get(name, 0) for name in shares], np.float64)
    chi2, p_value = stats.chisquare(observed, np.array(list(expected.values())))
    return SampleRatio(dict(counts), expected, float(chi2), float(p_value), bool(p_value < alpha))


def sign_test(wins: int, losses: int) -> float:
    """Two-sided binomial test of wins vs losses (ties left out): the interleaving preference."""
    if wins + losses == 0:
        return 1.0
    return float(stats.binomtest(wins, wins + losses, 0.5).pvalue)
