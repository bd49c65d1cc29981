"""Which criteria the metrics can test at all (``workflows.judge.testability``)."""

from __future__ import annotations

import pytest

from models.counters import Counters
from models.criteria import Criteria
from workflows.judge.increments import accumulate, increment
from workflows.judge.models import ArmTotals
from workflows.judge.testability import MIN_READING_REQUESTS, untestable_at_start, untestable_in_totals

FINE: list[tuple[float | str, int]] = [(200.0, 800), (220.0, 900), (240.0, 950), (260.0, 980), ("+Inf", 1000)]
"""Stable's p95 falls in (240, 260]: 1.08x wide, narrower than a 1.1x limit."""
PROMETHEUS_DEFAULT_MS: list[tuple[float | str, int]] = [
    (100.0, 300),
    (250.0, 700),
    (500.0, 980),
    (1000.0, 995),
    ("+Inf", 1000),
]
"""Prometheus' default buckets in ms: stable's p95 falls in (250, 500], 2x wide."""
QUALITY = {"quality_sum": 850.0, "quality_sum_squares": 730.0, "quality_count": 1000}


def stable(buckets: list[tuple[float | str, int]], **more: float) -> Counters:
    return Counters.model_validate({"requests": 1000, "errors": 10, "latency_ms_buckets": buckets, **more})


def test_fine_buckets_and_quality_scores_test_everything() -> None:
    assert untestable_at_start(stable(FINE, **QUALITY), Criteria()) == {}


def test_default_prometheus_buckets_cannot_test_a_one_point_one_p95_limit() -> None:
    found = untestable_at_start(stable(PROMETHEUS_DEFAULT_MS, **QUALITY), Criteria())
    assert list(found) == ["latency_p95"]
    assert "(250, 500]" in found["latency_p95"] and "accept" in found["latency_p95"]


def test_a_looser_limit_makes_the_same_buckets_enough() -> None:
    assert untestable_at_start(stable(PROMETHEUS_DEFAULT_MS, **QUALITY), Criteria(latency_p95_ratio_max=2.5)) == {}


def test_no_quality_scores_and_no_histogram_are_both_named() -> None:
    found = untestable_at_start(Counters(requests=1000, errors=3), Criteria())
    assert set(found) == {"latency_p95", "quality"}


def test_too_few_requests_say_nothing_yet() -> None:
    few = Counters(requests=MIN_READING_REQUESTS - 1, errors=0)
    assert untestable_at_start(few, Criteria()) == {}


@pytest.mark.parametrize("candidate_scores", [True, False])
def test_a_step_with_scores_on_either_side_can_test_quality(candidate_scores: bool) -> None:
    empty = Counters(requests=0, errors=0)
    scored = Counters.model_validate({"requests": 1000, "errors": 1, "latency_ms_buckets": FINE, **QUALITY})
    bare = Counters.model_validate({"requests": 1000, "errors": 1, "latency_ms_buckets": FINE})
    s = accumulate(ArmTotals(), increment(empty, bare if candidate_scores else scored))
    c = accumulate(ArmTotals(), increment(empty, scored if candidate_scores else bare))
    assert untestable_in_totals(s, c, Criteria()) == {}
