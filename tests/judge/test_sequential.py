"""The sequential method through the public API: decisions, evidence and awkward inputs."""

from __future__ import annotations

import pytest

from bench.judge.scenarios import SCENARIOS
from bench.judge.traffic import POLLS, baseline, simulate
from models.criteria import Criteria, RollbackTriggers
from tests.judge.helpers import COARSE_BOUNDS, Arm, poll, start, verdicts
from workflows.judge import Judgement, judge, new_judge_state
from workflows.judge.sequential import ALPHA_SHARES

CRITERIA, TRIGGERS = Criteria(), RollbackTriggers()


def _run(stable: Arm, candidate: Arm, polls: int, canary: int = 300, **candidate_serve: float) -> list[Judgement]:
    state = start("sequential", stable, candidate)
    judgements = []
    for _ in range(polls):
        judgement = poll(state, stable.serve(30_000), candidate.serve(canary, **candidate_serve))
        judgements.append(judgement)
        state = judgement.state
    return judgements


def test_identical_versions_eventually_pass_every_criterion() -> None:
    judgements = _run(Arm(), Arm(), 60, canary=1500)
    assert all(j.decision != "rollback" for j in judgements)
    assert judgements[-1].decision == "pass", judgements[-1].reason
    assert judgements[0].decision == "continue"
    result = judgements[-1].criteria[0]
    assert result.lower_bound is not None
    assert result.upper_bound is not None
    assert result.lower_bound <= 1.0 <= result.upper_bound
    assert result.p_value == 1.0


@pytest.mark.parametrize(
    ("serve", "criterion"),
    [
        ({"error_rate": 0.017}, "error_rate"),  # 1.7x: below the 2x hard trigger
        ({"latency_scale": 1.4}, "latency_p95"),  # below the 1.5x hard trigger
        ({"quality": 0.74}, "quality"),
    ],
)
def test_regressions_fail_the_right_criterion_without_a_trigger(serve: dict[str, float], criterion: str) -> None:
    judgements = _run(Arm(), Arm(), 40, 300, **serve)
    first = next(j for j in judgements if j.decision == "rollback")
    assert verdicts(first)[criterion] == "fail"
    assert not any(trigger.breached for trigger in first.triggers)
    assert first.reason.startswith(f"{criterion} failed")
    result = next(r for r in first.criteria if r.name == criterion)
    if criterion == "error_rate":
        assert result.e_value is not None
        assert result.e_value >= 1 / (0.05 * ALPHA_SHARES["error_rate"])
        assert result.p_value is not None
        assert result.p_value <= 0.05 * ALPHA_SHARES["error_rate"]
        assert "e-value" in first.reason
    if criterion == "quality":
        assert result.upper_bound is not None
        assert result.upper_bound < -0.02
    if criterion == "latency_p95":
        assert result.lower_bound is not None
        assert result.lower_bound >= 1.1


def test_zero_errors_on_both_sides_stays_inconclusive_with_a_note() -> None:
    stable = Arm()
    state = start("sequential", stable, Arm())
    candidate = Arm()
    for _ in range(5):
        judgement = poll(state, stable.serve(30_000, error_rate=0.0), candidate.serve(300, error_rate=0.0))
        state = judgement.state
    result = judgement.criteria[0]
    assert result.verdict == "inconclusive"
    assert "no errors" in result.note


def test_zero_traffic_and_missed_scrapes_change_nothing() -> None:
    stable, candidate = Arm(), Arm()
    state = start("sequential", stable, candidate)
    first = poll(state, stable.serve(30_000), candidate.serve(300))
    again = poll(first.state, stable.reading(), candidate.reading())
    assert again.state.sequential == first.state.sequential
    assert again.state.stable == first.state.stable
    empty = poll(start("sequential", Arm(), Arm()), Arm().reading(), Arm().reading())
    assert empty.decision == "continue"


def test_candidate_restart_mid_step_counts_from_zero() -> None:
    stable, candidate = Arm(), Arm()
    state = start("sequential", stable, candidate)
    for _ in range(3):
        state = poll(state, stable.serve(30_000), candidate.serve(300)).state
    restarted = Arm()
    judgement = poll(state, stable.serve(30_000), restarted.serve(300))
    assert judgement.state.candidate.requests == 1200
    assert judgement.state.candidate.resets == 1
    assert any("restart" in warning for warning in judgement.warnings)


def test_coarse_buckets_never_pass_latency_and_warn() -> None:
    judgements = _run(Arm(bounds=COARSE_BOUNDS), Arm(bounds=COARSE_BOUNDS), 60)
    assert all(verdicts(j)["latency_p95"] == "inconclusive" for j in judgements)
    assert any("too coarse" in warning for warning in judgements[-1].warnings)
    assert all(j.decision != "pass" for j in judgements)


def test_coarse_buckets_still_catch_a_slowdown_wider_than_a_bucket() -> None:
    judgements = _run(Arm(bounds=COARSE_BOUNDS), Arm(bounds=COARSE_BOUNDS), 30, latency_scale=5.0)
    assert any(verdicts(j)["latency_p95"] == "fail" for j in judgements)


def test_different_layouts_are_compared_on_common_edges() -> None:
    judgements = _run(Arm(), Arm(bounds=COARSE_BOUNDS), 10)
    assert judgements[-1].state.sequential is not None
    latency = judgements[-1].state.sequential.latency
    assert latency is not None
    assert set(latency.edges) <= set(COARSE_BOUNDS)


def test_changing_the_criteria_mid_step_is_an_error() -> None:
    stable, candidate = Arm(), Arm()
    state = start("sequential", stable, candidate)
    state = poll(state, stable.serve(30_000), candidate.serve(300)).state
    with pytest.raises(ValueError, match="error_rate_ratio_max"):
        poll(state, stable.serve(30_000), candidate.serve(300), Criteria(error_rate_ratio_max=1.5))


def test_incident_on_both_versions_is_not_a_regression() -> None:
    stable, candidate = Arm(), Arm()
    state = start("sequential", stable, candidate)
    for t in range(40):
        rate = 0.2 if 10 <= t < 14 else 0.01
        judgement = poll(state, stable.serve(30_000, error_rate=rate), candidate.serve(300, error_rate=rate))
        assert verdicts(judgement)["error_rate"] != "fail"
        state = judgement.state


@pytest.mark.parametrize("cell", ["aa-1%", "errors-2x", "p95-1.5x", "quality-0.05", "counter-reset", "p95-1.5x-coarse"])
def test_evidence_false_changes_nothing_but_the_evidence(cell: str) -> None:
    """Simulations skip the evidence; they must still measure exactly the judge the workflow runs."""
    scenario = next(s for s in SCENARIOS if s.name == cell)
    run = simulate(scenario, seed=7)
    first = baseline(scenario)
    full = lean = new_judge_state(first[0], first[1], method="sequential")
    for index in range(POLLS // 4):
        stable, candidate = run.reading(index)
        with_evidence = judge(full, stable=stable, candidate=candidate, criteria=CRITERIA, triggers=TRIGGERS)
        without = judge(lean, stable=stable, candidate=candidate, criteria=CRITERIA, triggers=TRIGGERS, evidence=False)
        assert without.decision == with_evidence.decision
        assert verdicts(without) == verdicts(with_evidence)
        assert without.triggers == with_evidence.triggers
        assert without.state == with_evidence.state
        assert without.reason == ""
        full, lean = with_evidence.state, without.state
    assert with_evidence.criteria[0].lower_bound is not None or with_evidence.criteria[0].upper_bound is not None
