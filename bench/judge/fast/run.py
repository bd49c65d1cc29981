"""A whole run of one fast workflow judge in one compiled call, and what ``run_all`` needs from it.

``judge_run`` is ``bench.judge.judges._run_workflow_judge`` with ``WorkflowJudge.poll`` and
``workflows.judge.judge`` inlined for the two default judges: the steps' state resets (``new_judge_state`` with
the error-rate test carried, its step log-likelihoods emptied), each poll's increments, tests, triggers and
decision, and the first rollback, criterion fail and pass. ``outcome`` turns that into ``run_all``'s tuple.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
from numba import njit

from bench.judge.fast import layout
from bench.judge.fast.error_rate import ABOVE, GRID, OFFSETS
from bench.judge.fast.increments import accumulate, arm_increment
from bench.judge.fast.latency import latency_criterion
from bench.judge.fast.latency import start as latency_start
from bench.judge.fast.latency import update as latency_update
from bench.judge.fast.layout import (
    COUNTS,
    ERROR_FLOATS,
    ERROR_INTS,
    ERRORS,
    F_ERROR_STATE,
    F_LATENCY,
    F_LOG_LIKELIHOOD,
    F_MARGIN,
    F_QUALITY,
    F_QUALITY_SUMS,
    FAIL,
    HORIZON,
    LATENCY_TOTAL,
    LATENCY_TRIGGER,
    MAX_LOG_LATE,
    MIN_REQUESTS,
    PASS,
    PLANNED,
    QUALITY_COUNT,
    QUALITY_SUM,
    QUALITY_SUM_SQUARES,
    REQUESTS,
    ROLLBACK,
    STEP_LOG_LIKELIHOOD_SET,
    STEP_POLLS,
    SUMS,
    T_DECISION,
    T_ERROR_TRIGGER,
    T_ERROR_VERDICT,
    T_LATENCY_TRIGGER,
    T_LATENCY_VERDICT,
    T_QUALITY_VERDICT,
    T_REQUESTS,
    THIRD,
    TRACE_FLOATS,
    TRACE_INTS,
    UNTESTABLE,
    BoolCube,
    FloatCube,
    FloatMatrix,
    FloatVector,
    IntCube,
    IntHyper,
    IntMatrix,
    IntVector,
)
from bench.judge.fast.numerics import TWO
from bench.judge.fast.quality import DEFAULT_PRIOR, quality_criterion
from bench.judge.fast.quality import update as quality_update
from bench.judge.fast.triggers import p95_ratio, quantiles
from bench.judge.fast.whole_rollout import error_criterion, error_trigger

if TYPE_CHECKING:
    from bench.judge.scenarios import Scenario
    from bench.judge.traffic import Run

# Where ``outcome`` holds what the run's judge remembers (poll indices, -1: never).
O_ROLLBACK = 0
O_CRITERION_FAIL = 1
O_PASSED = 2
O_UNTESTABLE = 3
O_LAST_POLL = 4
OUTCOMES = 5
# Per step (``steps``): its first poll, its last poll judged, and the judge's step totals then.
S_START = 0
S_END = 1
S_STABLE_REQUESTS = 2
S_STABLE_ERRORS = 3
S_CANDIDATE_REQUESTS = 4
S_CANDIDATE_ERRORS = 5
STEP_FIELDS = 6


@njit(cache=True)
def _record_step(steps: IntMatrix, step: int, first: int, last: int, totals_int: IntMatrix) -> None:
    steps[step, S_START] = first
    steps[step, S_END] = last
    steps[step, S_STABLE_REQUESTS] = totals_int[0, REQUESTS]
    steps[step, S_STABLE_ERRORS] = totals_int[0, ERRORS]
    steps[step, S_CANDIDATE_REQUESTS] = totals_int[1, REQUESTS]
    steps[step, S_CANDIDATE_ERRORS] = totals_int[1, ERRORS]


@njit(cache=True)
def _trace(
    row: int,
    trace: IntMatrix,
    trace_float: FloatMatrix,
    decision: int,
    verdicts: tuple[int, int, int],
    triggered: tuple[bool, bool],
    totals_int: IntMatrix,
    totals_float: FloatMatrix,
    error_float: FloatVector,
    margin_variance: FloatVector,
    quality_variance: FloatVector,
    latency_started: bool,
    latency_variance: FloatMatrix,
    log_likelihood: FloatVector,
    late: FloatVector,
    step_log_likelihood: FloatVector,
    step_log_likelihood_set: bool,
) -> None:
    """One poll's row of what ``check.py`` compares (sums added left to right, as ``sum()`` does)."""
    trace[row, T_DECISION] = decision
    trace[row, T_ERROR_VERDICT] = verdicts[0]
    trace[row, T_LATENCY_VERDICT] = verdicts[1]
    trace[row, T_QUALITY_VERDICT] = verdicts[2]
    trace[row, T_ERROR_TRIGGER] = triggered[0]
    trace[row, T_LATENCY_TRIGGER] = triggered[1]
    for arm in range(2):
        for k, field in enumerate((REQUESTS, ERRORS, QUALITY_COUNT, LATENCY_TOTAL)):
            trace[row, T_REQUESTS + 4 * arm + k] = totals_int[arm, field]
        trace_float[row, F_QUALITY_SUMS + 2 * arm] = totals_float[arm, QUALITY_SUM]
        trace_float[row, F_QUALITY_SUMS + 2 * arm + 1] = totals_float[arm, QUALITY_SUM_SQUARES]
        trace_float[row, F_MARGIN + arm] = margin_variance[arm]
        trace_float[row, F_QUALITY + arm] = quality_variance[arm]
        total = 0.0
        if latency_started:
            for value in latency_variance[arm]:
                total += value
        trace_float[row, F_LATENCY + arm] = total
    for k in range(ERROR_FLOATS):
        trace_float[row, F_ERROR_STATE + k] = error_float[k]
    total = 0.0
    for value in log_likelihood:
        total += value
    trace_float[row, F_LOG_LIKELIHOOD] = total
    total = 0.0
    for value in late:
        if value != -math.inf:
            total += value
    trace_float[row, F_LOG_LIKELIHOOD + 1] = total
    total = 0.0
    if step_log_likelihood_set:
        for value in step_log_likelihood:
            total += value
    trace_float[row, F_LOG_LIKELIHOOD + 2] = total


@njit(cache=True)
def judge_run(
    requests: IntMatrix,
    errors: IntMatrix,
    sums: FloatMatrix,
    squares: FloatMatrix,
    buckets: IntCube,
    pod_requests: IntCube,
    pod_errors: IntCube,
    pod_sums: FloatCube,
    pod_squares: FloatCube,
    pod_buckets: IntHyper,
    restarts: BoolCube,
    before_requests: IntCube,
    before_errors: IntCube,
    before_sums: FloatCube,
    before_squares: FloatCube,
    before_buckets: IntHyper,
    bounds: FloatVector,
    params: FloatVector,
    settings: IntVector,
    cap_indices: IntVector,
    trigger_indices: IntVector,
    outcome: IntVector,
    steps: IntMatrix,
    trace: IntMatrix,
    trace_float: FloatMatrix,
) -> None:
    """Every poll of one run until the judge is done (a rollback), as ``_run_workflow_judge`` runs them.

    Fills ``outcome`` (O_* slots, poll indices), ``steps`` (one row per step begun) and, when ``trace`` has a row
    per poll, the trace.
    """
    polls = requests.shape[1]
    width = buckets.shape[2]
    edges = width - 1
    pods = pod_requests.shape[0]
    tracing = trace.shape[0] > 0
    min_requests = settings[MIN_REQUESTS]
    horizon = settings[HORIZON]
    planned = settings[PLANNED]
    third = settings[THIRD] != 0
    step_polls = settings[STEP_POLLS]

    error_float = np.zeros(ERROR_FLOATS)
    error_float[MAX_LOG_LATE] = -math.inf
    error_int = np.zeros(ERROR_INTS, dtype=np.int64)
    log_likelihood = np.zeros(GRID)
    late = np.full(ABOVE.size, -math.inf)
    step_log_likelihood = np.zeros(GRID)
    poll_values = np.zeros(GRID)
    pass_values = np.zeros(GRID)
    terms = np.zeros(GRID)

    totals_int = np.zeros((2, COUNTS), dtype=np.int64)
    totals_float = np.zeros((2, SUMS))
    totals_buckets = np.zeros((2, width), dtype=np.int64)
    previous_int = np.zeros((2, COUNTS), dtype=np.int64)
    previous_float = np.zeros((2, SUMS))
    previous_buckets = np.zeros((2, width), dtype=np.int64)
    step_int = np.zeros((2, COUNTS), dtype=np.int64)
    step_float = np.zeros((2, SUMS))
    step_buckets = np.zeros((2, width), dtype=np.int64)
    margin_variance = np.zeros(2)
    quality_variance = np.zeros(2)
    latency_variance = np.zeros((2, edges))
    latency_started = False

    zeros = np.zeros(width, dtype=np.int64)
    part_int = np.zeros(COUNTS, dtype=np.int64)
    part_float = np.zeros(SUMS)
    part_buckets = np.zeros(width, dtype=np.int64)
    scratch_int = np.zeros(COUNTS, dtype=np.int64)
    scratch_float = np.zeros(SUMS)
    scratch_buckets = np.zeros(width, dtype=np.int64)
    pod_totals = np.zeros(max(pods, 1))
    pod_squares_totals = np.zeros(max(pods, 1))
    pair = np.zeros(2)
    partials = np.zeros(max(pods, 2) + 2)

    outcome[O_ROLLBACK] = -1
    outcome[O_CRITERION_FAIL] = -1
    outcome[O_PASSED] = -1
    outcome[O_UNTESTABLE] = 0
    previous = -1  # the reading the step's increments count from: -1 the run's baseline, else a poll
    step = 0
    first = 0
    poll = 0
    for poll in range(polls):
        if poll and poll % step_polls == 0:
            _record_step(steps, step, first, poll - 1, totals_int)
            step += 1
            first = poll
            # new_judge_state(carried=...): the error-rate test goes on, its step log-likelihoods emptied
            # (robust); every other test and the step totals start again.
            error_int[STEP_LOG_LIKELIHOOD_SET] = 0
            step_log_likelihood[:] = 0.0
            totals_int[:] = 0
            totals_float[:] = 0.0
            totals_buckets[:] = 0
            margin_variance[:] = 0.0
            quality_variance[:] = 0.0
            latency_started = False
        previous_int[:] = totals_int
        previous_float[:] = totals_float
        previous_buckets[:] = totals_buckets
        for arm in range(2):
            arm_increment(
                arm, previous, poll, requests, errors, sums, squares, buckets,
                pod_requests, pod_errors, pod_sums, pod_squares, pod_buckets,
                restarts, before_requests, before_errors, before_sums, before_squares, before_buckets,
                zeros, step_int[arm], step_float[arm], step_buckets[arm],
                part_int, part_float, part_buckets, scratch_int, scratch_float, scratch_buckets,
                pod_totals, pod_squares_totals, pair, partials,
            )  # fmt: skip
            accumulate(totals_int[arm], totals_float[arm], totals_buckets[arm], step_int[arm], step_float[arm],
                       step_buckets[arm])  # fmt: skip
        stable_q, candidate_q = quantiles(totals_int, totals_buckets, bounds)

        error_verdict = error_criterion(
            error_float, error_int, log_likelihood, late, step_log_likelihood, margin_variance,
            previous_int, step_int, totals_int, min_requests, horizon, planned, third, params,
            cap_indices, poll_values, pass_values, terms,
        )  # fmt: skip
        if not latency_started:
            latency_started = latency_start(latency_variance, totals_int, totals_buckets)
        else:
            latency_update(latency_variance, previous_int, previous_buckets, step_int, step_buckets)
        latency_verdict = latency_criterion(
            latency_started, latency_variance, totals_int, totals_buckets, bounds, params, min_requests,
            stable_q[2] if stable_q[0] else math.nan, stable_q[3], stable_q[4],
        )  # fmt: skip
        # sequential._quality's prior: stable's lifetime mean at the previous reading (quality_count = requests).
        known = previous >= 0 and requests[0, previous] > 0
        prior = sums[0, previous] / requests[0, previous] if known else DEFAULT_PRIOR
        quality_update(quality_variance, previous_int, previous_float, step_int, step_float, prior)
        quality_verdict = quality_criterion(quality_variance, totals_int, totals_float, params, min_requests)

        armed = totals_int[1, REQUESTS] >= min_requests and totals_int[0, REQUESTS] > 0
        error_breached = armed and error_trigger(log_likelihood, trigger_indices, params, terms)
        defined, ratio = p95_ratio(stable_q, candidate_q)
        latency_breached = armed and defined and ratio > params[LATENCY_TRIGGER]

        verdicts = (error_verdict, latency_verdict, quality_verdict)
        failed = error_verdict == FAIL or latency_verdict == FAIL or quality_verdict == FAIL
        if error_breached or latency_breached or failed:
            decision = ROLLBACK
        elif error_verdict == PASS and latency_verdict == PASS and quality_verdict == PASS:
            decision = PASS
        else:
            decision = layout.CONTINUE
        if tracing:
            _trace(
                poll, trace, trace_float, decision, verdicts, (error_breached, latency_breached), totals_int,
                totals_float, error_float, margin_variance, quality_variance, latency_started, latency_variance,
                log_likelihood, late, step_log_likelihood, error_int[STEP_LOG_LIKELIHOOD_SET] != 0,
            )  # fmt: skip

        # WorkflowJudge.poll
        if outcome[O_ROLLBACK] < 0 and decision == ROLLBACK:
            outcome[O_ROLLBACK] = poll
        if outcome[O_CRITERION_FAIL] < 0 and failed:
            outcome[O_CRITERION_FAIL] = poll
        if error_verdict == UNTESTABLE or latency_verdict == UNTESTABLE or quality_verdict == UNTESTABLE:
            outcome[O_UNTESTABLE] = 1
        passing = decision != ROLLBACK
        for verdict in verdicts:
            if verdict != PASS and verdict != UNTESTABLE:
                passing = False
        if outcome[O_PASSED] < 0 and outcome[O_ROLLBACK] < 0 and passing:
            outcome[O_PASSED] = poll
        previous = poll
        if outcome[O_CRITERION_FAIL] >= 0 or outcome[O_ROLLBACK] >= 0:  # WorkflowJudge.done (whole)
            break
    _record_step(steps, step, first, poll, totals_int)
    outcome[O_LAST_POLL] = poll


FAST_JUDGES: dict[str, bool] = {"detection": False, "evidence-3": True}
"""The workflow judges the port covers, by name, and whether each is the third judge (``third``)."""


class Constants(NamedTuple):
    """A run's constants for ``judge_run``, from the workflow judge's own expressions and defaults."""

    params: FloatVector
    settings: IntVector
    cap_indices: IntVector
    trigger_indices: IntVector


def _beyond(ratio: float, limit: float) -> tuple[IntVector, float]:
    """``error_rate.log_e_beyond``'s grid points at or beyond ``ratio`` and the log of their weight share."""
    from workflows.judge import error_rate

    offset = math.log(max(ratio, limit) / limit)
    above = error_rate._ABOVE
    indices = tuple(index for index in above if error_rate.OFFSETS[index] >= offset - 1e-12) or (above[-1],)
    _, share = error_rate.log_e_beyond([0.0] * len(error_rate.OFFSETS), ratio, limit)
    assert share == sum(error_rate.WEIGHTS[index] for index in indices)
    assert all(index in above for index in indices) and len(OFFSETS) == GRID
    return np.asarray(indices, dtype=np.int64), math.log(share)


@lru_cache(maxsize=32)
def constants(steps: int, third: bool, edges: int) -> Constants:
    """The constants of a run with ``steps`` steps whose layout has ``edges`` finite bounds.

    As ``WorkflowJudge`` sets the judge up: each step spends 1 / steps of the latency and quality budgets, the
    late-onset detector's horizon is ``HORIZON_POLLS``, the criteria and triggers are the defaults.
    """
    from bench.judge.judges import CRITERIA, HORIZON_POLLS, TRIGGERS
    from bench.judge.traffic import POLLS
    from workflows.judge import error_rate
    from workflows.judge.whole_rollout import ALPHA_SHARES, MARGIN_PASS_SHARE, MARGIN_RATIO_CAP, late_share

    steps = max(1, steps)
    alpha_share = 1.0 / steps
    limit = CRITERIA.error_rate_ratio_max
    alpha = CRITERIA.alpha * ALPHA_SHARES["error_rate"]
    share = late_share(True, third)
    horizon = HORIZON_POLLS
    cap_indices, cap_log_share = _beyond(MARGIN_RATIO_CAP, limit)
    trigger_indices, trigger_log_share = _beyond(TRIGGERS.error_rate_ratio, limit)
    latency_alpha = CRITERIA.alpha * ALPHA_SHARES["latency_p95"] * alpha_share
    quality_alpha = CRITERIA.alpha * ALPHA_SHARES["quality"] * alpha_share
    planned = max(1, (max(1, horizon) - 1) // 2)
    params = np.zeros(layout.PARAMS)
    params[layout.LIMIT] = limit
    params[layout.LOG_LIMIT] = math.log(limit)
    params[layout.FAIL_MAIN] = math.log(1.0 / (alpha * (1.0 - share)))
    params[layout.FAIL_LATE] = error_rate.late_log_threshold(horizon, alpha * share)
    params[layout.PASS_RATIO] = math.log(1.0 / (alpha * (1.0 - MARGIN_PASS_SHARE)))
    params[layout.CAP_LOG_SHARE] = cap_log_share
    params[layout.TRIGGER_LOG_SHARE] = trigger_log_share
    params[layout.MARGIN] = CRITERIA.error_rate_margin
    params[layout.MARGIN_PASS_THRESHOLD] = math.log(2.0 / (alpha * MARGIN_PASS_SHARE * alpha_share))
    params[layout.MARGIN_FAIL_THRESHOLD] = math.log(3.0 / (alpha * alpha_share))
    params[layout.LATENCY_LIMIT] = CRITERIA.latency_p95_ratio_max
    params[layout.LATENCY_THRESHOLD] = math.log(2 * edges / latency_alpha)
    params[layout.QUALITY_DROP] = CRITERIA.quality_drop_max
    params[layout.QUALITY_THRESHOLD] = math.log(2.0 / quality_alpha)
    params[layout.LATENCY_TRIGGER] = TRIGGERS.latency_p95_ratio
    params[layout.LATE_WEIGHT_PLANNED] = error_rate.late_start_log_weight(0, horizon)
    params[layout.LATE_WEIGHT_SLACK] = error_rate.late_start_log_weight(planned, horizon)
    params[layout.TWO_EXPONENT] = TWO
    settings = np.zeros(layout.SETTINGS, dtype=np.int64)
    settings[MIN_REQUESTS] = CRITERIA.min_requests
    settings[HORIZON] = horizon
    settings[PLANNED] = planned
    settings[THIRD] = int(third)
    settings[layout.STEPS] = steps
    settings[STEP_POLLS] = POLLS // steps
    return Constants(params, settings, cap_indices, trigger_indices)


class FastRun(NamedTuple):
    """What ``judge_run`` filled for one run."""

    outcome: IntVector
    steps: IntMatrix
    """One row per step begun (S_* columns); rows of steps never reached are zero."""
    trace: IntMatrix
    trace_float: FloatMatrix


def judge(run: Run, scenario: Scenario, name: str, *, trace: bool = False) -> FastRun:
    """Run the fast judge ``name`` over ``run`` (with the per-poll trace when ``trace``)."""
    arrays = run.arrays
    bounds = np.asarray(run.bounds, dtype=np.float64)
    assert math.isinf(bounds[-1]) and bool(np.all(bounds[:-1] > 0.0)), "one layout ending with +Inf"
    steps = len(scenario.steps) or 1
    constants_ = constants(steps, FAST_JUDGES[name], len(bounds) - 1)
    polls = arrays.requests.shape[1]
    outcome_ = np.zeros(OUTCOMES, dtype=np.int64)
    step_rows = np.zeros((steps, STEP_FIELDS), dtype=np.int64)
    rows = polls if trace else 0
    trace_int = np.zeros((rows, TRACE_INTS), dtype=np.int64)
    trace_float = np.zeros((rows, TRACE_FLOATS))
    pod, before = arrays.pod, arrays.before
    judge_run(
        arrays.requests, arrays.errors, arrays.quality_sum, arrays.quality_sum_squares, arrays.buckets,
        pod.requests, pod.errors, pod.quality_sum, pod.quality_sum_squares, pod.buckets,
        arrays.restarted, before.requests, before.errors, before.quality_sum, before.quality_sum_squares,
        before.buckets, bounds, constants_.params, constants_.settings, constants_.cap_indices,
        constants_.trigger_indices, outcome_, step_rows, trace_int, trace_float,
    )  # fmt: skip
    return FastRun(outcome_, step_rows, trace_int, trace_float)


def _step_error(run: Run, row: IntVector) -> float:
    """``judges._step_error`` from a step's row: the worst relative error of the step totals the judge kept."""
    start_poll, poll = int(row[S_START]), int(row[S_END])
    end = int(run.scraped[poll])
    begin = int(run.scraped[start_poll - 1]) if start_poll else 0
    kept = ((int(row[S_STABLE_REQUESTS]), int(row[S_STABLE_ERRORS])),
            (int(row[S_CANDIDATE_REQUESTS]), int(row[S_CANDIDATE_ERRORS])))  # fmt: skip
    worst = 0.0
    for arm, (requests, errors) in enumerate(kept):
        for truth, measured in ((run.totals.requests[arm], requests), (run.totals.errors[arm], errors)):
            served = int(truth[end] - truth[begin])
            worst = max(worst, abs(measured - served) / max(served, 1))
    return worst


def outcome(run: Run, scenario: Scenario, name: str) -> tuple[int | None, int | None, bool, float]:
    """``run_all``'s (reported rollback minute, passed minute, untestable, totals error) for the judge ``name``."""
    result = judge(run, scenario, name)
    rollback, passed = int(result.outcome[O_ROLLBACK]), int(result.outcome[O_PASSED])
    last = int(result.outcome[O_LAST_POLL])
    step_polls = run.arrays.requests.shape[1] // (len(scenario.steps) or 1)
    begun = last // step_polls + 1
    worst = 0.0
    for step in range(begun - 1):
        worst = max(worst, _step_error(run, result.steps[step]))
    worst = max(worst, _step_error(run, result.steps[begun - 1]))
    return (
        None if rollback < 0 else run.poll_minute(rollback),
        None if passed < 0 else run.poll_minute(passed),
        bool(result.outcome[O_UNTESTABLE]),
        worst,
    )
