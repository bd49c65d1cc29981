"""An A/B test named on a custom metric: the spec's rules, the refusal at start, and the interval on a custom mean
or rate from the very test state the custom judge keeps (built here by running ``judge_custom`` poll by poll)."""

from __future__ import annotations

import random
from typing import Any

import pytest

from models.counters import Counters, CustomValue
from models.custom_metrics import CustomCriterion, CustomMetric
from tests.unit.test_custom_metric_definitions import governing, spec_with
from tests.unit.test_strategy import CANARY, base, problems_of
from workflows.judge import JudgeState, new_judge_state
from workflows.judge.ab import interval, winner
from workflows.judge.custom import judge_custom
from workflows.targets import choose_target

RATING = CustomMetric.model_validate(
    {"kind": "mean", "limit": 0.5, "direction": "lower_is_worse", "bounds": [1, 5], "field": "rating"}
)
REFUSALS = CustomMetric.model_validate({"kind": "rate", "limit": 1.5, "field": "refused"})
AB = {"kind": "ab_test", "share": 50, "duration": "2h"}


def ab_spec(metric: str, custom: list[dict[str, Any]]) -> Any:
    return spec_with(custom, strategy=[{**CANARY, "observe": "10m"}, {**AB, "metric": metric}])


def test_a_custom_metric_the_spec_does_not_judge_is_refused_naming_the_field() -> None:
    problems = problems_of(base(strategy=[CANARY, {**AB, "metric": "rating"}]))
    assert any(p.startswith("strategy[1].metric: 'rating' is neither quality") for p in problems), problems


def test_a_judged_custom_mean_or_rate_is_accepted_at_start() -> None:
    for name in ("rating", "refusals"):
        chosen = choose_target(ab_spec(name, [{"metric": name}]), governing(), lab_mode=False)
        assert not isinstance(chosen, list), chosen


def test_a_count_is_refused_at_start_naming_the_field() -> None:
    chosen = choose_target(ab_spec("critical_errors", [{"metric": "critical_errors"}]), governing(), lab_mode=False)
    assert chosen == [
        "strategy[1].metric: 'critical_errors' is a count (a ceiling, never a comparison); an A/B test names its "
        "winner on a mean or a rate"
    ]


def run_custom(name: str, definition: CustomMetric, draw: Any, *, polls: int = 30, per_poll: int = 400) -> JudgeState:
    """The judge state's custom tests after ``polls`` polls; ``draw(arm, rng)`` gives one request's observation."""
    rng = random.Random(11)
    zero = Counters(requests=0, errors=0, latency_ms_buckets=[(float("inf"), 0)])
    state = new_judge_state(zero, zero, method="sequential")
    values = [CustomValue(value=0.0), CustomValue(value=0.0)]
    last = (zero, zero)
    tests = dict(state.custom)
    for _ in range(polls):
        for arm in (0, 1):
            total, squares, count = values[arm].value, values[arm].sum_squares, values[arm].count
            for _ in range(per_poll):
                x = draw(arm, rng)
                total, squares, count = total + x, squares + x * x, count + 1
            values[arm] = CustomValue(value=total, sum_squares=squares, count=count)
        now = tuple(
            zero.model_copy(update={"custom": {name: values[arm]}, "requests": last[arm].requests + per_poll})
            for arm in (0, 1)
        )
        _, tests = judge_custom(
            tests,
            last=last,
            now=(now[0], now[1]),
            requests=(per_poll, per_poll),
            candidate_requests=now[1].requests,
            criteria=[CustomCriterion(metric=name)],
            definitions={name: definition},
            alpha=0.05,
            alpha_share=1.0,
            min_requests=1,
        )
        last = (now[0], now[1])
    return state.model_copy(update={"custom": tests})


def rating(means: tuple[float, float]) -> Any:
    return lambda arm, rng: min(5.0, max(1.0, rng.gauss(means[arm], 0.5)))


@pytest.mark.parametrize(("means", "expected"), [((4.0, 4.2), "candidate"), ((4.2, 4.0), "stable"), ((4.0, 4.0), None)])
def test_a_custom_mean_names_the_winner_in_its_own_units(means: tuple[float, float], expected: str | None) -> None:
    state = run_custom("rating", RATING, rating(means))
    found = interval(state, "rating", 0.01, RATING)
    assert found is not None
    assert found.stable == pytest.approx(means[0], abs=0.05) and found.candidate == pytest.approx(means[1], abs=0.05)
    assert found.lower <= found.difference <= found.upper
    assert winner(found, "rating", 0.0, criteria_pass=True, definition=RATING) == expected


@pytest.mark.parametrize(
    ("rates", "expected"), [((0.10, 0.05), "candidate"), ((0.05, 0.10), "stable"), ((0.08, 0.08), None)]
)
def test_a_custom_rate_is_better_lower_if_higher_is_worse(rates: tuple[float, float], expected: str | None) -> None:
    state = run_custom("refusals", REFUSALS, lambda arm, rng: 1.0 if rng.random() < rates[arm] else 0.0)
    found = interval(state, "refusals", 0.01, REFUSALS)
    assert found is not None and found.samples == (12_000, 12_000)
    assert found.candidate == pytest.approx(rates[1], abs=0.01)
    assert winner(found, "refusals", 0.0, criteria_pass=True, definition=REFUSALS) == expected


def test_no_custom_interval_without_the_definition_or_the_test_state() -> None:
    state = run_custom("rating", RATING, rating((4.0, 4.2)), polls=2)
    assert interval(state, "rating", 0.05, None) is None
    assert interval(state, "other", 0.05, RATING) is None
    count = CustomMetric.model_validate({"kind": "count", "limit": 0, "field": "rating"})
    assert interval(state, "rating", 0.05, count) is None, "a count is never compared"
