"""Clopper-Pearson intervals and quantiles that treat "not within 48 h" as +infinity."""

from __future__ import annotations

import math


def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p), summed in log space (n is at most a few thousand here)."""
    if p <= 0.0:
        return 1.0
    if p >= 1.0:
        return 1.0 if k >= n else 0.0
    log_p, log_q = math.log(p), math.log1p(-p)
    terms = [
        math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) + i * log_p + (n - i) * log_q
        for i in range(k + 1)
    ]
    best = max(terms)
    return min(1.0, math.exp(best) * math.fsum(math.exp(t - best) for t in terms))


def clopper_pearson(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval for a binomial proportion (bisection on the binomial CDF)."""
    if trials <= 0:
        return 0.0, 1.0
    tail = (1.0 - confidence) / 2.0

    def solve(condition_k: int, target: float, increasing: bool) -> float:
        low, high = 0.0, 1.0
        for _ in range(60):
            middle = 0.5 * (low + high)
            value = _binomial_cdf(condition_k, trials, middle)
            # _binomial_cdf is decreasing in p.
            if (value > target) == increasing:
                low = middle
            else:
                high = middle
        return 0.5 * (low + high)

    lower = 0.0 if successes == 0 else solve(successes - 1, 1.0 - tail, True)
    upper = 1.0 if successes == trials else solve(successes, tail, True)
    return lower, upper


def quantile(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of values that may contain math.inf."""
    if not values:
        return math.nan
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return ordered[index]


def median_interval(values: list[float], confidence_z: float = 1.96) -> tuple[float, float]:
    """A distribution-free 95 % interval for the median: order statistics n/2 -+ z sqrt(n)/2 (ranks, 1-based)."""
    if not values:
        return math.nan, math.nan
    ordered = sorted(values)
    n = len(ordered)
    half_width = confidence_z * math.sqrt(n) / 2.0
    low = max(1, math.floor(n / 2.0 - half_width))
    high = min(n, math.ceil(n / 2.0 + half_width) + 1)
    return ordered[low - 1], ordered[high - 1]
