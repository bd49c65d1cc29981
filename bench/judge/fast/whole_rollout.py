"""``workflows/judge/whole_rollout.py``'s error criterion (``error_rate_whole``) and the hard error trigger's
evidence (``error_trigger_evidence``), for the robust judges.

Only the verdict is computed: the notes, estimates and bounds a reader sees are left out.
"""

from __future__ import annotations

from numba import njit

from bench.judge.fast import error_margin
from bench.judge.fast.error_rate import BELOW, log_e_beyond, log_mixture, update_whole
from bench.judge.fast.layout import (
    CAP_LOG_SHARE,
    ERRORS,
    FAIL,
    FAIL_LATE,
    FAIL_MAIN,
    INCONCLUSIVE,
    LIMIT,
    MARGIN,
    MARGIN_FAIL_THRESHOLD,
    MARGIN_PASS_THRESHOLD,
    MAX_LOG_E_FAIL,
    MAX_LOG_LATE,
    PASS,
    PASS_RATIO,
    REQUESTS,
    STEP_LOG_LIKELIHOOD_SET,
    TRIGGER_LOG_SHARE,
    FloatVector,
    IntMatrix,
    IntVector,
)


@njit(cache=True)
def error_criterion(
    state_float: FloatVector,
    state_int: IntVector,
    log_likelihood: FloatVector,
    late: FloatVector,
    step_log_likelihood: FloatVector,
    margin_variance: FloatVector,
    previous_int: IntMatrix,
    step_int: IntMatrix,
    totals_int: IntMatrix,
    min_requests: int,
    horizon: int,
    planned: int,
    third: bool,
    params: FloatVector,
    cap_indices: IntVector,
    poll: FloatVector,
    pass_poll: FloatVector,
    terms: FloatVector,
) -> int:
    """``error_rate_whole(..., robust=True, detection=True, third=third)``: updates the tests, returns the verdict."""
    update_whole(
        state_float,
        state_int,
        log_likelihood,
        late,
        step_log_likelihood,
        step_int[0, REQUESTS],
        step_int[0, ERRORS],
        step_int[1, REQUESTS],
        step_int[1, ERRORS],
        horizon,
        planned,
        third,
        params,
        poll,
        pass_poll,
        terms,
    )
    error_margin.update(margin_variance, previous_int, step_int)
    fail_main = params[FAIL_MAIN]
    ratio_fail = state_float[MAX_LOG_E_FAIL] >= fail_main or state_float[MAX_LOG_LATE] >= params[FAIL_LATE]
    ratio_pass = (
        state_int[STEP_LOG_LIKELIHOOD_SET] != 0 and log_mixture(step_log_likelihood, BELOW, terms) >= params[PASS_RATIO]
    )
    capped = log_e_beyond(log_likelihood, cap_indices, params[CAP_LOG_SHARE], terms)
    beyond_cap = capped >= fail_main - params[CAP_LOG_SHARE]
    margin = params[MARGIN]
    margin_verdict, stable_lower = error_margin.evaluate(
        margin_variance, totals_int, margin, params[MARGIN_PASS_THRESHOLD], params[MARGIN_FAIL_THRESHOLD]
    )
    limit = params[LIMIT]
    ratio_binds = margin <= 0.0 or (limit > 1.0 and stable_lower * (limit - 1.0) >= margin)
    if totals_int[1, REQUESTS] < min_requests or not totals_int[0, REQUESTS]:
        return INCONCLUSIVE
    if beyond_cap or (ratio_fail and (ratio_binds or margin_verdict == FAIL)):
        return FAIL
    if ratio_pass or (margin > 0.0 and margin_verdict == PASS and not (third and ratio_binds)):
        return PASS
    return INCONCLUSIVE


@njit(cache=True)
def error_trigger(
    log_likelihood: FloatVector, trigger_indices: IntVector, params: FloatVector, terms: FloatVector
) -> bool:
    """``error_trigger_evidence``'s breach: the sub-mixture beyond the trigger ratio crosses the carried test's
    threshold divided by its share (the caller arms it only once the minimum sample is in)."""
    value = log_e_beyond(log_likelihood, trigger_indices, params[TRIGGER_LOG_SHARE], terms)
    return bool(value >= params[FAIL_MAIN] - params[TRIGGER_LOG_SHARE])
