"""The A/B test: its spec item's validation, and the pure winner rule of ``workflows.judge.ab``.

The winner rule reads the judge's own statistics, so these tests build them by running the judge on counters:
the interval they check is the one the workflow would see.
"""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest

from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from models.record import ABResult, StepReport
from models.strategy import AB_ALPHA_SHARE, ABTestStep, ab_alpha, guard_alpha
from models.validation import SpecError, validate_spec
from tests.unit.test_strategy import CANARY, base, problems_of
from workflows.judge import JudgeState, judge, new_judge_state
from workflows.judge.ab import Interval, interval, winner

BUCKETS = [(100.0, 0), (250.0, 0), (float("inf"), 0)]


def counters(requests: int, errors: int, quality_sum: float, quality_sq: float) -> Counters:
    return Counters(
        requests=requests,
        errors=errors,
        latency_ms_buckets=[(100.0, requests), (250.0, requests), (float("inf"), requests)],
        quality_sum=quality_sum,
        quality_sum_squares=quality_sq,
        quality_count=requests,
    )


def judged(stable_quality: float, candidate_quality: float, *, polls: int = 30, per_poll: int = 400) -> JudgeState:
    """The judge's state after ``polls`` polls of two versions with these mean qualities (spread 0.1)."""
    rng = random.Random(7)
    zero = counters(0, 0, 0.0, 0.0)
    state = new_judge_state(zero, zero, method="sequential", whole_rollout=True)
    totals = {"stable": [0, 0, 0.0, 0.0], "candidate": [0, 0, 0.0, 0.0]}
    for _ in range(polls):
        for arm, mean in (("stable", stable_quality), ("candidate", candidate_quality)):
            t = totals[arm]
            for _ in range(per_poll):
                score = min(1.0, max(0.0, rng.gauss(mean, 0.1)))
                t[0] += 1
                t[1] += 1 if rng.random() < 0.01 else 0
                t[2] += score
                t[3] += score * score
        state = judge(
            state,
            stable=counters(*totals["stable"]),  # type: ignore[arg-type]
            candidate=counters(*totals["candidate"]),  # type: ignore[arg-type]
            criteria=Criteria(),
            triggers=RollbackTriggers(),
            evidence=False,
        ).state
    return state


def test_a_clearly_better_candidate_wins_when_every_criterion_passes() -> None:
    found = interval(judged(0.80, 0.85), "quality", 0.05)
    assert found is not None
    assert found.lower > 0 and found.lower <= found.difference <= found.upper
    assert winner(found, "quality", 0.0, criteria_pass=True) == "candidate"
    assert winner(found, "quality", 0.0, criteria_pass=False) is None, "a better metric never buys a failed guard"
    assert winner(found, "quality", 0.2, criteria_pass=True) is None, "better, but not by min_effect"


def test_equal_versions_name_no_winner() -> None:
    found = interval(judged(0.85, 0.85), "quality", 0.05)
    assert found is not None
    assert found.lower < 0 < found.upper
    assert winner(found, "quality", 0.0, criteria_pass=True) is None


def test_a_clearly_worse_candidate_loses_to_stable() -> None:
    found = interval(judged(0.85, 0.80), "quality", 0.05)
    assert found is not None and found.upper < 0
    assert winner(found, "quality", 0.0, criteria_pass=False) == "stable"


def test_error_rate_is_better_when_lower() -> None:
    better = Interval(stable=0.02, candidate=0.01, lower=-0.015, upper=-0.005, samples=(1000, 1000))
    worse = Interval(stable=0.01, candidate=0.02, lower=0.005, upper=0.015, samples=(1000, 1000))
    assert winner(better, "error_rate", 0.0, criteria_pass=True) == "candidate"
    assert winner(worse, "error_rate", 0.0, criteria_pass=True) == "stable"
    assert winner(better, "quality", 0.0, criteria_pass=True) == "stable", "the same numbers, quality: worse"


def test_the_error_rate_interval_comes_from_the_judges_margin_statistics() -> None:
    state = judged(0.85, 0.85)
    found = interval(state, "error_rate", 0.05)
    assert found is not None and found.lower < 0 < found.upper
    assert found.samples == (state.stable.requests, state.candidate.requests)


def test_no_interval_without_data_or_without_the_sequential_judge() -> None:
    zero = counters(0, 0, 0.0, 0.0)
    assert interval(new_judge_state(zero, zero, method="sequential"), "quality", 0.05) is None
    assert interval(new_judge_state(zero, zero, method="threshold"), "quality", 0.05) is None
    assert winner(None, "quality", 0.0, criteria_pass=True) is None
    with pytest.raises(ValueError, match="alpha"):
        interval(new_judge_state(zero, zero, method="sequential"), "quality", 0.0)


def test_a_smaller_alpha_gives_a_wider_interval() -> None:
    state = judged(0.80, 0.85, polls=5)
    wide, narrow = interval(state, "quality", 0.01), interval(state, "quality", 0.1)
    assert wide is not None and narrow is not None
    assert wide.lower < narrow.lower and wide.upper > narrow.upper


AB = {"kind": "ab_test", "share": 50, "duration": "2h"}
AB_DURATION = timedelta(hours=2)


def test_an_ab_test_after_a_canary_validates_with_its_defaults() -> None:
    spec = validate_spec(base(strategy=[CANARY, AB]))
    assert spec.strategy is not None
    item = spec.strategy[1]
    assert isinstance(item, ABTestStep)
    assert (item.metric, item.min_effect, item.alpha, item.on_no_winner) == ("quality", 0.0, None, "stable")
    assert [s.weight for s in spec.steps] == [10], "the A/B split is no canary step"


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ([AB, CANARY], "strategy[0].kind: an ab_test follows a canary step"),
        ([CANARY, AB, AB], "strategy[2].kind: at most one ab_test"),
        ([CANARY, {**AB, "share": 100}], "strategy[1].share"),
        ([CANARY, {**AB, "share": 0}], "strategy[1].share"),
        ([CANARY, {**AB, "duration": "30s"}], "strategy[1].duration: 30s is shorter than analysis_interval"),
        ([CANARY, {**AB, "metric": "latency"}], "strategy[1].metric"),
        ([CANARY, {**AB, "alpha": 0.5}], "strategy[1].alpha"),
        ([CANARY, {**AB, "min_effect": 2}], "strategy[1].min_effect"),
        ([CANARY, {**AB, "on_no_winner": "candidate"}], "strategy[1].on_no_winner"),
        ([CANARY, {**AB, "extra": 1}], "strategy[1].extra"),
    ],
)
def test_invalid_ab_tests_name_the_field(strategy: list[dict[str, Any]], expected: str) -> None:
    problems = problems_of(base(strategy=strategy))
    assert any(p.startswith(expected) for p in problems), problems


def test_an_ab_test_is_not_part_of_a_blue_green() -> None:
    with pytest.raises(SpecError):
        validate_spec(base(strategy=[{"kind": "blue_green"}, AB, {"kind": "watch", "duration": "1h"}]))


def test_a_step_report_without_an_ab_test_dumps_as_before() -> None:
    from datetime import UTC, datetime

    report = StepReport(index=0, weight=10, observe_seconds=60, started_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert "ab_test" not in report.model_dump(mode="json")
    report.ab_test = ABResult(metric="quality", winner="candidate", decided_by="evidence", alpha=0.05)
    assert report.model_dump(mode="json")["ab_test"]["winner"] == "candidate"


def test_promote_unless_worse_is_an_outcome_a_spec_may_name() -> None:
    spec = validate_spec(base(strategy=[CANARY, {**AB, "on_no_winner": "promote_unless_worse"}]))
    assert spec.strategy is not None
    item = spec.strategy[1]
    assert isinstance(item, ABTestStep) and item.on_no_winner == "promote_unless_worse"


def test_the_ab_alpha_is_a_share_of_the_one_budget_and_the_guard_keeps_the_rest() -> None:
    assert ab_alpha(None, 0.05) == pytest.approx(0.05 * AB_ALPHA_SHARE)
    assert ab_alpha(0.001, 0.05) == 0.001
    item = ABTestStep(kind="ab_test", duration=AB_DURATION)
    assert guard_alpha(0.05, [item]) == pytest.approx(0.05 * (1 - AB_ALPHA_SHARE))
    assert guard_alpha(0.05, None) == 0.05
    assert guard_alpha(0.05, []) == 0.05
    assert ab_alpha(None, 0.05) + guard_alpha(0.05, [item]) == pytest.approx(0.05), "one budget, no more"


def test_an_ab_alpha_the_budget_cannot_cover_is_refused_naming_the_field() -> None:
    problems = problems_of(base(strategy=[CANARY, {**AB, "alpha": 0.02}], criteria={"alpha": 0.05}))
    assert any(p.startswith("strategy[1].alpha: 0.02 is more than the A/B test's share") for p in problems), problems
    fits = base(strategy=[CANARY, {**AB, "alpha": 0.01}], criteria={"alpha": 0.05})
    assert validate_spec(fits).strategy is not None
    default_budget = base(strategy=[CANARY, {**AB, "alpha": 0.02}])
    assert any(p.startswith("strategy[1].alpha") for p in problems_of(default_budget)), "criteria.alpha defaults"
