"""``workflows/judge/error_rate.py``'s whole-rollout test (``update_whole``) for the robust, detection judges.

The carried ratio test: each poll's log-likelihood ratios on the grid of rate ratios, discounted by the
dispersion bound (``detection_kappa``, or ``score_kappa`` for the third judge) and clipped, the late-onset
detector, Pearson's statistic against the recent polls' ratio, and the step's own log-likelihoods for the pass.
The grid and weights are the source's own tuples, imported; every expression keeps the source's order.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from bench.judge.fast.layout import (
    ERRORS_SUM_CANDIDATE,
    ERRORS_SUM_STABLE,
    LATE_STARTS,
    LATE_WEIGHT_PLANNED,
    LATE_WEIGHT_SLACK,
    LOG_LIMIT,
    MAX_LOG_E_FAIL,
    MAX_LOG_E_PASS,
    MAX_LOG_LATE,
    PEARSON_POLLS,
    PEARSON_SUM,
    RECENT_ERRORS_CANDIDATE,
    RECENT_ERRORS_STABLE,
    RECENT_REQUESTS_CANDIDATE,
    RECENT_REQUESTS_STABLE,
    REQUESTS_SUM_CANDIDATE,
    REQUESTS_SUM_STABLE,
    SKIPPED_POLLS,
    STEP_LOG_LIKELIHOOD_SET,
    TWO_EXPONENT,
    VARIANCE_SQUARE_SUM,
    VARIANCE_SUM,
    FloatVector,
    IntVector,
)
from bench.judge.fast.numerics import log_sum_exp_shifted, py_max, py_min, py_square
from workflows.judge import error_rate as source

OFFSETS = np.asarray(source.OFFSETS, dtype=np.float64)
GRID = len(source.OFFSETS)
NULL = source.OFFSETS.index(0.0)
LOG_WEIGHTS = np.asarray([math.log(w) if w > 0 else -math.inf for w in source.WEIGHTS], dtype=np.float64)
ABOVE = np.asarray(source._ABOVE, dtype=np.int64)
BELOW = np.asarray(source._BELOW, dtype=np.int64)
CEILING = source.WOBBLE_CEILING
CEILING_POLLS = source.CEILING_PRIOR_POLLS
UCB_Z = source.KAPPA_UCB_Z
SMALL_VARIANCE = source.SMALL_POLL_VARIANCE
SCORE_Z = source.SCORE_Z
TILT_Z = source.TILT_Z
KAPPA_MAX = source.KAPPA_MAX
DISPERSION_MAX = source.DISPERSION_MAX
POLL_CAP = source.POLL_CAP_NATS
LARGE_POLL_CAP = source.LARGE_POLL_CAP_NATS
DECAY = source.RECENT_DECAY
LEVERAGE_CAP = source.LEVERAGE_CAP


@njit(cache=True)
def log_mixture(values: FloatVector, indices: IntVector, terms: FloatVector) -> float:
    """``_log_mixture``: log of the weighted sum of exp(values) over ``indices``."""
    for k in range(indices.size):
        terms[k] = values[indices[k]] + LOG_WEIGHTS[indices[k]]
    return log_sum_exp_shifted(terms, indices.size)


@njit(cache=True)
def log_e_beyond(values: FloatVector, indices: IntVector, log_share: float, terms: FloatVector) -> float:
    """``log_e_beyond``'s value: the sub-mixture over ``indices`` (chosen in Python), renormalised by its share."""
    for k in range(indices.size):
        terms[k] = values[indices[k]] + LOG_WEIGHTS[indices[k]]
    best = terms[0]
    for k in range(1, indices.size):
        if terms[k] > best:
            best = terms[k]
    if best == -math.inf:
        return -math.inf
    total = 0.0
    for k in range(indices.size):
        total += math.exp(terms[k] - best)
    return float(best + math.log(total) - log_share)


@njit(cache=True)
def log_late(late: FloatVector, terms: FloatVector) -> float:
    """``_log_late``: the late-onset detector's weighted sum over the grid ratios above the limit."""
    for k in range(ABOVE.size):
        terms[k] = late[k] + LOG_WEIGHTS[ABOVE[k]]
    return log_sum_exp_shifted(terms, ABOVE.size)


@njit(cache=True)
def log_add(a: float, b: float) -> float:
    """``_log_add``."""
    if a >= b:
        high, low = a, b
    else:
        high, low = b, a
    return high if low == -math.inf else high + math.log1p(math.exp(low - high))


@njit(cache=True)
def estimated_ratio(
    stable_requests: float, candidate_requests: float, stable_errors: float, candidate_errors: float
) -> float:
    """``_estimated_ratio`` (int sums are exact as floats below 2^53, so one version serves both uses)."""
    if stable_requests <= 0 or candidate_requests <= 0:
        return 1.0
    return ((candidate_errors + 1.0) / candidate_requests) / ((stable_errors + 1.0) / stable_requests)


@njit(cache=True)
def kappa_prior(state_float: FloatVector, state_int: IntVector, variance: float) -> tuple[float, float]:
    """(weight, estimate) as ``robust_kappa`` and ``score_kappa`` both compute them."""
    polls = state_int[PEARSON_POLLS]
    mean_variance = state_float[VARIANCE_SUM] / polls if polls else variance
    prior = CEILING_POLLS * mean_variance
    weight = prior + state_float[VARIANCE_SUM]
    estimate = py_max(0.0, (CEILING * prior + state_float[PEARSON_SUM] - polls) / weight)
    return weight, estimate


@njit(cache=True)
def robust_kappa(state_float: FloatVector, state_int: IntVector, variance: float, margin_scale: float) -> float:
    """``robust_kappa`` (``detection_kappa`` passes min(1, v / V0) as the margin's scale)."""
    polls = state_int[PEARSON_POLLS]
    weight, estimate = kappa_prior(state_float, state_int, variance)
    spread_sum = (
        polls + 2.0 * estimate * state_float[VARIANCE_SUM] + estimate * estimate * state_float[VARIANCE_SQUARE_SUM]
    )
    return estimate + margin_scale * UCB_Z * math.sqrt(2.0 * spread_sum) / weight


@njit(cache=True)
def score_kappa(
    state_float: FloatVector, state_int: IntVector, variance: float, margin_scale: float, two: float
) -> float:
    """``score_kappa``: the larger root of the score bound's quadratic, capped at KAPPA_MAX."""
    polls = state_int[PEARSON_POLLS]
    weight, estimate = kappa_prior(state_float, state_int, variance)
    c2 = 2.0 * py_square(margin_scale * SCORE_Z, two)
    a = weight * weight - c2 * state_float[VARIANCE_SQUARE_SUM]
    if a <= 0.0:
        return KAPPA_MAX
    b = estimate * weight * weight + c2 * state_float[VARIANCE_SUM]
    c = estimate * estimate * weight * weight - c2 * polls
    return py_min(KAPPA_MAX, (b + math.sqrt(py_max(0.0, b * b - a * c))) / a)


@njit(cache=True)
def poll_evidence(
    base: float, candidate_errors: int, total_errors: int, phi: float, cap: float, out: FloatVector
) -> None:
    """``_poll_evidence`` with ``robust``: discounted by phi, clipped at ``cap``."""
    for k in range(GRID):
        log_rq = base + OFFSETS[k]
        softplus = log_rq + math.log1p(math.exp(-log_rq)) if log_rq > 0 else math.log1p(math.exp(log_rq))
        out[k] = candidate_errors * log_rq - total_errors * softplus
    null = out[NULL]
    for k in range(GRID):
        out[k] = py_min(cap, (out[k] - null) / phi)


@njit(cache=True)
def update_whole(
    state_float: FloatVector,
    state_int: IntVector,
    log_likelihood: FloatVector,
    late: FloatVector,
    step_log_likelihood: FloatVector,
    stable_requests: int,
    stable_errors: int,
    candidate_requests: int,
    candidate_errors: int,
    horizon: int,
    planned: int,
    third: bool,
    params: FloatVector,
    poll: FloatVector,
    pass_poll: FloatVector,
    terms: FloatVector,
) -> None:
    """``update_whole(..., robust=True, detection=True, third=third)`` in place.

    ``late`` starts at -inf everywhere, which is what an empty ``late_log_e`` stands for in every use.
    """
    two = params[TWO_EXPONENT]
    total_errors = stable_errors + candidate_errors
    if total_errors <= 0 or stable_requests <= 0 or candidate_requests <= 0:
        if total_errors > 0:
            state_int[SKIPPED_POLLS] += 1
        return
    split = candidate_requests / stable_requests
    rq = (
        estimated_ratio(
            float(state_int[REQUESTS_SUM_STABLE]),
            float(state_int[REQUESTS_SUM_CANDIDATE]),
            float(state_int[ERRORS_SUM_STABLE]),
            float(state_int[ERRORS_SUM_CANDIDATE]),
        )
        * split
    )
    share = rq / (1.0 + rq)
    variance = total_errors * share * (1.0 - share)
    if third:
        kappa = score_kappa(state_float, state_int, variance, py_min(1.0, variance / SMALL_VARIANCE), two)
    else:
        kappa = robust_kappa(state_float, state_int, variance, py_min(1.0, variance / SMALL_VARIANCE))
    phi = py_min(DISPERSION_MAX, 1.0 + kappa * variance)
    untilted = params[LOG_LIMIT] + math.log(split)
    tilt_kappa = kappa
    cap = POLL_CAP
    if third and variance >= SMALL_VARIANCE:
        tilt_kappa = score_kappa(state_float, state_int, variance, TILT_Z / SCORE_Z, two)
        cap = LARGE_POLL_CAP
    poll_evidence(untilted + math.log1p(0.5 * tilt_kappa), candidate_errors, total_errors, phi, cap, poll)
    if tilt_kappa > 0.0:
        poll_evidence(untilted, candidate_errors, total_errors, phi, cap, pass_poll)
    else:
        pass_poll[:] = poll
    state_int[REQUESTS_SUM_STABLE] += stable_requests
    state_int[REQUESTS_SUM_CANDIDATE] += candidate_requests
    state_int[ERRORS_SUM_STABLE] += stable_errors
    state_int[ERRORS_SUM_CANDIDATE] += candidate_errors
    recent_stable_n = DECAY * state_float[RECENT_REQUESTS_STABLE] + stable_requests
    recent_candidate_n = DECAY * state_float[RECENT_REQUESTS_CANDIDATE] + candidate_requests
    recent_stable_e = DECAY * state_float[RECENT_ERRORS_STABLE] + stable_errors
    recent_candidate_e = DECAY * state_float[RECENT_ERRORS_CANDIDATE] + candidate_errors
    fitted = estimated_ratio(recent_stable_n, recent_candidate_n, recent_stable_e, recent_candidate_e) * split
    fitted_share = fitted / (1.0 + fitted)
    fitted_variance = total_errors * fitted_share * (1.0 - fitted_share)
    expected = total_errors * fitted_share
    pearson = py_square(candidate_errors - expected, two) / fitted_variance if fitted_variance > 0.0 else 1.0
    local = py_min(LEVERAGE_CAP, total_errors / (recent_stable_e + recent_candidate_e))
    overall = py_min(LEVERAGE_CAP, total_errors / (state_int[ERRORS_SUM_STABLE] + state_int[ERRORS_SUM_CANDIDATE]))
    pearson *= (1.0 - overall) / (1.0 - local)
    for k in range(GRID):
        log_likelihood[k] = log_likelihood[k] + poll[k]
    restart = state_int[LATE_STARTS] < horizon
    start = 0.0
    if third:
        start = params[LATE_WEIGHT_PLANNED] if state_int[LATE_STARTS] < planned else params[LATE_WEIGHT_SLACK]
    for k in range(ABOVE.size):
        value = log_add(late[k], start) if restart else late[k]
        late[k] = value + poll[ABOVE[k]]
    log_e_fail = log_mixture(log_likelihood, ABOVE, terms)
    log_e_pass = log_mixture(log_likelihood, BELOW, terms)
    if state_int[STEP_LOG_LIKELIHOOD_SET]:
        for k in range(GRID):
            step_log_likelihood[k] = step_log_likelihood[k] + pass_poll[k]
    else:
        for k in range(GRID):
            step_log_likelihood[k] = 0.0 + pass_poll[k]
        state_int[STEP_LOG_LIKELIHOOD_SET] = 1
    state_float[MAX_LOG_E_FAIL] = py_max(state_float[MAX_LOG_E_FAIL], log_e_fail)
    state_float[MAX_LOG_E_PASS] = py_max(state_float[MAX_LOG_E_PASS], log_e_pass)
    if restart:
        state_int[LATE_STARTS] += 1
    state_float[MAX_LOG_LATE] = py_max(state_float[MAX_LOG_LATE], log_late(late, terms))
    state_float[PEARSON_SUM] = state_float[PEARSON_SUM] + pearson
    state_int[PEARSON_POLLS] += 1
    state_float[VARIANCE_SUM] = state_float[VARIANCE_SUM] + fitted_variance
    state_float[VARIANCE_SQUARE_SUM] = state_float[VARIANCE_SQUARE_SUM] + fitted_variance * fitted_variance
    state_float[RECENT_REQUESTS_STABLE] = recent_stable_n
    state_float[RECENT_REQUESTS_CANDIDATE] = recent_candidate_n
    state_float[RECENT_ERRORS_STABLE] = recent_stable_e
    state_float[RECENT_ERRORS_CANDIDATE] = recent_candidate_e
