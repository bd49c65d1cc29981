"""The threshold method: point estimates on the step's increments compared with the pre-registered limits.

This is the rule version 1 of the workflow uses, and the "naive" judge of the benchmark. Each criterion stays
inconclusive until the candidate has served ``criteria.min_requests`` requests in the step and stable has
some traffic; then it passes or fails on the point estimate alone. Checking such a rule at every poll
inflates its false-rollback rate far above any nominal level (the "peeking" problem the sequential method
solves); ``docs/judge-benchmark.md`` measures by how much.

The hard rollback triggers live here too because both methods share them: they are a deliberately simple
safety net on point estimates, acting as soon as the minimum sample is in.
"""

from __future__ import annotations

import math

from models.criteria import Criteria, RollbackTriggers
from workflows.judge.histogram import Quantile, interpolated_quantile
from workflows.judge.models import ArmTotals, CriterionResult, TriggerResult
from workflows.judge.trigger_evidence import TRIGGER_ALPHA, excess_error_p_value

P95 = 0.95


def _rate(errors: int, requests: int) -> float | None:
    return errors / requests if requests > 0 else None


def error_ratio(stable: ArmTotals, candidate: ArmTotals) -> tuple[float | None, str]:
    """Candidate/stable error-rate ratio; None with a note when it is undefined (no stable errors)."""
    stable_rate = _rate(stable.errors, stable.requests)
    candidate_rate = _rate(candidate.errors, candidate.requests)
    if stable_rate is None or candidate_rate is None:
        return None, "no traffic yet"
    if stable_rate == 0.0:
        if candidate_rate == 0.0:
            return 1.0, "no errors on either version"
        return math.inf, "stable had no errors while candidate had some"
    return candidate_rate / stable_rate, ""


def p95_pair(stable: ArmTotals, candidate: ArmTotals) -> tuple[Quantile | None, Quantile | None]:
    """Interpolated p95 of each arm on the accumulated histograms (None without latency data)."""
    return (
        interpolated_quantile(stable.latency_bounds, stable.latency_counts, stable.latency_total, P95),
        interpolated_quantile(candidate.latency_bounds, candidate.latency_counts, candidate.latency_total, P95),
    )


def p95_ratio(stable_q: Quantile | None, candidate_q: Quantile | None) -> tuple[float | None, str]:
    """Candidate/stable interpolated p95 ratio and a note saying when it is only a bound."""
    if stable_q is None or candidate_q is None:
        return None, "no latency observations yet"
    if stable_q.beyond_last_bound and candidate_q.beyond_last_bound:
        return None, "both p95s lie beyond the last finite bucket bound"
    if stable_q.value <= 0.0:
        return (1.0, "both p95s are 0 ms") if candidate_q.value <= 0.0 else (math.inf, "stable p95 is 0 ms")
    note = ""
    if candidate_q.beyond_last_bound:
        note = "candidate p95 lies beyond the last finite bucket bound (ratio is a lower bound)"
    elif stable_q.beyond_last_bound:
        note = "stable p95 lies beyond the last finite bucket bound (ratio is an upper bound)"
    return candidate_q.value / stable_q.value, note


def coarse_bucket_warning(stable_q: Quantile | None, limit: float) -> str | None:
    """A warning when stable's p95 sits in a bucket wider than the ratio limit: interpolation then decides."""
    if stable_q is None or stable_q.beyond_last_bound or stable_q.bucket_lower <= 0.0:
        return None
    width = stable_q.bucket_upper / stable_q.bucket_lower
    if width > limit:
        return (
            f"latency buckets too coarse for a {limit:g}x p95 ratio: stable p95 lies in bucket "
            f"({stable_q.bucket_lower:g}, {stable_q.bucket_upper:g}] ms, {width:.2f}x wide; the interpolated "
            "ratio is a guess"
        )
    return None


def _enough(candidate_requests: int, stable_requests: int, criteria: Criteria) -> bool:
    return candidate_requests >= criteria.min_requests and stable_requests > 0


def _waiting_note(candidate_requests: int, criteria: Criteria) -> str:
    return f"waiting for data: candidate {candidate_requests:,}/{criteria.min_requests:,} requests"


def error_rate_result(stable: ArmTotals, candidate: ArmTotals, criteria: Criteria) -> CriterionResult:
    """Error-rate ratio criterion on point estimates."""
    ratio, note = error_ratio(stable, candidate)
    common = {
        "name": "error_rate",
        "comparison": "ratio",
        "stable_estimate": _rate(stable.errors, stable.requests),
        "candidate_estimate": _rate(candidate.errors, candidate.requests),
        "observed": ratio,
        "limit": criteria.error_rate_ratio_max,
        "samples_stable": stable.requests,
        "samples_candidate": candidate.requests,
    }
    if not _enough(candidate.requests, stable.requests, criteria) or ratio is None:
        waiting = note or _waiting_note(candidate.requests, criteria)
        return CriterionResult(verdict="inconclusive", note=waiting, **common)
    verdict = "fail" if ratio > criteria.error_rate_ratio_max else "pass"
    return CriterionResult(verdict=verdict, note=note, **common)


def latency_result(
    stable: ArmTotals,
    candidate: ArmTotals,
    criteria: Criteria,
    quantiles: tuple[Quantile | None, Quantile | None],
) -> tuple[CriterionResult, list[str]]:
    """p95 ratio criterion on interpolated bucket quantiles, with a warning when buckets are too coarse."""
    stable_q, candidate_q = quantiles
    ratio, note = p95_ratio(stable_q, candidate_q)
    warnings = [w for w in (coarse_bucket_warning(stable_q, criteria.latency_p95_ratio_max),) if w]
    common = {
        "name": "latency_p95",
        "comparison": "ratio",
        "stable_estimate": stable_q.value if stable_q else None,
        "candidate_estimate": candidate_q.value if candidate_q else None,
        "observed": ratio,
        "limit": criteria.latency_p95_ratio_max,
        "samples_stable": stable.latency_total,
        "samples_candidate": candidate.latency_total,
    }
    if not _enough(candidate.requests, stable.requests, criteria) or ratio is None:
        waiting = note or _waiting_note(candidate.requests, criteria)
        return CriterionResult(verdict="inconclusive", note=waiting, **common), warnings
    verdict = "fail" if ratio > criteria.latency_p95_ratio_max else "pass"
    if verdict == "pass" and candidate_q is not None and candidate_q.beyond_last_bound:
        verdict = "inconclusive"
    return CriterionResult(verdict=verdict, note=note, **common), warnings


def quality_result(stable: ArmTotals, candidate: ArmTotals, criteria: Criteria) -> CriterionResult:
    """Mean-quality difference criterion on point estimates."""
    stable_mean = stable.quality_sum / stable.quality_count if stable.quality_count else None
    candidate_mean = candidate.quality_sum / candidate.quality_count if candidate.quality_count else None
    difference = None if stable_mean is None or candidate_mean is None else candidate_mean - stable_mean
    common = {
        "name": "quality",
        "comparison": "difference",
        "stable_estimate": stable_mean,
        "candidate_estimate": candidate_mean,
        "observed": difference,
        "limit": -criteria.quality_drop_max,
        "samples_stable": stable.quality_count,
        "samples_candidate": candidate.quality_count,
    }
    if not _enough(candidate.requests, stable.requests, criteria) or difference is None:
        note = "no quality scores yet" if difference is None else _waiting_note(candidate.requests, criteria)
        return CriterionResult(verdict="inconclusive", note=note, **common)
    verdict = "fail" if difference < -criteria.quality_drop_max else "pass"
    return CriterionResult(verdict=verdict, **common)


def threshold_criteria(
    stable: ArmTotals,
    candidate: ArmTotals,
    criteria: Criteria,
    quantiles: tuple[Quantile | None, Quantile | None],
) -> tuple[list[CriterionResult], list[str]]:
    """All three criteria by the threshold method, plus warnings; ``quantiles`` from ``p95_pair``."""
    latency, warnings = latency_result(stable, candidate, criteria, quantiles)
    error_rate = error_rate_result(stable, candidate, criteria)
    return [error_rate, latency, quality_result(stable, candidate, criteria)], warnings


def hard_triggers(
    stable: ArmTotals,
    candidate: ArmTotals,
    criteria: Criteria,
    triggers: RollbackTriggers,
    quantiles: tuple[Quantile | None, Quantile | None] | None = None,
    *,
    require_evidence: bool = False,
) -> list[TriggerResult]:
    """The hard rollback triggers: point-estimate ratios, armed once the minimum sample is in.

    Args:
        stable: Stable's totals over the step so far.
        candidate: Candidate's totals over the step so far.
        criteria: The pre-registered criteria (their minimum sample arms the triggers).
        triggers: The hard trigger ratios.
        quantiles: The arms' interpolated p95s when the caller already has them (saves recomputing).
        require_evidence: The error trigger also needs a significant excess (``trigger_evidence``); the
            sequential method sets it, the threshold method keeps its original rule for rollouts it started.
    """
    armed = _enough(candidate.requests, stable.requests, criteria)
    error, error_note = error_ratio(stable, candidate)
    latency, latency_note = p95_ratio(*(quantiles or p95_pair(stable, candidate)))
    results = []
    for name, ratio, limit, note in (
        ("error_rate", error, triggers.error_rate_ratio, error_note),
        ("latency_p95", latency, triggers.latency_p95_ratio, latency_note),
    ):
        breached = armed and ratio is not None and ratio > limit
        if breached and require_evidence and name == "error_rate":
            p_value = excess_error_p_value(
                stable.errors, stable.requests, candidate.errors, candidate.requests, triggers.error_rate_ratio
            )
            if p_value >= TRIGGER_ALPHA:
                breached = False
                note = f"ratio above the trigger, but not yet significant (p={p_value:.2g} >= {TRIGGER_ALPHA:g})"
        if not armed:
            note = _waiting_note(candidate.requests, criteria)
        results.append(TriggerResult(name=name, breached=breached, observed=ratio, limit=limit, note=note))
    return results
