"""Quantiles from cumulative latency buckets, the way Prometheus' ``histogram_quantile`` computes them.

Only the threshold method and the hard triggers use interpolated quantiles: interpolation inside a bucket
assumes a uniform spread the data cannot confirm, so the sequential method works at bucket edges instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quantile:
    """An interpolated quantile and the bucket it fell in."""

    value: float
    bucket_lower: float
    bucket_upper: float
    beyond_last_bound: bool
    """True when the quantile lies above the last finite bound: ``value`` is then only a lower bound."""


def interpolated_quantile(bounds: list[float], counts: list[int], total: int, q: float) -> Quantile | None:
    """The ``q`` quantile by linear interpolation inside its bucket; None without observations.

    Args:
        bounds: Ascending upper bounds, the last possibly infinite.
        counts: Cumulative counts at each bound.
        total: Observations in the histogram (may exceed the last count when there is no +Inf bucket).
        q: The quantile, in (0, 1).
    """
    if total <= 0 or not bounds:
        return None
    rank = q * total
    previous_bound, previous_count = 0.0, 0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank and count > previous_count:
            if math.isinf(bound):
                return Quantile(previous_bound, previous_bound, bound, beyond_last_bound=True)
            lower = min(previous_bound, bound)
            value = lower + (bound - lower) * (rank - previous_count) / (count - previous_count)
            return Quantile(value, lower, bound, beyond_last_bound=False)
        previous_bound, previous_count = bound, count
    last_finite = next((b for b in reversed(bounds) if math.isfinite(b)), 0.0)
    return Quantile(last_finite, last_finite, math.inf, beyond_last_bound=True)
