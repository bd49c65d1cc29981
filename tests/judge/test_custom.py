"""The custom metrics' judge (workflows/judge/custom.py): rates like the error rate, means like quality, the
direction by swapping arms, counts against a ceiling, and one alpha shared with the built-in criteria."""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from models.counters import Counters, CustomValue
from models.custom_metrics import CustomCriterion, CustomMetric, CustomVerdict
from workflows.judge.custom import (
    CUSTOM_ALPHA_SHARE,
    builtin_alpha,
    count_verdict,
    counting,
    custom_alpha,
    increment,
    judge_custom,
    tally_counts,
)
from workflows.judge.models import CustomTestState

POLL_REQUESTS = (90_000, 10_000)
"""Requests per poll: stable, candidate (a 10 % canary)."""


def reading(requests: int, name: str, value: float, squares: float = 0.0, count: float = 0.0) -> Counters:
    return Counters(
        requests=requests, errors=0, custom={name: CustomValue(value=value, sum_squares=squares, count=count)}
    )


def run_polls(
    definition: CustomMetric,
    per_request: tuple[tuple[float, float, float], tuple[float, float, float]],
    *,
    polls: int,
    limit: float | None = None,
    min_requests: int = 1,
) -> list[CustomVerdict]:
    """Poll ``polls`` times; per arm (value, squares, count) per request, exact expectations (no noise)."""
    name = "m"
    criterion = CustomCriterion(metric=name, limit=limit)
    last = (reading(0, name, 0.0), reading(0, name, 0.0))
    tests: dict[str, CustomTestState] = {}
    verdicts = []
    for poll in range(1, polls + 1):
        now = tuple(
            reading(
                POLL_REQUESTS[arm] * poll,
                name,
                per_request[arm][0] * POLL_REQUESTS[arm] * poll,
                per_request[arm][1] * POLL_REQUESTS[arm] * poll,
                per_request[arm][2] * POLL_REQUESTS[arm] * poll,
            )
            for arm in (0, 1)
        )
        results, tests = judge_custom(
            tests,
            last=last,
            now=(now[0], now[1]),
            requests=POLL_REQUESTS,
            candidate_requests=POLL_REQUESTS[1] * poll,
            criteria=[criterion],
            definitions={name: definition},
            alpha=0.05,
            alpha_share=1.0,
            min_requests=min_requests,
        )
        last = (now[0], now[1])
        verdicts.append(results[0])
    return verdicts


def rate(limit: float = 1.5, direction: str = "higher_is_worse") -> CustomMetric:
    return CustomMetric.model_validate({"kind": "rate", "limit": limit, "direction": direction})


def mean(limit: float, direction: str = "higher_is_worse", bounds: Any = (0.0, 1.0)) -> CustomMetric:
    return CustomMetric.model_validate({"kind": "mean", "limit": limit, "direction": direction, "bounds": list(bounds)})


def events(p_stable: float, p_candidate: float) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return (p_stable, 0.0, 0.0), (p_candidate, 0.0, 0.0)


def scores(
    m_stable: float, m_candidate: float, sd: float
) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    return (m_stable, m_stable**2 + sd**2, 1.0), (m_candidate, m_candidate**2 + sd**2, 1.0)


# ------------------------------------------------------------------ rates


def test_a_rate_equal_to_stables_passes() -> None:
    verdicts = run_polls(rate(), events(0.02, 0.02), polls=20)
    assert verdicts[-1].verdict == "pass" and verdicts[-1].observed == pytest.approx(1.0)
    assert verdicts[-1].upper is not None and verdicts[-1].upper <= 1.5
    assert all(v.verdict != "fail" for v in verdicts)


def test_a_rate_three_times_stables_fails() -> None:
    verdicts = run_polls(rate(), events(0.02, 0.06), polls=20)
    assert verdicts[-1].verdict == "fail" and verdicts[-1].observed == pytest.approx(3.0)


def test_a_spec_limit_tightens_the_rate() -> None:
    assert run_polls(rate(limit=2.0), events(0.02, 0.03), polls=30)[-1].verdict == "pass"
    assert run_polls(rate(limit=2.0), events(0.02, 0.03), polls=30, limit=1.1)[-1].verdict == "fail"


def test_lower_is_worse_swaps_the_ratio() -> None:
    """A conversion-like rate: the candidate at a third of stable's is a regression; above stable's is fine."""
    assert run_polls(rate(direction="lower_is_worse"), events(0.06, 0.02), polls=20)[-1].verdict == "fail"
    better = run_polls(rate(direction="lower_is_worse"), events(0.02, 0.06), polls=20)[-1]
    assert better.verdict == "pass" and better.observed == pytest.approx(1 / 3)


def test_no_verdict_before_min_requests() -> None:
    verdicts = run_polls(rate(), events(0.02, 0.2), polls=3, min_requests=1_000_000)
    assert [v.verdict for v in verdicts] == ["inconclusive"] * 3
    assert verdicts[-1].note.startswith("waiting for data: candidate 30,000/1,000,000")


def test_no_events_on_either_version_cannot_pass() -> None:
    verdict = run_polls(rate(), events(0.0, 0.0), polls=5)[-1]
    assert verdict.verdict == "inconclusive" and "no events on either version" in verdict.note


# ------------------------------------------------------------------ means


def test_a_mean_within_the_limit_passes_and_beyond_it_fails() -> None:
    """Latency-like score (higher is worse): a candidate 0.01 above passes a 0.05 limit, 0.15 above fails."""
    assert run_polls(mean(0.05), scores(0.5, 0.51, 0.1), polls=10)[-1].verdict == "pass"
    worse = run_polls(mean(0.05), scores(0.5, 0.65, 0.1), polls=10)[-1]
    assert worse.verdict == "fail" and worse.observed == pytest.approx(0.15)
    assert worse.lower is not None and worse.lower > 0.05


def test_a_mean_lower_is_worse_like_quality() -> None:
    assert run_polls(mean(0.05, "lower_is_worse"), scores(0.8, 0.6, 0.1), polls=10)[-1].verdict == "fail"
    assert run_polls(mean(0.05, "lower_is_worse"), scores(0.8, 0.9, 0.1), polls=10)[-1].verdict == "pass"


def test_a_mean_on_its_own_bounds() -> None:
    """Ratings from 1 to 5: a drop of 1 point fails a limit of 0.5 points; a drop of 0.1 passes."""
    fail = run_polls(mean(0.5, "lower_is_worse", (1, 5)), scores(4.0, 3.0, 0.5), polls=10)[-1]
    assert fail.verdict == "fail" and fail.observed == pytest.approx(1.0)
    assert run_polls(mean(0.5, "lower_is_worse", (1, 5)), scores(4.0, 3.9, 0.5), polls=10)[-1].verdict == "pass"


# ------------------------------------------------------------------ readings and counts


def test_increments_count_a_restart_from_zero() -> None:
    assert increment(None, CustomValue(value=5), mean=False).value == 0
    assert increment(CustomValue(value=5), CustomValue(value=8), mean=False).value == 3
    assert increment(CustomValue(value=5), CustomValue(value=2), mean=False).value == 2
    # A mean's sum may fall (negative observations); only its count tells a restart.
    fallen = increment(CustomValue(value=5, count=10), CustomValue(value=3, count=12), mean=True)
    assert (fallen.value, fallen.count) == (-2, 2)
    restarted = increment(CustomValue(value=5, count=10), CustomValue(value=1, count=2), mean=True)
    assert (restarted.value, restarted.count) == (1, 2)


def test_a_missing_reading_is_an_error_never_a_pass() -> None:
    empty = Counters(requests=10, errors=0)
    with pytest.raises(ValueError, match=r"custom.m: no reading of candidate"):
        judge_custom(
            {},
            last=(empty, empty),
            now=(reading(10, "m", 1.0), empty),
            requests=(10, 10),
            candidate_requests=10,
            criteria=[CustomCriterion(metric="m")],
            definitions={"m": rate()},
            alpha=0.05,
            alpha_share=1.0,
            min_requests=1,
        )
    with pytest.raises(ValueError, match=r"custom.c: no reading of candidate"):
        tally_counts({}, {}, empty, ["c"])


def test_counts_tally_since_the_first_reading_across_restarts() -> None:
    last, totals = tally_counts({}, {}, reading(1, "c", 7.0), ["c"])
    assert totals == {"c": 0.0} and last == {"c": 7.0}, "counted from the first reading, not the process's start"
    last, totals = tally_counts(last, totals, reading(2, "c", 9.0), ["c"])
    last, totals = tally_counts(last, totals, reading(3, "c", 4.0), ["c"])  # a restart: its 4 are new
    assert totals == {"c": 6.0}


@pytest.mark.parametrize(
    ("total", "ceiling", "verdict"), [(0, 0, "pass"), (1, 0, "fail"), (10, 10, "pass"), (11, 10, "fail")]
)
def test_a_count_fails_only_above_its_ceiling(total: float, ceiling: float, verdict: str) -> None:
    assert count_verdict("c", total, ceiling).verdict == verdict


def test_counts_are_not_tested_and_spend_no_alpha() -> None:
    definitions = {"c": CustomMetric.model_validate({"kind": "count", "limit": 0})}
    results, tests = judge_custom(
        {},
        last=(reading(0, "c", 0), reading(0, "c", 0)),
        now=(reading(10, "c", 0), reading(10, "c", 5)),
        requests=(10, 10),
        candidate_requests=10,
        criteria=[CustomCriterion(metric="c")],
        definitions=definitions,
        alpha=0.05,
        alpha_share=1.0,
        min_requests=1,
    )
    assert results == [] and tests == {}


@pytest.mark.parametrize("tested", [0, 1, 3, 8])
def test_one_alpha_for_the_rollout(tested: int) -> None:
    """The built-in criteria and every custom test together spend exactly the spec's alpha."""
    alpha = 0.05
    spent = builtin_alpha(alpha, tested) + (tested * custom_alpha(alpha, tested) if tested else 0.0)
    assert math.isclose(spent, alpha)
    assert builtin_alpha(alpha, tested) == (alpha if tested == 0 else alpha * (1 - CUSTOM_ALPHA_SHARE))


def test_a_count_with_a_window_counts_only_within_it() -> None:
    """ "User complaints > 10 in the first hour": counted for an hour from the start, then no longer."""
    complaints = CustomMetric.model_validate({"kind": "count", "limit": 10, "window": "1h"})
    assert counting(complaints, timedelta(minutes=59)) and counting(complaints, timedelta(hours=1))
    assert not counting(complaints, timedelta(hours=1, seconds=1))
    assert counting(CustomMetric.model_validate({"kind": "count", "limit": 0}), timedelta(days=80))
