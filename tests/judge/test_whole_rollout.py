"""The whole-rollout judge (ADR 13): a pass without errors, untestable buckets, carried evidence, late onsets."""

from __future__ import annotations

import math

import numpy as np

from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from tests.judge.helpers import COARSE_BOUNDS, Arm, verdicts
from workflows.judge import Judgement, JudgeState, error_rate, judge, new_judge_state
from workflows.judge.error_margin import evaluate
from workflows.judge.models import ArmTotals, ErrorMarginState

CRITERIA, TRIGGERS = Criteria(), RollbackTriggers()


def _start(stable: Arm, candidate: Arm, *, whole: bool = True, carried: JudgeState | None = None) -> JudgeState:
    return new_judge_state(
        stable.reading(),
        candidate.reading(),
        method="sequential",
        whole_rollout=whole,
        alpha_share=0.25 if whole else 1.0,
        horizon_polls=576 if whole else 0,
        carried=carried,
    )


def _poll(state: JudgeState, stable: Counters, candidate: Counters, criteria: Criteria = CRITERIA) -> Judgement:
    return judge(state, stable=stable, candidate=candidate, criteria=criteria, triggers=TRIGGERS)


def _run(
    state: JudgeState, stable: Arm, candidate: Arm, polls: int, *, error_rate: float, canary: int = 1_500, **kw: float
) -> list[Judgement]:
    judgements = []
    for _ in range(polls):
        judgement = _poll(
            state, stable.serve(30_000, error_rate=error_rate), candidate.serve(canary, error_rate=error_rate, **kw)
        )
        judgements.append(judgement)
        state = judgement.state
    return judgements


def test_a_service_without_errors_passes_on_the_absolute_margin() -> None:
    stable, candidate = Arm(), Arm()
    judgements = _run(_start(stable, candidate), stable, candidate, 40, error_rate=0.0)
    final = judgements[-1]
    assert final.criteria[0].verdict == "pass", final.criteria[0].note
    assert "absolute margin" in final.criteria[0].note
    assert final.decision == "pass"
    # The per-step judge of old runs cannot: no errors, no evidence about a ratio.
    old_stable, old_candidate = Arm(), Arm()
    old = _run(_start(old_stable, old_candidate, whole=False), old_stable, old_candidate, 40, error_rate=0.0)
    assert old[-1].criteria[0].verdict == "inconclusive"


def test_without_a_margin_a_service_without_errors_stays_inconclusive() -> None:
    stable, candidate = Arm(), Arm()
    criteria = Criteria(error_rate_margin=0.0)
    state = _start(stable, candidate)
    for _ in range(40):
        judgement = _poll(state, stable.serve(30_000, error_rate=0.0), candidate.serve(1_500, error_rate=0.0), criteria)
        state = judgement.state
    assert judgement.criteria[0].verdict == "inconclusive"
    assert "no absolute margin" in judgement.criteria[0].note


def test_margin_bounds_pass_a_clean_candidate_and_fail_a_clearly_worse_one() -> None:
    clean = (ArmTotals(requests=100_000, errors=0), ArmTotals(requests=50_000, errors=0))
    verdict = evaluate(ErrorMarginState(), clean, 0.001, alpha_pass=0.01, alpha_fail=0.01)
    assert verdict.verdict == "pass"
    assert verdict.upper is not None and verdict.upper <= 0.001
    # 2 % vs 0 %: the variance sums of per-request indicators, as update() would accumulate them.
    worse = (ArmTotals(requests=100_000, errors=0), ArmTotals(requests=50_000, errors=1_000))
    state = ErrorMarginState(stable_variance=0.0, candidate_variance=1_000 * 0.98**2 + 49_000 * 0.02**2)
    verdict = evaluate(state, worse, 0.001, alpha_pass=0.01, alpha_fail=0.01)
    assert verdict.verdict == "fail"
    assert verdict.lower is not None and verdict.lower > 0.001


def test_coarse_buckets_make_the_p95_untestable_with_the_resolution_needed() -> None:
    stable, candidate = Arm(bounds=COARSE_BOUNDS), Arm(bounds=COARSE_BOUNDS)
    judgements = _run(_start(stable, candidate), stable, candidate, 30, error_rate=0.01)
    latency = judgements[-1].criteria[1]
    assert latency.verdict == "untestable"
    assert "at most 1.1x apart" in latency.note
    assert all(j.decision != "rollback" for j in judgements)
    # The other criteria still decide: with the p95 untestable, the rest passes.
    assert {name: v for name, v in verdicts(judgements[-1]).items() if name != "latency_p95"} == {
        "error_rate": "pass",
        "quality": "pass",
    }


def test_coarse_buckets_still_fail_a_regression_wider_than_a_bucket() -> None:
    stable, candidate = Arm(bounds=COARSE_BOUNDS), Arm(bounds=COARSE_BOUNDS)
    judgements = _run(_start(stable, candidate), stable, candidate, 30, error_rate=0.01, latency_scale=4.0)
    assert judgements[-1].criteria[1].verdict == "fail"


def test_error_evidence_is_carried_to_the_next_step() -> None:
    stable, candidate = Arm(), Arm()
    first = _run(_start(stable, candidate), stable, candidate, 60, error_rate=0.01)
    carried = first[-1].state
    assert carried.sequential is not None and carried.sequential.error_rate is not None
    assert first[-1].criteria[0].verdict == "pass"
    second_state = _start(stable, candidate, carried=carried)
    assert second_state.sequential is not None
    assert second_state.sequential.error_rate == carried.sequential.error_rate
    # The step still waits for its own min_requests before any verdict.
    judgement = _poll(second_state, stable.serve(1_000), candidate.serve(100))
    assert judgement.criteria[0].verdict == "inconclusive"
    judgement = _poll(judgement.state, stable.serve(30_000), candidate.serve(1_500))
    assert judgement.criteria[0].verdict == "pass"
    # The per-step judge starts afresh.
    fresh = _start(stable, candidate, whole=False, carried=carried)
    assert fresh.sequential is not None and fresh.sequential.error_rate is None


def test_a_late_regression_after_a_healthy_day_is_caught_by_the_restarting_detector() -> None:
    stable, candidate = Arm(), Arm()
    state = _start(stable, candidate)
    healthy = _run(state, stable, candidate, 288, error_rate=0.01, canary=300)
    assert all(j.decision != "rollback" for j in healthy)
    state = healthy[-1].state
    polls = 0
    while True:
        polls += 1
        judgement = _poll(state, stable.serve(30_000, error_rate=0.01), candidate.serve(300, error_rate=0.02))
        state = judgement.state
        if judgement.criteria[0].verdict == "fail" or polls > 60:
            break
    assert judgement.criteria[0].verdict == "fail"
    assert "late-onset" in judgement.criteria[0].note
    assert polls <= 24  # two hours of 5-minute polls


def test_dispersion_is_one_on_binomial_splits_and_grows_with_wobble() -> None:
    rng = np.random.default_rng(7)
    binomial = error_rate.new_error_rate_state(1.2)
    wobbly = error_rate.new_error_rate_state(1.2)
    for _ in range(200):
        stable_errors = int(rng.binomial(22_500, 0.02))
        binomial = error_rate.update_whole(
            binomial, 22_500, stable_errors, 7_500, int(rng.binomial(7_500, 0.02)), horizon=576
        )
        rates = 0.02 * rng.gamma(1 / 0.3**2, 0.3**2, size=2)
        wobbly = error_rate.update_whole(
            wobbly,
            22_500,
            int(rng.binomial(22_500, rates[0])),
            7_500,
            int(rng.binomial(7_500, rates[1])),
            horizon=576,
        )
    variance = 600 * 0.25 * 0.75
    assert error_rate.dispersion(binomial, variance) < 2.0
    assert error_rate.dispersion(wobbly, variance) > 5.0
    # Discounted evidence: the wobbly A/A run never builds evidence of a regression.
    assert wobbly.max_log_e_fail < math.log(1 / 0.05)


def test_the_late_detector_keeps_its_false_alarm_rate_at_the_limit() -> None:
    """Candidates exactly at the ratio limit, binomial errors: alarms at most alpha (plus sampling slack)."""
    rng = np.random.default_rng(11)
    alpha, horizon, runs = 0.2, 100, 150
    threshold = error_rate.late_log_threshold(horizon, alpha)
    alarms = 0
    for _ in range(runs):
        state = error_rate.new_error_rate_state(1.2)
        for _ in range(horizon):
            state = error_rate.update_whole(
                state, 29_700, int(rng.binomial(29_700, 0.01)), 300, int(rng.binomial(300, 0.012)), horizon=horizon
            )
        alarms += state.max_log_late >= threshold
    assert alarms <= alpha * runs


def test_a_pass_is_never_followed_by_a_rollback_on_the_same_evidence() -> None:
    stable, candidate = Arm(), Arm()
    judgements = _run(_start(stable, candidate), stable, candidate, 60, error_rate=0.01)
    assert judgements[-1].decision == "pass"
    state = judgements[-1].state
    for _ in range(20):  # the same readings again: no new data
        judgement = _poll(state, stable.reading(), candidate.reading())
        assert judgement.decision == "pass", judgement.reason
        state = judgement.state


def test_the_late_detector_restarts_only_within_its_horizon() -> None:
    state = error_rate.new_error_rate_state(1.2)
    for _ in range(10):
        state = error_rate.update_whole(state, 29_700, 297, 300, 3, horizon=4)
    assert state.late_starts == 4
    assert len(state.late_log_e) == len(error_rate.OFFSETS) // 2
