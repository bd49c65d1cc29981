"""workflows.gates: the preflight eval gate and the shadow comparison verdicts."""

from __future__ import annotations

import math

import pytest

from models.activities import ArmStats, PreflightResult, ShadowResult
from models.criteria import Criteria
from models.spec import ExactCompare
from workflows.gates import (
    SHADOW_LATENCY_SLACK_MS,
    excess_errors_p_value,
    latency_limit,
    preflight_gate,
    shadow_gate,
)

# ---------------------------------------------------------------- preflight


@pytest.mark.parametrize(
    ("score", "passed"),
    [(0.75, True), (0.5, True), (0.4921875, False), (0.9, True), (0.0, False)],
)
def test_preflight_floor_is_baseline_minus_tolerance(score: float, passed: bool) -> None:
    report = preflight_gate(PreflightResult(score=score, baseline=0.75, tolerance=0.25))
    assert report.name == "preflight"
    assert report.passed is passed
    assert report.details == {"score": score, "baseline": 0.75, "tolerance": 0.25}


def test_preflight_summary() -> None:
    report = preflight_gate(PreflightResult(score=0.5, baseline=0.75, tolerance=0.25))
    assert report.summary == "eval score 0.5 vs floor 0.5 (baseline 0.75 - tolerance 0.25)"


def test_preflight_zero_tolerance_needs_the_baseline() -> None:
    assert preflight_gate(PreflightResult(score=0.8, baseline=0.8, tolerance=0)).passed
    assert not preflight_gate(PreflightResult(score=0.79, baseline=0.8, tolerance=0)).passed


# ---------------------------------------------------------------- shadow


def arm(errors: int = 0, p95: float | None = 100.0, requests: int = 100) -> ArmStats:
    return ArmStats(
        requests=requests, errors=errors, latency_p50_ms=None if p95 is None else p95 / 2, latency_p95_ms=p95
    )


def shadow(
    *,
    requests: int = 100,
    compared: int = 100,
    agreed: int = 100,
    stable: ArmStats | None = None,
    candidate: ArmStats | None = None,
) -> ShadowResult:
    return ShadowResult(
        requests=requests,
        compared=compared,
        agreed=agreed,
        stable=stable or arm(requests=requests),
        candidate=candidate or arm(requests=requests),
        compare=ExactCompare(kind="exact"),
    )


CRITERIA = Criteria(error_rate_ratio_max=2.0, latency_p95_ratio_max=1.5)


def test_shadow_all_agree_passes() -> None:
    report = shadow_gate(shadow(), min_agreement=0.9, criteria=CRITERIA)
    assert report.name == "shadow"
    assert report.passed
    assert report.summary == ("100/100 answers agree (100.0%, need 90%); errors stable 0 / candidate 0 of 100")
    assert report.details["agreed"] == 100


@pytest.mark.parametrize(("agreed", "passed"), [(90, True), (89, False), (100, True), (0, False)])
def test_shadow_agreement_threshold(agreed: int, passed: bool) -> None:
    report = shadow_gate(shadow(agreed=agreed), min_agreement=0.9, criteria=CRITERIA)
    assert report.passed is passed
    if not passed:
        assert f"FAILED: agreement {agreed / 100:.1%} < 90.0% ({agreed}/100 agreed)" in report.summary


def test_shadow_agreement_is_over_compared_requests_only() -> None:
    # 10 requests failed on one side: 45 of the 50 compared agree, 90%.
    report = shadow_gate(shadow(requests=60, compared=50, agreed=45), min_agreement=0.9, criteria=CRITERIA)
    assert report.passed


def test_shadow_nothing_compared_fails() -> None:
    report = shadow_gate(shadow(compared=0, agreed=0), min_agreement=0.1, criteria=CRITERIA)
    assert not report.passed
    assert "agreement 0.0%" in report.summary


@pytest.mark.parametrize(
    ("stable_errors", "candidate_errors", "passed"),
    [
        (0, 0, True),
        (0, 1, True),
        (0, 4, True),  # 4 of 4 errors on one side: p = 0.545^4 = 0.089, no evidence yet at 1%
        (0, 8, False),  # p = 0.545^8 = 0.0078
        (3, 3, True),
        (1, 12, False),
        (10, 14, True),  # ratio 1.4 on the point estimate, far from significant
    ],
)
def test_shadow_errors_fail_only_on_evidence(stable_errors: int, candidate_errors: int, passed: bool) -> None:
    n = 1000
    result = shadow(
        requests=n,
        compared=n,
        agreed=n,
        stable=arm(errors=stable_errors, requests=n),
        candidate=arm(errors=candidate_errors, requests=n),
    )
    report = shadow_gate(result, min_agreement=0.5, criteria=Criteria())  # error ratio 1.2
    assert report.passed is passed
    assert f"errors stable {stable_errors} / candidate {candidate_errors} of {n}" in report.summary
    assert ("candidate errors" in report.summary) is not passed


@pytest.mark.parametrize(("stable", "candidate"), [(0, 0), (0, 3), (5, 1), (2, 9), (7, 20)])
def test_excess_errors_p_value_is_the_binomial_upper_tail(stable: int, candidate: int) -> None:
    total, p = stable + candidate, 1.2 / 2.2
    expected = sum(math.comb(total, k) * p**k * (1 - p) ** (total - k) for k in range(candidate, total + 1))
    assert excess_errors_p_value(stable, candidate, 1.2) == pytest.approx(expected if candidate else 1.0)


def test_excess_errors_p_value_falls_as_evidence_grows() -> None:
    values = [excess_errors_p_value(0, c, 1.2) for c in range(1, 12)]
    assert values == sorted(values, reverse=True)
    assert values[-1] < 0.01 < values[0]


@pytest.mark.parametrize(
    ("candidate_p95", "passed"),
    [(150.0, True), (150.0 + SHADOW_LATENCY_SLACK_MS, True), (155.5, False), (300.0, False), (10.0, True)],
)
def test_shadow_latency_ratio_with_slack(candidate_p95: float, passed: bool) -> None:
    result = shadow(stable=arm(p95=100.0), candidate=arm(p95=candidate_p95))
    report = shadow_gate(result, min_agreement=0.9, criteria=CRITERIA)
    assert report.passed is passed
    assert ("candidate p95" in report.summary) is not passed


def test_shadow_latency_slack_covers_loopback_jitter() -> None:
    strict = Criteria(latency_p95_ratio_max=1.0)
    assert shadow_gate(shadow(stable=arm(p95=1.0), candidate=arm(p95=5.5)), min_agreement=0.9, criteria=strict).passed
    assert not shadow_gate(
        shadow(stable=arm(p95=1.0), candidate=arm(p95=6.5)), min_agreement=0.9, criteria=strict
    ).passed


@pytest.mark.parametrize(("stable_p95", "candidate_p95"), [(None, 900.0), (100.0, None), (None, None)])
def test_shadow_latency_unknown_is_not_compared(stable_p95: float | None, candidate_p95: float | None) -> None:
    result = shadow(stable=arm(p95=stable_p95), candidate=arm(p95=candidate_p95))
    assert shadow_gate(result, min_agreement=0.9, criteria=CRITERIA).passed


def test_shadow_lists_every_failure() -> None:
    result = shadow(
        requests=20,
        compared=20,
        agreed=10,
        stable=arm(errors=0, p95=100.0, requests=20),
        candidate=arm(errors=20, p95=400.0, requests=20),
    )
    report = shadow_gate(result, min_agreement=0.9, criteria=CRITERIA)
    assert not report.passed
    failed = report.summary.split("; FAILED: ", 1)[1]
    assert failed == (
        "agreement 50.0% < 90.0% (10/20 agreed); candidate errors 100.0% vs stable 0.0% "
        "(p=0.0003 against a ratio of 2); candidate p95 400.0 ms vs stable 100.0 ms"
    )


def test_shadow_zero_requests_does_not_divide_by_zero() -> None:
    result = shadow(requests=0, compared=0, agreed=0)
    assert not shadow_gate(result, min_agreement=0.9, criteria=CRITERIA).passed


# ---------------------------------------------------------------- shadow latency tested (shadow-p95-test)


def latency_result(stable_p95: float, candidate_p95: float, p_value: float | None) -> ShadowResult:
    return ShadowResult(
        requests=400,
        compared=400,
        agreed=400,
        stable=arm(p95=stable_p95, requests=400),
        candidate=arm(p95=candidate_p95, requests=400),
        compare=ExactCompare(kind="exact"),
        latency_p_value=p_value,
    )


def test_tested_latency_passes_the_ci_failure_without_evidence() -> None:
    # The clean-clone CI run's healthy demo: point p95s 58.5 vs 48.5 ms failed 48.5 x 1.1 + 5 = 58.35.
    result = latency_result(48.5, 58.5, p_value=0.4)
    assert not shadow_gate(result, min_agreement=0.9, criteria=Criteria()).passed
    assert shadow_gate(result, min_agreement=0.9, criteria=Criteria(), tested=True).passed


def test_tested_latency_fails_on_evidence_and_says_the_p_value() -> None:
    report = shadow_gate(latency_result(48.5, 60.0, p_value=0.003), min_agreement=0.9, criteria=Criteria(), tested=True)
    assert not report.passed
    assert report.summary.endswith(
        "FAILED: candidate p95 60.0 ms vs stable 48.5 ms: above 1.1x (quantile test, p=0.003)"
    )
    # 0.01 itself is not evidence at 1%.
    assert shadow_gate(
        latency_result(48.5, 60.0, p_value=0.01), min_agreement=0.9, criteria=Criteria(), tested=True
    ).passed


@pytest.mark.parametrize(("trigger", "passed"), [(1.5, False), (2.0, True)])
def test_tested_latency_fails_beyond_the_rollback_trigger_on_sight(trigger: float, passed: bool) -> None:
    # 80 > 48.5 x 1.5 + 5 = 77.75, however weak the test's evidence.
    result = latency_result(48.5, 80.0, p_value=0.2)
    report = shadow_gate(result, min_agreement=0.9, criteria=Criteria(), tested=True, trigger=trigger)
    assert report.passed is passed
    if not passed:
        assert "beyond the 1.5x rollback trigger" in report.summary


def test_tested_latency_without_a_p_value_keeps_the_point_comparison() -> None:
    # A replay under 66 requests, or a result from a worker older than the test.
    assert not shadow_gate(latency_result(48.5, 60.0, None), min_agreement=0.9, criteria=Criteria(), tested=True).passed
    assert shadow_gate(latency_result(48.5, 55.0, None), min_agreement=0.9, criteria=Criteria(), tested=True).passed


def test_the_p_value_is_left_out_of_results_recorded_without_it() -> None:
    # Histories recorded before the patch hold results without the field; they must read back the same.
    assert "latency_p_value" not in latency_result(1.0, 1.0, None).model_dump(mode="json")
    assert latency_result(1.0, 1.0, 0.5).model_dump(mode="json")["latency_p_value"] == 0.5


def test_the_latency_limit_is_the_criterion_ratio() -> None:
    assert latency_limit(Criteria(latency_p95_ratio_max=1.25)).ratio == 1.25
