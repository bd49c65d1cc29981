"""Verdicts of the gates before any traffic moves: the preflight eval gate and the shadow comparison."""

from __future__ import annotations

import math

from models.activities import LatencyLimit, PreflightResult, ShadowResult
from models.criteria import Criteria, RollbackTriggers
from models.record import GateReport

SHADOW_LATENCY_SLACK_MS = 5.0
"""Absolute slack on the shadow p95 comparison: on a few hundred loopback requests, a millisecond of jitter
would otherwise decide the ratio."""


SHADOW_ERROR_ALPHA = 0.01
"""Shadow fails on errors only with evidence: a few hundred requests cannot tell 1% from 2% by a point estimate."""

DEFAULT_LATENCY_TRIGGER: float = RollbackTriggers().latency_p95_ratio
"""The spec's p95 rollback trigger at its default, for callers that judge without a spec (tests, benchmarks)."""

SHADOW_LATENCY_ALPHA = 0.01
"""Shadow fails on latency at the limit only with evidence, at the error test's level."""


def excess_errors_p_value(stable_errors: int, candidate_errors: int, ratio: float) -> float:
    """One-sided p-value that the candidate's error rate exceeds ``ratio`` x stable's.

    Both arms have sent the same requests. Given the total E of errors, the candidate's share is
    Binomial(E, ratio / (1 + ratio)) at the boundary (the conditional test of two Poisson rates), so the p-value
    is its upper tail at the observed count.
    """
    total = stable_errors + candidate_errors
    if candidate_errors == 0:
        return 1.0
    p = ratio / (1.0 + ratio)
    return sum(math.comb(total, k) * p**k * (1 - p) ** (total - k) for k in range(candidate_errors, total + 1))


def preflight_gate(result: PreflightResult) -> GateReport:
    """The eval gate's verdict, with the numbers a reader needs to check it."""
    floor = result.baseline - result.tolerance
    return GateReport(
        name="preflight",
        passed=result.passed,
        summary=f"eval score {result.score:.4g} vs floor {floor:.4g} (baseline {result.baseline:.4g} - "
        f"tolerance {result.tolerance:g})",
        details=result.model_dump(mode="json"),
    )


def _latency_problem(result: ShadowResult, criteria: Criteria, *, tested: bool, trigger: float) -> str | None:
    """Why the candidate's p95 is too slow, or None.

    Tested (since the ``shadow-p95-test`` patch), either of two rules fails it:

    * evidence against the criterion: Mood's quantile test (``workflows.quantile_test``, run by the activity on
      the replay's latencies) says at 1% that the candidate's p95 is above the limit on stable's;
    * the hard trigger on sight: the sample p95s further apart than the spec's ``rollback_triggers`` ratio, the
      level at which a canary rolls back at once.

    The point comparison at the limit it replaces failed healthy candidates: on 400 loopback requests of a busy
    machine, the sample p95s of two equal versions differed by 21% (a clean-clone CI run's demo). Without a
    p-value (before the patch, a worker from before the test, or a replay too small for the test to reach 1%)
    the point p95s are compared at the limit, as they always were.
    """
    s95, c95 = result.stable.latency_p95_ms, result.candidate.latency_p95_ms
    ratio = criteria.latency_p95_ratio_max
    if s95 is None or c95 is None:
        return None
    p_value = result.latency_p_value
    if not tested or p_value is None:
        if c95 > s95 * ratio + SHADOW_LATENCY_SLACK_MS:
            return f"candidate p95 {c95:.1f} ms vs stable {s95:.1f} ms"
        return None
    if p_value < SHADOW_LATENCY_ALPHA:
        return f"candidate p95 {c95:.1f} ms vs stable {s95:.1f} ms: above {ratio:g}x (quantile test, p={p_value:.2g})"
    if c95 > s95 * trigger + SHADOW_LATENCY_SLACK_MS:
        return f"candidate p95 {c95:.1f} ms vs stable {s95:.1f} ms: beyond the {trigger:g}x rollback trigger"
    return None


def latency_limit(criteria: Criteria) -> LatencyLimit:
    """What the shadow activity tests the replay's latencies against: the criterion's ratio, with no slack.

    The point rule needed its 5 ms of slack because one jittery request moved a sample p95; the test's own
    allowance for sampling noise replaces it, and at exactly the limit it fails 1% of replays, as its alpha says.
    """
    return LatencyLimit(ratio=criteria.latency_p95_ratio_max)


def shadow_gate(
    result: ShadowResult,
    *,
    min_agreement: float,
    criteria: Criteria,
    tested: bool = False,
    trigger: float = DEFAULT_LATENCY_TRIGGER,
) -> GateReport:
    """Pass when enough answers agree and the candidate is no worse on errors and latency than the criteria allow.

    Errors are judged by a conditional binomial test, never by the point ratio: at shadow sample sizes one or two
    failures would otherwise fail a healthy candidate a good share of the time. Latency likewise, when
    ``tested`` (see ``_latency_problem``).
    """
    problems: list[str] = []
    if result.agreement < min_agreement:
        problems.append(
            f"agreement {result.agreement:.1%} < {min_agreement:.1%} ({result.agreed}/{result.compared} agreed)"
        )
    n = max(result.requests, 1)
    stable_rate, candidate_rate = result.stable.errors / n, result.candidate.errors / n
    p_value = excess_errors_p_value(result.stable.errors, result.candidate.errors, criteria.error_rate_ratio_max)
    if p_value < SHADOW_ERROR_ALPHA:
        problems.append(
            f"candidate errors {candidate_rate:.1%} vs stable {stable_rate:.1%} "
            f"(p={p_value:.2g} against a ratio of {criteria.error_rate_ratio_max:g})"
        )
    latency = _latency_problem(result, criteria, tested=tested, trigger=trigger)
    if latency is not None:
        problems.append(latency)
    summary = (
        f"{result.agreed}/{result.compared} answers agree ({result.agreement:.1%}, need {min_agreement:.0%}); "
        f"errors stable {result.stable.errors} / candidate {result.candidate.errors} of {result.requests}"
    )
    if problems:
        summary += "; FAILED: " + "; ".join(problems)
    return GateReport(name="shadow", passed=not problems, summary=summary, details=result.model_dump(mode="json"))
