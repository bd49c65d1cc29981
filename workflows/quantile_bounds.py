"""Distribution-free confidence bounds for a quantile, from one sorted sample (no I/O, no randomness).

The shadow gate compares p95 latencies measured on a few hundred replayed requests. The sample p95 of 400
requests is the 381st-slowest of them, and on a busy machine it moves by 20% from one replay to the next, so a
point comparison fails healthy candidates. The bounds here come from order statistics: the k-th smallest of n
independent draws lies below the true q-quantile exactly when at least k draws do, which happens with
probability P(Binomial(n, q) >= k), whatever the latency distribution. No bootstrap (no randomness to seed)
and no normal approximation (exact at every n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def binomial_cdf(n: int, p: float) -> list[float]:
    """``cdf[k]`` = P(Binomial(n, p) <= k) for k in 0..n, computed in log space so large n does not underflow."""
    if n == 0:
        return [1.0]
    log_p, log_q = math.log(p), math.log1p(-p)
    log_pmf = [
        math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * log_p + (n - k) * log_q
        for k in range(n + 1)
    ]
    top = max(log_pmf)
    weights = [math.exp(value - top) for value in log_pmf]
    scale = sum(weights)
    cdf: list[float] = []
    running = 0.0
    for weight in weights:
        running += weight / scale
        cdf.append(min(1.0, running))
    return cdf


def quantile_bounds(ordered: Sequence[float], q: float, alpha: float) -> tuple[float | None, float | None]:
    """One-sided ``1 - alpha`` lower and upper bounds for the ``q``-quantile of the population ``ordered`` came from.

    ``ordered`` must be sorted ascending. The lower bound is the largest order statistic x_(k) with
    P(Binomial(n, q) >= k) >= 1 - alpha; the upper bound the smallest x_(j) with P(Binomial(n, q) <= j - 1) >=
    1 - alpha. Either is None when the sample is too small to give it at that confidence: a test that needs
    it then has no evidence, which is the honest answer for a handful of requests.
    """
    if not 0.0 < q < 1.0 or not 0.0 < alpha < 1.0:
        raise ValueError(f"quantile_bounds: q={q} and alpha={alpha} must both be in (0, 1)")
    n = len(ordered)
    if n == 0:
        return None, None
    cdf = binomial_cdf(n, q)
    low: float | None = None
    for k in range(n, 0, -1):  # P(Bin >= k) = 1 - cdf[k - 1] >= 1 - alpha
        if cdf[k - 1] <= alpha:
            low = ordered[k - 1]
            break
    high: float | None = None
    for j in range(1, n + 1):  # P(Bin <= j - 1) = cdf[j - 1] >= 1 - alpha
        if cdf[j - 1] >= 1.0 - alpha:
            high = ordered[j - 1]
            break
    return low, high
