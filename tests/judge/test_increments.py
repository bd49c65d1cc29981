"""Counter handling shared by both methods: resets, missed scrapes, layout changes and bad readings."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from models.counters import Counters
from tests.judge.helpers import COARSE_BOUNDS, FINE_BOUNDS, Arm, poll, start
from workflows.judge import new_judge_state
from workflows.judge.increments import accumulate, increment, validate_counters
from workflows.judge.models import ArmTotals


def _counters(
    requests: int = 100,
    errors: int = 1,
    *,
    buckets: list[tuple[float, int]] | None = None,
    quality_sum: float = 0.0,
    quality_sum_squares: float = 0.0,
    quality_count: int = 0,
) -> Counters:
    """A reading built without validation, so that the judge's own checks are what is tested."""
    return Counters.model_construct(
        requests=requests,
        errors=errors,
        latency_ms_buckets=buckets if buckets is not None else [(100.0, requests), (math.inf, requests)],
        quality_sum=quality_sum,
        quality_sum_squares=quality_sum_squares,
        quality_count=quality_count,
    )


@pytest.mark.parametrize(
    ("reading", "field"),
    [
        (_counters(requests=10, errors=11), "candidate.errors"),
        (_counters(quality_sum=math.nan, quality_count=5), "candidate.quality_sum"),
        (_counters(quality_sum=-1.0, quality_count=5), "candidate.quality_sum"),
        (_counters(quality_sum=6.0, quality_sum_squares=6.0, quality_count=5), "candidate.quality_sum"),
        (_counters(quality_sum=2.0, quality_sum_squares=3.0, quality_count=5), "candidate.quality_sum_squares"),
        (_counters(quality_sum=4.0, quality_sum_squares=1.0, quality_count=5), "candidate.quality_sum_squares"),
        (_counters(buckets=[(100.0, 50), (200.0, 40), (math.inf, 100)]), "candidate.latency_ms_buckets[1]"),
        (_counters(buckets=[(200.0, 50), (100.0, 60), (math.inf, 100)]), "candidate.latency_ms_buckets[1]"),
        (_counters(buckets=[(math.nan, 50), (math.inf, 100)]), "candidate.latency_ms_buckets[0]"),
        (_counters(buckets=[(math.inf, 50), (100.0, 100)]), "candidate.latency_ms_buckets[0]"),
        (_counters(buckets=[(100.0, -1), (math.inf, 100)]), "candidate.latency_ms_buckets[0]"),
        (_counters(requests=-5, errors=0), "candidate.requests"),
    ],
)
def test_inconsistent_readings_raise_naming_the_field(reading: Counters, field: str) -> None:
    with pytest.raises(ValueError, match=field.replace("[", r"\[").replace("]", r"\]")):
        validate_counters(reading, "candidate")
    with pytest.raises(ValueError, match="candidate"):
        new_judge_state(_counters(), reading, method="sequential")


@pytest.mark.parametrize("method", ["threshold", "sequential"])
def test_judge_rejects_a_bad_reading_mid_step(method: str) -> None:
    stable, candidate = Arm(), Arm()
    state = start(method, stable, candidate)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"stable\.errors"):
        poll(state, _counters(requests=5, errors=6), candidate.serve(300))


def test_missed_scrape_adds_nothing() -> None:
    arm = Arm()
    reading = arm.serve(1000)
    step = increment(reading, reading)
    assert (step.requests, step.errors, step.latency_total, step.quality_count) == (0, 0, 0, 0)
    assert not step.reset


def test_reset_counts_the_new_reading_from_zero() -> None:
    before = Arm().serve(10_000)
    after_restart = Arm().serve(300)
    step = increment(before, after_restart)
    assert step.reset
    assert step.requests == 300
    assert step.errors == after_restart.errors
    assert step.latency_total == 300
    assert step.quality_count == 300


def test_reset_is_detected_from_any_counter_going_down() -> None:
    before = _counters(requests=1000, errors=10)
    after = _counters(requests=1200, errors=5)  # requests kept growing (restart then fast traffic), errors fell
    assert increment(before, after).reset


def test_layout_change_drops_the_latency_increment_and_keeps_common_bounds() -> None:
    fine, coarse = Arm(bounds=FINE_BOUNDS), Arm(bounds=COARSE_BOUNDS)
    first = increment(Arm(bounds=FINE_BOUNDS).reading(), fine.serve(1000))
    totals = accumulate(ArmTotals(), first)
    coarse.requests = fine.requests  # same process, new layout: counters keep growing
    coarse.errors = fine.errors
    coarse.quality_sum, coarse.quality_sum_squares, coarse.quality_count = (
        fine.quality_sum,
        fine.quality_sum_squares,
        fine.quality_count,
    )
    changed = increment(fine.reading(), coarse.serve(500))
    assert changed.layout_changed
    assert changed.latency_bounds is None
    assert changed.requests == 500
    totals = accumulate(totals, changed)
    assert totals.latency_skipped_polls == 1
    later = increment(coarse.reading(), coarse.serve(500))
    totals = accumulate(totals, later)
    common = sorted(set(FINE_BOUNDS) & set(COARSE_BOUNDS))
    assert totals.latency_bounds == common
    assert totals.latency_total == 1500
    assert totals.requests == 2000


def test_layout_change_warns_in_the_judgement() -> None:
    stable, candidate = Arm(), Arm()
    state = start("sequential", stable, candidate)
    judgement = poll(state, stable.serve(30_000), candidate.serve(300))
    moved = Arm(bounds=COARSE_BOUNDS, requests=candidate.requests, errors=candidate.errors)
    moved.quality_sum, moved.quality_sum_squares, moved.quality_count = (
        candidate.quality_sum,
        candidate.quality_sum_squares,
        candidate.quality_count,
    )
    judgement = poll(judgement.state, stable.serve(30_000), moved.serve(300))
    assert any("layout changed" in warning for warning in judgement.warnings)


@settings(max_examples=60, deadline=None)
@given(batches=st.lists(st.tuples(st.integers(0, 5000), st.floats(0, 0.2), st.booleans()), min_size=1, max_size=12))
def test_accumulated_increments_equal_traffic_served_despite_resets(
    batches: list[tuple[int, float, bool]],
) -> None:
    """Whatever the resets and missed scrapes, the step totals count every request served exactly once.

    A restart is only visible when a counter ends lower than before (as for Prometheus' ``increase()``), so
    the simulated restarts are the visible ones.
    """
    arm = Arm()
    previous = arm.reading()
    totals = ArmTotals()
    served = errors = 0
    for requests, error_rate, restart in batches:
        if restart and requests < arm.requests:
            arm = Arm()
        reading = arm.serve(requests, error_rate=error_rate)
        served += requests
        errors += round(requests * error_rate)
        totals = accumulate(totals, increment(previous, reading))
        previous = reading
        totals = accumulate(totals, increment(previous, reading))  # missed scrape: same reading again
    if served:
        assert totals.requests == served
        assert totals.errors == errors
        assert totals.quality_count == served
        assert totals.latency_total == served
