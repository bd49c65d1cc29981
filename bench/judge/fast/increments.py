"""``workflows/judge/increments.py`` for the benchmark's readings: one layout, quality scored on every request.

What the port keeps: a reading whose counters went down is a restart counted from zero (``_went_down``,
``_restarted``); per-pod series are differenced pod by pod and summed, quality sums with ``math.fsum``
(``_sum_increments``); a pod's ``before_restart`` counts against the previous reading, then the new process'
counts (``_across_restart``). What it leaves out, because the benchmark's readings never have it: bucket layout
changes, a series appearing or disappearing, histograms without +Inf, readings without latency.

A reading is given as its arrays and a poll; poll -1 is the step's baseline before the first poll of the run
(every counter zero, no series), as ``bench.judge.traffic.baseline`` builds it.
"""

from __future__ import annotations

from numba import njit

from bench.judge.fast.layout import (
    ERRORS,
    LATENCY_TOTAL,
    QUALITY_COUNT,
    QUALITY_SUM,
    QUALITY_SUM_SQUARES,
    REQUESTS,
    RESET,
    BoolCube,
    FloatCube,
    FloatMatrix,
    FloatVector,
    IntCube,
    IntHyper,
    IntMatrix,
    IntVector,
)
from bench.judge.fast.numerics import fsum, py_max

REL_TOL = 1e-9
"""increments._REL_TOL."""


@njit(cache=True)
def went_down(
    old_requests: int,
    old_errors: int,
    old_sum: float,
    old_squares: float,
    old_buckets: IntVector,
    requests: int,
    errors: int,
    total: float,
    squares: float,
    buckets: IntVector,
) -> bool:
    """``_went_down`` (same layout; quality_count is the requests)."""
    if requests < old_requests or errors < old_errors:  # quality_count is the requests
        return True
    slack = REL_TOL * py_max(1.0, float(old_requests))
    if total < old_sum - slack:
        return True
    if squares < old_squares - slack:
        return True
    for i in range(buckets.size):  # noqa: SIM110 (a loop numba compiles to a plain one)
        if buckets[i] < old_buckets[i]:
            return True
    return False


@njit(cache=True)
def restarted(
    requests: int,
    errors: int,
    total: float,
    squares: float,
    buckets: IntVector,
    out_int: IntVector,
    out_float: FloatVector,
    out_buckets: IntVector,
) -> None:
    """``_restarted``: everything the new counters hold."""
    out_int[REQUESTS] = requests
    out_int[ERRORS] = errors
    out_int[QUALITY_COUNT] = requests
    out_int[LATENCY_TOTAL] = buckets[buckets.size - 1]
    out_int[RESET] = 1
    out_float[QUALITY_SUM] = total
    out_float[QUALITY_SUM_SQUARES] = squares
    out_buckets[:] = buckets


@njit(cache=True)
def difference(
    old_requests: int,
    old_errors: int,
    old_sum: float,
    old_squares: float,
    old_buckets: IntVector,
    requests: int,
    errors: int,
    total: float,
    squares: float,
    buckets: IntVector,
    out_int: IntVector,
    out_float: FloatVector,
    out_buckets: IntVector,
) -> None:
    """``increment`` of one series without ``before_restart``: a restart, or the plain difference."""
    if went_down(
        old_requests, old_errors, old_sum, old_squares, old_buckets, requests, errors, total, squares, buckets
    ):
        restarted(requests, errors, total, squares, buckets, out_int, out_float, out_buckets)
        return
    last = buckets.size - 1
    for i in range(buckets.size):
        out_buckets[i] = buckets[i] - old_buckets[i]
    latency_total = buckets[last] - old_buckets[last]
    out_int[REQUESTS] = requests - old_requests
    out_int[ERRORS] = errors - old_errors
    out_int[QUALITY_COUNT] = requests - old_requests
    out_int[LATENCY_TOTAL] = latency_total if latency_total >= out_buckets[last] else out_buckets[last]
    out_int[RESET] = 0
    out_float[QUALITY_SUM] = py_max(0.0, total - old_sum)
    out_float[QUALITY_SUM_SQUARES] = py_max(0.0, squares - old_squares)


@njit(cache=True)
def across_restart(
    old_requests: int,
    old_errors: int,
    old_sum: float,
    old_squares: float,
    old_buckets: IntVector,
    before_requests: int,
    before_errors: int,
    before_sum: float,
    before_squares: float,
    before_buckets: IntVector,
    requests: int,
    errors: int,
    total: float,
    squares: float,
    buckets: IntVector,
    out_int: IntVector,
    out_float: FloatVector,
    out_buckets: IntVector,
    scratch_int: IntVector,
    scratch_float: FloatVector,
    scratch_buckets: IntVector,
    pair: FloatVector,
    partials: FloatVector,
) -> None:
    """``_across_restart``: up to the old process' last sample, then the new process' counts."""
    restarted(requests, errors, total, squares, buckets, out_int, out_float, out_buckets)
    if went_down(
        old_requests,
        old_errors,
        old_sum,
        old_squares,
        old_buckets,
        before_requests,
        before_errors,
        before_sum,
        before_squares,
        before_buckets,
    ):
        return
    difference(
        old_requests,
        old_errors,
        old_sum,
        old_squares,
        old_buckets,
        before_requests,
        before_errors,
        before_sum,
        before_squares,
        before_buckets,
        scratch_int,
        scratch_float,
        scratch_buckets,
    )
    # _sum_increments([increment(previous, before), after]): ints added, floats by fsum in that order.
    for field in (REQUESTS, ERRORS, QUALITY_COUNT, LATENCY_TOTAL):
        out_int[field] = scratch_int[field] + out_int[field]
    out_int[RESET] = 1
    for i in range(out_buckets.size):
        out_buckets[i] = scratch_buckets[i] + out_buckets[i]
    for field in (QUALITY_SUM, QUALITY_SUM_SQUARES):
        pair[0] = scratch_float[field]
        pair[1] = out_float[field]
        out_float[field] = fsum(pair, 2, partials)


@njit(cache=True)
def accumulate(
    totals_int: IntVector,
    totals_float: FloatVector,
    totals_buckets: IntVector,
    step_int: IntVector,
    step_float: FloatVector,
    step_buckets: IntVector,
) -> None:
    """``accumulate`` on the layout every reading shares (an empty step total takes the increment's histogram)."""
    totals_int[REQUESTS] = totals_int[REQUESTS] + step_int[REQUESTS]
    totals_int[ERRORS] = totals_int[ERRORS] + step_int[ERRORS]
    totals_int[QUALITY_COUNT] = totals_int[QUALITY_COUNT] + step_int[QUALITY_COUNT]
    totals_int[LATENCY_TOTAL] = totals_int[LATENCY_TOTAL] + step_int[LATENCY_TOTAL]
    totals_int[RESET] = totals_int[RESET] + step_int[RESET]
    for i in range(totals_buckets.size):
        totals_buckets[i] = totals_buckets[i] + step_buckets[i]
    totals_float[QUALITY_SUM] = totals_float[QUALITY_SUM] + step_float[QUALITY_SUM]
    totals_float[QUALITY_SUM_SQUARES] = totals_float[QUALITY_SUM_SQUARES] + step_float[QUALITY_SUM_SQUARES]


@njit(cache=True)
def arm_increment(
    arm: int,
    previous: int,
    poll: int,
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
    zeros: IntVector,
    out_int: IntVector,
    out_float: FloatVector,
    out_buckets: IntVector,
    part_int: IntVector,
    part_float: FloatVector,
    part_buckets: IntVector,
    scratch_int: IntVector,
    scratch_float: FloatVector,
    scratch_buckets: IntVector,
    pod_totals: FloatVector,
    pod_squares_totals: FloatVector,
    pair: FloatVector,
    partials: FloatVector,
) -> None:
    """``increment(previous reading, reading at poll)`` of one version; ``previous`` -1 is the baseline.

    With pods, both readings have series (the baseline has none, so the first poll of the run differences the
    sums): each pod's increment, then ``_sum_increments`` over them.
    """
    pods = pod_requests.shape[0]
    if pods == 0 or previous < 0:
        if previous < 0:
            difference(0, 0, 0.0, 0.0, zeros, requests[arm, poll], errors[arm, poll], sums[arm, poll],
                       squares[arm, poll], buckets[arm, poll], out_int, out_float, out_buckets)  # fmt: skip
        else:
            difference(requests[arm, previous], errors[arm, previous], sums[arm, previous], squares[arm, previous],
                       buckets[arm, previous], requests[arm, poll], errors[arm, poll], sums[arm, poll],
                       squares[arm, poll], buckets[arm, poll], out_int, out_float, out_buckets)  # fmt: skip
        return
    out_int[:] = 0
    out_buckets[:] = 0
    for pod in range(pods):
        if restarts[pod, arm, poll]:
            across_restart(
                pod_requests[pod, arm, previous], pod_errors[pod, arm, previous], pod_sums[pod, arm, previous],
                pod_squares[pod, arm, previous], pod_buckets[pod, arm, previous],
                before_requests[pod, arm, poll], before_errors[pod, arm, poll], before_sums[pod, arm, poll],
                before_squares[pod, arm, poll], before_buckets[pod, arm, poll],
                pod_requests[pod, arm, poll], pod_errors[pod, arm, poll], pod_sums[pod, arm, poll],
                pod_squares[pod, arm, poll], pod_buckets[pod, arm, poll],
                part_int, part_float, part_buckets, scratch_int, scratch_float, scratch_buckets, pair, partials,
            )  # fmt: skip
        else:
            difference(
                pod_requests[pod, arm, previous], pod_errors[pod, arm, previous], pod_sums[pod, arm, previous],
                pod_squares[pod, arm, previous], pod_buckets[pod, arm, previous],
                pod_requests[pod, arm, poll], pod_errors[pod, arm, poll], pod_sums[pod, arm, poll],
                pod_squares[pod, arm, poll], pod_buckets[pod, arm, poll],
                part_int, part_float, part_buckets,
            )  # fmt: skip
        for field in (REQUESTS, ERRORS, QUALITY_COUNT, LATENCY_TOTAL):
            out_int[field] = out_int[field] + part_int[field]
        if part_int[RESET]:
            out_int[RESET] = 1
        for i in range(out_buckets.size):
            out_buckets[i] = out_buckets[i] + part_buckets[i]
        pod_totals[pod] = part_float[QUALITY_SUM]
        pod_squares_totals[pod] = part_float[QUALITY_SUM_SQUARES]
    # math.fsum is exactly rounded, so the order of the series (sorted by name in the source) cannot matter.
    out_float[QUALITY_SUM] = fsum(pod_totals, pods, partials)
    out_float[QUALITY_SUM_SQUARES] = fsum(pod_squares_totals, pods, partials)
