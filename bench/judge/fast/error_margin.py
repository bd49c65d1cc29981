"""``workflows/judge/error_margin.py``: the absolute margin's variance sums and its verdict."""

from __future__ import annotations

from numba import njit

from bench.judge.fast.bernstein import bounds, variance_increment
from bench.judge.fast.layout import ERRORS, FAIL, INCONCLUSIVE, PASS, REQUESTS, FloatVector, IntMatrix
from workflows.judge import error_margin as source

PRIOR_RATE = source.PRIOR_RATE


@njit(cache=True)
def update(variance: FloatVector, previous_int: IntMatrix, step_int: IntMatrix) -> None:
    """``update``: each version's guess is its rate before the poll (``predictable_guess``)."""
    for arm in range(2):
        requests = previous_int[arm, REQUESTS]
        guess = previous_int[arm, ERRORS] / requests if requests > 0 else PRIOR_RATE
        if step_int[arm, REQUESTS] <= 0:
            continue
        errors = min(step_int[arm, ERRORS], step_int[arm, REQUESTS])
        variance[arm] = variance[arm] + variance_increment(errors, errors, step_int[arm, REQUESTS], guess)


@njit(cache=True)
def evaluate(
    variance: FloatVector, totals_int: IntMatrix, margin: float, pass_threshold: float, fail_threshold: float
) -> tuple[int, float]:
    """``evaluate``: (verdict, stable's lower bound at the fail side's level); thresholds computed by the caller."""
    stable_requests = totals_int[0, REQUESTS]
    candidate_requests = totals_int[1, REQUESTS]
    if stable_requests <= 0 or candidate_requests <= 0:
        return INCONCLUSIVE, 0.0
    stable_errors = min(totals_int[0, ERRORS], stable_requests)
    candidate_errors = min(totals_int[1, ERRORS], candidate_requests)
    stable_low, _ = bounds(stable_errors, stable_requests, variance[0], pass_threshold)
    _, candidate_high = bounds(candidate_errors, candidate_requests, variance[1], pass_threshold)
    upper = candidate_high - stable_low
    stable_low_fail, stable_high = bounds(stable_errors, stable_requests, variance[0], fail_threshold)
    candidate_low, _ = bounds(candidate_errors, candidate_requests, variance[1], fail_threshold)
    lower = candidate_low - stable_high
    if lower > margin:
        return FAIL, stable_low_fail
    if upper <= margin:
        return PASS, stable_low_fail
    return INCONCLUSIVE, stable_low_fail
