"""Interpolated p95s (``histogram.interpolated_quantile``, ``threshold.p95_ratio``) and the hard latency trigger.

The hard error trigger of the robust judges is the carried test's evidence (``whole_rollout.error_trigger``);
the point-estimate ratio and binomial test ``threshold.hard_triggers`` computes for it only feed its note.
"""

from __future__ import annotations

import math

from numba import njit

from bench.judge.fast.layout import LATENCY_TOTAL, FloatVector, IntMatrix, IntVector

P95 = 0.95
"""threshold.P95."""


@njit(cache=True)
def p95(counts: IntVector, total: int, bounds: FloatVector) -> tuple[bool, float, float, float, bool]:
    """``interpolated_quantile(bounds, counts, total, 0.95)``: (present, value, bucket lower, upper, beyond)."""
    if total <= 0 or bounds.size == 0:
        return False, 0.0, 0.0, 0.0, False
    rank = P95 * total
    previous_bound = 0.0
    previous_count = 0
    for i in range(bounds.size):
        bound = bounds[i]
        count = counts[i]
        if count >= rank and count > previous_count:
            if math.isinf(bound):
                return True, previous_bound, previous_bound, bound, True
            lower = min(previous_bound, bound)
            value = lower + (bound - lower) * (rank - previous_count) / (count - previous_count)
            return True, value, lower, bound, False
        previous_bound = bound
        previous_count = count
    last_finite = 0.0
    for i in range(bounds.size - 1, -1, -1):
        if math.isfinite(bounds[i]):
            last_finite = bounds[i]
            break
    return True, last_finite, last_finite, math.inf, True


@njit(cache=True)
def p95_ratio(
    stable: tuple[bool, float, float, float, bool], candidate: tuple[bool, float, float, float, bool]
) -> tuple[bool, float]:
    """``p95_ratio``'s ratio: (defined, candidate p95 / stable p95)."""
    if not stable[0] or not candidate[0]:
        return False, 0.0
    if stable[4] and candidate[4]:
        return False, 0.0
    if stable[1] <= 0.0:
        return True, (1.0 if candidate[1] <= 0.0 else math.inf)
    return True, candidate[1] / stable[1]


@njit(cache=True)
def quantiles(
    totals_int: IntMatrix, totals_buckets: IntMatrix, bounds: FloatVector
) -> tuple[tuple[bool, float, float, float, bool], tuple[bool, float, float, float, bool]]:
    """``p95_pair`` on the step's accumulated histograms."""
    return (
        p95(totals_buckets[0], totals_int[0, LATENCY_TOTAL], bounds),
        p95(totals_buckets[1], totals_int[1, LATENCY_TOTAL], bounds),
    )
