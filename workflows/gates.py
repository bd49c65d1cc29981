"""Verdicts of the gates before any traffic moves: the preflight eval gate and the shadow comparison."""

from __future__ import annotations

import math

from models.activities import PreflightResult, ShadowResult
from models.criteria import Criteria
from models.record import GateReport

SHADOW_LATENCY_SLACK_MS = 5.0
"""Absolute slack on the shadow p95 comparison: on a few hundred loopback requests, a millisecond of jitter
would otherwise decide the ratio."""


SHADOW_ERROR_ALPHA = 0.01
"""Shadow fails on errors only with evidence: a few hundred requests cannot tell 1% from 2% by a point estimate."""


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


def shadow_gate(result: ShadowResult, *, min_agreement: float, criteria: Criteria) -> GateReport:
    """Pass when enough answers agree and the candidate is no worse on errors and latency than the criteria allow.

    Errors are judged by a conditional binomial test, never by the point ratio: at shadow sample sizes one or two
    failures would otherwise fail a healthy candidate a good share of the time.
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
    s95, c95 = result.stable.latency_p95_ms, result.candidate.latency_p95_ms
    if s95 is not None and c95 is not None and c95 > s95 * criteria.latency_p95_ratio_max + SHADOW_LATENCY_SLACK_MS:
        problems.append(f"candidate p95 {c95:.1f} ms vs stable {s95:.1f} ms")
    summary = (
        f"{result.agreed}/{result.compared} answers agree ({result.agreement:.1%}, need {min_agreement:.0%}); "
        f"errors stable {result.stable.errors} / candidate {result.candidate.errors} of {result.requests}"
    )
    if problems:
        summary += "; FAILED: " + "; ".join(problems)
    return GateReport(name="shadow", passed=not problems, summary=summary, details=result.model_dump(mode="json"))
