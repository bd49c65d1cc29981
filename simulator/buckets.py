"""The latency bucket layout shared by the simulator's counters and the model servers' Prometheus histogram.

The judge decides "candidate p95 is at most 1.1x stable's" from bucket counts, so the buckets must be finer
than 10 % where p95s live: geometric bounds with ratio 1.075 from 5 ms to 4 s, then coarser bounds to 30 s and
``+Inf`` (100 buckets, small enough for a Prometheus scrape and a JSON payload).
"""

from __future__ import annotations

import math
from statistics import NormalDist

_RATIO = 1.075
_START_MS = 5.0
_FINE_END_MS = 4000.0
_COARSE_MS = (5000.0, 7500.0, 10000.0, 15000.0, 20000.0, 30000.0)


def _layout() -> tuple[float, ...]:
    bounds: list[float] = []
    value = _START_MS
    while value <= _FINE_END_MS:
        bounds.append(round(value, 2))
        value *= _RATIO
    bounds.extend(_COARSE_MS)
    bounds.append(math.inf)
    return tuple(bounds)


LATENCY_BOUNDS_MS: tuple[float, ...] = _layout()
"""Ascending upper bounds in milliseconds; the last is ``math.inf``."""

_Z95 = NormalDist().inv_cdf(0.95)


def lognormal_params(p50_ms: float, p95_ms: float) -> tuple[float, float]:
    """The (mu, sigma) of the lognormal whose median and 95th percentile are the given latencies."""
    mu = math.log(p50_ms)
    sigma = max(math.log(p95_ms) - mu, 0.0) / _Z95
    return mu, sigma


def bucket_probabilities(p50_ms: float, p95_ms: float) -> list[float]:
    """Probability that a lognormal latency lands in each bucket (non-cumulative, sums to 1)."""
    mu, sigma = lognormal_params(p50_ms, p95_ms)
    probs: list[float] = []
    previous = 0.0
    for bound in LATENCY_BOUNDS_MS:
        if math.isinf(bound):
            cdf = 1.0
        elif sigma == 0.0:
            cdf = 1.0 if math.log(bound) >= mu else 0.0
        else:
            cdf = NormalDist(mu, sigma).cdf(math.log(bound))
        probs.append(max(cdf - previous, 0.0))
        previous = cdf
    return probs


def bucket_index(latency_ms: float) -> int:
    """Index of the first bucket whose upper bound is >= the latency (Prometheus' ``le`` semantics)."""
    low, high = 0, len(LATENCY_BOUNDS_MS) - 1
    while low < high:
        mid = (low + high) // 2
        if LATENCY_BOUNDS_MS[mid] >= latency_ms:
            high = mid
        else:
            low = mid + 1
    return low
