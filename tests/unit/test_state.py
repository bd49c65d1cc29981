"""workflows.rollout.state.StepClock: observation time of a step, stopped while paused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from workflows.rollout.state import StepClock

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def t(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_new_clock_has_observed_nothing() -> None:
    clock = StepClock()
    assert clock.observed(t(1000)) == timedelta()
    assert clock.running_since is None


def test_running_clock_counts_elapsed_time() -> None:
    clock = StepClock()
    clock.start(t(0))
    assert clock.observed(t(0)) == timedelta()
    assert clock.observed(t(90)) == timedelta(seconds=90)


def test_pause_stops_the_clock_and_resume_continues() -> None:
    clock = StepClock()
    clock.start(t(0))
    clock.stop(t(10))
    assert clock.observed(t(10)) == timedelta(seconds=10)
    assert clock.observed(t(3600)) == timedelta(seconds=10)  # paused time does not count
    clock.start(t(100))
    assert clock.observed(t(130)) == timedelta(seconds=40)
    clock.stop(t(150))
    assert clock.observed(t(10_000)) == timedelta(seconds=60)
    assert clock.observed_before == 60


def test_start_twice_does_not_restart() -> None:
    clock = StepClock()
    clock.start(t(0))
    clock.start(t(50))
    assert clock.running_since == t(0)
    assert clock.observed(t(60)) == timedelta(seconds=60)


def test_stop_twice_does_not_change_the_total() -> None:
    clock = StepClock()
    clock.start(t(0))
    clock.stop(t(20))
    clock.stop(t(500))
    assert clock.observed(t(900)) == timedelta(seconds=20)


def test_now_before_start_never_goes_negative() -> None:
    clock = StepClock(observed_before=5)
    clock.start(t(100))
    assert clock.observed(t(40)) == timedelta(seconds=5)


def test_clock_survives_json_round_trip_while_running() -> None:
    clock = StepClock()
    clock.start(t(0))
    clock.stop(t(30))
    clock.start(t(60))
    again = StepClock.model_validate_json(clock.model_dump_json())
    assert again == clock
    assert again.observed(t(90)) == timedelta(seconds=60)


@given(st.lists(st.tuples(st.integers(0, 10_000), st.booleans()), max_size=30), st.integers(0, 10_000))
def test_observed_is_the_sum_of_running_intervals(events: list[tuple[int, bool]], tail: int) -> None:
    """Random start/stop calls at increasing times: observed equals the time spent running."""
    clock = StepClock()
    now, running_since, total = 0, None, 0
    for gap, start in events:
        now += gap
        if start:
            clock.start(t(now))
            if running_since is None:
                running_since = now
        else:
            clock.stop(t(now))
            if running_since is not None:
                total += now - running_since
                running_since = None
        assert clock.observed(t(now)) == timedelta(
            seconds=total + (now - running_since if running_since is not None else 0)
        )
    end = now + tail
    expected = total + (end - running_since if running_since is not None else 0)
    assert clock.observed(t(end)) == timedelta(seconds=expected)
