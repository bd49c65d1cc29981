"""The sequential method: anytime-valid tests of the three criteria, updated at every poll.

The false-rollback budget ``criteria.alpha`` is split over the three criteria (``ALPHA_SHARES``, a union bound), so the
probability that a candidate meeting every criterion is ever rolled back by a criterion is at most alpha,
however many polls the step lasts (Ville's inequality on each test's supermartingale). Sources, per test:

* error rate: ``error_rate.py`` (Lindon, Sanden & Shirikian KDD 2022; Lindon & Malek 2022);
* latency p95: ``latency.py`` (Howard & Ramdas 2022);
* quality: ``quality.py`` (Waudby-Smith & Ramdas 2024; Howard et al. 2021).

Each criterion stays inconclusive until the candidate has ``criteria.min_requests`` requests in the step,
as the criteria promise; the tests keep accumulating evidence meanwhile. Verdicts use the running maximum of
the evidence where the test is an e-process, which is what anytime validity licenses.
"""

from __future__ import annotations

import math

from models.counters import Counters
from models.criteria import Criteria
from models.verdicts import Verdict
from workflows.judge import error_rate, latency, quality
from workflows.judge.histogram import Quantile
from workflows.judge.increments import Increment
from workflows.judge.models import (
    ArmTotals,
    CriterionResult,
    ErrorRateTestState,
    LatencyTestability,
    LatencyTestState,
    QualityTestState,
    SequentialState,
)
from workflows.judge.threshold import coarse_bucket_warning, error_ratio, p95_ratio
from workflows.judge.whole_rollout import ALPHA_SHARES as WHOLE_ALPHA_SHARES
from workflows.judge.whole_rollout import error_rate_whole, latency_resolution

ALPHA_SHARES: dict[str, float] = {"error_rate": 0.5, "latency_p95": 0.25, "quality": 0.25}
"""Shares of ``criteria.alpha`` per criterion (they sum to 1). Errors get half: it is the criterion whose
evidence arrives slowest at a small canary (a few errors per poll), while the latency and quality tests,
fed by every request, reach their targets with room to spare."""

_MAX_E_VALUE = 1e300


def new_sequential_state() -> SequentialState:
    """Statistics of a step with no data yet."""
    return SequentialState()


def _e_value(log_e: float) -> float:
    return _MAX_E_VALUE if log_e > math.log(_MAX_E_VALUE) else math.exp(log_e)


def _waiting(candidate: ArmTotals, criteria: Criteria) -> str | None:
    if candidate.requests < criteria.min_requests:
        return f"waiting for data: candidate {candidate.requests:,}/{criteria.min_requests:,} requests"
    return None


def _error_rate(
    state: SequentialState,
    steps: tuple[Increment, Increment],
    totals: tuple[ArmTotals, ArmTotals],
    criteria: Criteria,
    evidence: bool,
) -> tuple[CriterionResult, ErrorRateTestState]:
    test = state.error_rate
    limit = criteria.error_rate_ratio_max
    if test is None:
        test = error_rate.new_error_rate_state(limit)
    elif test.limit != limit:
        raise ValueError(
            f"criteria.error_rate_ratio_max changed within the step ({test.limit} -> {limit}); "
            "start a new step with new_judge_state()"
        )
    test, log_e_fail = error_rate.update(test, steps[0].requests, steps[0].errors, steps[1].requests, steps[1].errors)
    alpha = criteria.alpha * ALPHA_SHARES["error_rate"]
    log_threshold = math.log(1.0 / alpha)
    stable, candidate = totals
    ratio, note = error_ratio(stable, candidate)
    # The grid bounds only inform the reader; the verdict rests on the running maxima alone.
    lower, upper = error_rate.confidence_bounds(test, log_threshold) if evidence else (None, None)
    verdict: Verdict = "inconclusive"
    waiting = _waiting(candidate, criteria) or (None if stable.requests else "no stable traffic yet")
    if waiting:
        note = waiting
    elif test.max_log_e_fail >= log_threshold:
        verdict = "fail"
    elif test.max_log_e_pass >= log_threshold:
        verdict = "pass"
    elif stable.errors + candidate.errors == 0:
        note = "no errors on either version yet: the ratio cannot be tested"
    if test.skipped_polls:
        note = (note + "; " if note else "") + f"{test.skipped_polls} poll(s) with errors but no requests ignored"
    result = CriterionResult(
        name="error_rate",
        verdict=verdict,
        comparison="ratio",
        stable_estimate=stable.errors / stable.requests if stable.requests else None,
        candidate_estimate=candidate.errors / candidate.requests if candidate.requests else None,
        observed=ratio,
        limit=limit,
        lower_bound=lower,
        upper_bound=upper,
        e_value=_e_value(log_e_fail),
        p_value=min(1.0, math.exp(-test.max_log_e_fail)),
        samples_stable=stable.requests,
        samples_candidate=candidate.requests,
        note=note,
    )
    return result, test


def _latency(
    state: SequentialState,
    previous: tuple[ArmTotals, ArmTotals],
    steps: tuple[Increment, Increment],
    totals: tuple[ArmTotals, ArmTotals],
    criteria: Criteria,
    quantiles: tuple[Quantile | None, Quantile | None],
    *,
    whole: bool = False,
    alpha_share: float = 1.0,
    testability: LatencyTestability | None = None,
    testability_once: bool = False,
) -> tuple[CriterionResult, list[str], LatencyTestState | None]:
    test = state.latency
    test = latency.new_latency_state(*totals) if test is None else latency.update(test, previous, steps, totals)
    stable, candidate = totals
    stable_q, candidate_q = quantiles
    ratio, note = p95_ratio(stable_q, candidate_q)
    limit = criteria.latency_p95_ratio_max
    warnings: list[str] = []
    coarse = coarse_bucket_warning(stable_q, limit)
    verdict: Verdict = "inconclusive"
    lower = upper = None
    if test is None or not test.edges:
        if stable.latency_total and candidate.latency_total:
            warnings.append("latency: the two versions share no finite bucket bound; p95 cannot be compared")
        note = note or "no latency buckets to compare"
    else:
        shares = WHOLE_ALPHA_SHARES if whole else ALPHA_SHARES
        alpha = criteria.alpha * shares["latency_p95"] * alpha_share
        verdict_text, lower, upper = latency.evaluate(test, totals, limit, alpha)
        waiting = _waiting(candidate, criteria)
        if waiting:
            note = waiting
        elif verdict_text == "fail":
            verdict = "fail"
        elif verdict_text == "pass":
            verdict = "pass"
    if testability_once:
        # Issue 19: the step's decision, made once from a confidence statement, never this poll's point estimate.
        resolution = testability.note if whole and testability is not None and not testability.testable else None
    else:
        resolution = latency_resolution(stable_q, limit) if whole else None
    if resolution and verdict != "fail" and stable.latency_total and candidate.latency_total:
        # The buckets cannot establish the limit however much data comes: say so, with what would.
        verdict = "untestable"
        note = resolution
    elif coarse and verdict != "fail":
        warnings.append(coarse.replace("the interpolated ratio is a guess", "the p95 criterion cannot pass"))
        note = (note + "; " if note else "") + "buckets too coarse near the p95 to establish the ratio"
    result = CriterionResult(
        name="latency_p95",
        verdict=verdict,
        comparison="ratio",
        stable_estimate=stable_q.value if stable_q else None,
        candidate_estimate=candidate_q.value if candidate_q else None,
        observed=ratio,
        limit=limit,
        lower_bound=lower,
        upper_bound=upper,
        samples_stable=stable.latency_total,
        samples_candidate=candidate.latency_total,
        note=note,
    )
    return result, warnings, test


def _quality(
    state: SequentialState,
    previous: tuple[ArmTotals, ArmTotals],
    steps: tuple[Increment, Increment],
    totals: tuple[ArmTotals, ArmTotals],
    criteria: Criteria,
    last_stable: Counters,
    alpha_share: float = 1.0,
    *,
    whole: bool = False,
) -> tuple[CriterionResult, QualityTestState]:
    # Stable's lifetime mean before this poll is known in advance: a valid, and usually good, first guess.
    prior = last_stable.quality_sum / last_stable.quality_count if last_stable.quality_count else quality.DEFAULT_PRIOR
    test = quality.update(state.quality, previous, steps, prior)
    stable, candidate = totals
    alpha = criteria.alpha * (WHOLE_ALPHA_SHARES if whole else ALPHA_SHARES)["quality"] * alpha_share
    verdict_text, lower, upper = quality.evaluate(test, totals, criteria.quality_drop_max, alpha)
    stable_mean = stable.quality_sum / stable.quality_count if stable.quality_count else None
    candidate_mean = candidate.quality_sum / candidate.quality_count if candidate.quality_count else None
    verdict: Verdict = "inconclusive"
    note = ""
    waiting = _waiting(candidate, criteria)
    if stable_mean is None or candidate_mean is None:
        note = "no quality scores yet"
    elif waiting:
        note = waiting
    elif verdict_text == "fail":
        verdict = "fail"
    elif verdict_text == "pass":
        verdict = "pass"
    result = CriterionResult(
        name="quality",
        verdict=verdict,
        comparison="difference",
        stable_estimate=stable_mean,
        candidate_estimate=candidate_mean,
        observed=None if stable_mean is None or candidate_mean is None else candidate_mean - stable_mean,
        limit=-criteria.quality_drop_max,
        lower_bound=lower,
        upper_bound=upper,
        samples_stable=stable.quality_count,
        samples_candidate=candidate.quality_count,
        note=note,
    )
    return result, test


def sequential_criteria(
    state: SequentialState,
    *,
    previous: tuple[ArmTotals, ArmTotals],
    steps: tuple[Increment, Increment],
    totals: tuple[ArmTotals, ArmTotals],
    criteria: Criteria,
    last_stable: Counters,
    quantiles: tuple[Quantile | None, Quantile | None],
    evidence: bool = True,
    whole_rollout: bool = False,
    alpha_share: float = 1.0,
    horizon: int = 0,
    robust: bool = False,
    detection: bool = False,
    third: bool = False,
    testability: LatencyTestability | None = None,
    testability_once: bool = False,
) -> tuple[list[CriterionResult], list[str], SequentialState]:
    """Update every test with one poll and judge the three criteria.

    Args:
        state: The tests' statistics before this poll.
        previous: Accumulated (stable, candidate) increments before this poll.
        steps: This poll's (stable, candidate) increments.
        totals: Accumulated increments including this poll.
        criteria: The pre-registered criteria.
        last_stable: Stable's raw counters at the previous poll (for a prior guess fixed before this poll).
        quantiles: Interpolated (stable, candidate) p95s of ``totals``, for the estimates shown.
        evidence: False skips what only a reader needs (the error-rate ratio's grid bounds); verdicts and
            state are the same.
        whole_rollout: The whole-rollout judge (``whole_rollout.py``); False: the per-step judge of old runs.
        alpha_share: Share of the per-step budgets this step may spend (whole-rollout judge).
        horizon: Polls at which the late-onset detector may restart (whole-rollout judge).
        robust: Issue 19's judge (``JudgeState.robust``).
        detection: Issue 19's second judge (``JudgeState.detection``).
        third: Issue 19's third judge (``JudgeState.third``).
        testability: The step's p95 testability decision, once made (``JudgeState.latency_testability``).
        testability_once: The p95 says ``untestable`` from ``testability`` alone (``JudgeState.testability_once``).
    """
    margin_test = state.error_margin
    if whole_rollout:
        error_result, error_test, margin_test = error_rate_whole(
            state,
            previous,
            steps,
            totals,
            criteria,
            alpha=criteria.alpha * WHOLE_ALPHA_SHARES["error_rate"],
            alpha_share=alpha_share,
            horizon=horizon,
            evidence=evidence,
            robust=robust,
            detection=detection,
            third=third,
        )
    else:
        error_result, error_test = _error_rate(state, steps, totals, criteria, evidence)
    latency_result, warnings, latency_test = _latency(
        state,
        previous,
        steps,
        totals,
        criteria,
        quantiles,
        whole=whole_rollout,
        alpha_share=alpha_share,
        testability=testability,
        testability_once=testability_once,
    )
    quality_result, quality_test = _quality(
        state, previous, steps, totals, criteria, last_stable, alpha_share, whole=whole_rollout
    )
    next_state = SequentialState(
        error_rate=error_test, error_margin=margin_test, latency=latency_test, quality=quality_test
    )
    return [error_result, latency_result, quality_result], warnings, next_state
