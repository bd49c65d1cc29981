"""``workflows/judge/quality.py`` and ``sequential._quality``: the mean-quality test and its verdict."""

from __future__ import annotations

from numba import njit

from bench.judge.fast.bernstein import bounds, variance_increment
from bench.judge.fast.layout import (
    FAIL,
    INCONCLUSIVE,
    PASS,
    QUALITY_COUNT,
    QUALITY_DROP,
    QUALITY_SUM,
    QUALITY_SUM_SQUARES,
    QUALITY_THRESHOLD,
    REQUESTS,
    FloatMatrix,
    FloatVector,
    IntMatrix,
)
from workflows.judge import quality as source

DEFAULT_PRIOR = source.DEFAULT_PRIOR


@njit(cache=True)
def update(
    variance: FloatVector,
    previous_int: IntMatrix,
    previous_float: FloatMatrix,
    step_int: IntMatrix,
    step_float: FloatMatrix,
    prior: float,
) -> None:
    """``update``: each version's guess is its mean before the poll, or ``prior`` (stable's lifetime mean)."""
    for arm in range(2):
        count = step_int[arm, QUALITY_COUNT]
        if count <= 0:
            continue
        previous_count = previous_int[arm, QUALITY_COUNT]
        guess = previous_float[arm, QUALITY_SUM] / previous_count if previous_count > 0 else prior
        variance[arm] = variance[arm] + variance_increment(
            step_float[arm, QUALITY_SUM], step_float[arm, QUALITY_SUM_SQUARES], count, guess
        )


@njit(cache=True)
def quality_criterion(
    variance: FloatVector, totals_int: IntMatrix, totals_float: FloatMatrix, params: FloatVector, min_requests: int
) -> int:
    """``sequential._quality``'s verdict, with ``quality.evaluate`` at the step's alpha."""
    stable_count = totals_int[0, QUALITY_COUNT]
    candidate_count = totals_int[1, QUALITY_COUNT]
    if stable_count <= 0 or candidate_count <= 0:
        return INCONCLUSIVE  # no quality scores yet
    if totals_int[1, REQUESTS] < min_requests:
        return INCONCLUSIVE
    log_threshold = params[QUALITY_THRESHOLD]
    stable_low, stable_high = bounds(totals_float[0, QUALITY_SUM], stable_count, variance[0], log_threshold)
    candidate_low, candidate_high = bounds(totals_float[1, QUALITY_SUM], candidate_count, variance[1], log_threshold)
    lower, upper = candidate_low - stable_high, candidate_high - stable_low
    drop = params[QUALITY_DROP]
    if upper < -drop:
        return FAIL
    if lower >= -drop:
        return PASS
    return INCONCLUSIVE
