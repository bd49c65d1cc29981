"""``workflows/judge/latency.py``: the p95 test at the bucket edges, and ``sequential._latency``'s verdict.

Every reading of the benchmark shares one layout ending with +Inf whose finite bounds are all positive, so the
test's edges are the layout's finite bounds (``edges``), fixed for the run, and the alpha is split over all of
them. A missing bound is NaN where the source has None.
"""

from __future__ import annotations

import math

from numba import njit

from bench.judge.fast.bernstein import exceeds, variance_increment
from bench.judge.fast.layout import (
    FAIL,
    INCONCLUSIVE,
    LATENCY_LIMIT,
    LATENCY_THRESHOLD,
    LATENCY_TOTAL,
    PASS,
    REQUESTS,
    UNTESTABLE,
    FloatMatrix,
    FloatVector,
    IntMatrix,
    IntVector,
)
from workflows.judge import latency as source

P95 = source.P95
PRIOR_GUESS = source.PRIOR_GUESS
SCAN_EDGES = source.SCAN_EDGES
TOLERANCE = 1e-9
"""``evaluate``'s tolerance on the ratio limit."""


@njit(cache=True)
def start(variance: FloatMatrix, totals_int: IntMatrix, totals_buckets: IntMatrix) -> bool:
    """``new_latency_state``: False (None) until both versions have latency observations."""
    if totals_int[0, LATENCY_TOTAL] <= 0 or totals_int[1, LATENCY_TOTAL] <= 0:
        return False
    edges = variance.shape[1]
    for arm in range(2):
        total = totals_int[arm, LATENCY_TOTAL]
        for i in range(edges):
            k = totals_buckets[arm, i]
            variance[arm, i] = variance_increment(k, k, total, PRIOR_GUESS)
    return True


@njit(cache=True)
def update(
    variance: FloatMatrix,
    previous_int: IntMatrix,
    previous_buckets: IntMatrix,
    step_int: IntMatrix,
    step_buckets: IntMatrix,
) -> None:
    """``update`` (``_arm_variance`` of each version): the guess at each edge is its CDF before the poll."""
    edges = variance.shape[1]
    for arm in range(2):
        m = step_int[arm, LATENCY_TOTAL]
        if m <= 0:
            continue
        previous_total = previous_int[arm, LATENCY_TOTAL]
        scale = 1.0 / previous_total if previous_total > 0 else 0.0
        for i in range(edges):
            k = step_buckets[arm, i]
            g = previous_buckets[arm, i] * scale if previous_total > 0 else PRIOR_GUESS
            variance[arm, i] = variance[arm, i] + k - g * (2 * k - m * g)


@njit(cache=True)
def p95_bounds(
    counts: IntVector, total: int, variance: FloatVector, bounds: FloatVector, log_threshold: float
) -> tuple[float, float]:
    """``_ArmBounds.p95_bounds``: scanning out from the empirical p95, the nearest confident edges (NaN: none)."""
    if total <= 0:
        return math.nan, math.nan
    edges = variance.size
    rank = P95 * total
    center = 0
    while center < edges and counts[center] < rank:  # bisect_left
        center += 1
    lower = math.nan
    stop = max(-1, center - 1 - SCAN_EDGES)
    for i in range(center - 1, stop, -1):
        excess = (total - counts[i]) - (1.0 - P95) * total
        if exceeds(excess, variance[i], log_threshold):
            lower = bounds[i]
            break
    upper = math.nan
    for i in range(center, min(edges, center + SCAN_EDGES)):
        excess = counts[i] - P95 * total
        if exceeds(excess, variance[i], log_threshold):
            upper = bounds[i]
            break
    return lower, upper


@njit(cache=True)
def evaluate(
    variance: FloatMatrix, totals_int: IntMatrix, totals_buckets: IntMatrix, bounds: FloatVector, params: FloatVector
) -> int:
    """``evaluate``'s verdict at the step's alpha (its log threshold computed by the caller)."""
    log_threshold = params[LATENCY_THRESHOLD]
    limit = params[LATENCY_LIMIT]
    stable_low, stable_high = p95_bounds(
        totals_buckets[0], totals_int[0, LATENCY_TOTAL], variance[0], bounds, log_threshold
    )
    candidate_low, candidate_high = p95_bounds(
        totals_buckets[1], totals_int[1, LATENCY_TOTAL], variance[1], bounds, log_threshold
    )
    known_lower = not math.isnan(candidate_low) and not math.isnan(stable_high)
    if known_lower and candidate_low / stable_high >= limit * (1 - TOLERANCE):
        return FAIL
    known_upper = not math.isnan(candidate_high) and not math.isnan(stable_low)
    if known_upper and candidate_high / stable_low <= limit * (1 + TOLERANCE):
        return PASS
    return INCONCLUSIVE


@njit(cache=True)
def latency_criterion(
    started: bool,
    variance: FloatMatrix,
    totals_int: IntMatrix,
    totals_buckets: IntMatrix,
    bounds: FloatVector,
    params: FloatVector,
    min_requests: int,
    stable_lower: float,
    stable_upper: float,
    stable_beyond: bool,
) -> int:
    """``sequential._latency``'s verdict for the whole-rollout judge (``testability_once`` off).

    ``stable_lower``/``stable_upper``/``stable_beyond``: the bucket of stable's interpolated p95 (``Quantile``;
    NaN lower without one), for ``latency_resolution``: the buckets cannot test the limit there.
    """
    verdict = INCONCLUSIVE
    if started:
        tested = evaluate(variance, totals_int, totals_buckets, bounds, params)
        if totals_int[1, REQUESTS] >= min_requests:
            verdict = tested
    resolution = False
    if not math.isnan(stable_lower) and stable_lower > 0.0:
        resolution = stable_beyond or stable_upper / stable_lower > params[LATENCY_LIMIT]
    if resolution and verdict != FAIL and totals_int[0, LATENCY_TOTAL] and totals_int[1, LATENCY_TOTAL]:
        return UNTESTABLE
    return verdict
