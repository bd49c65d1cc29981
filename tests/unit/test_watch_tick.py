"""The lease watcher's tick: a minute, or a third of an older lease's shorter heartbeat timeout."""

from datetime import timedelta

from activities.lease import WATCH_TICK, watch_tick
from workflows.lease import WATCH_HEARTBEAT, WATCH_SLOW_HEARTBEAT


def test_a_new_lease_watches_every_minute_within_its_heartbeat_timeout() -> None:
    assert watch_tick(WATCH_SLOW_HEARTBEAT) == WATCH_TICK == timedelta(minutes=1)
    assert 3 * watch_tick(WATCH_SLOW_HEARTBEAT) <= WATCH_SLOW_HEARTBEAT


def test_a_lease_from_before_the_patch_keeps_three_ticks_per_timeout() -> None:
    assert watch_tick(WATCH_HEARTBEAT) == timedelta(seconds=10)


def test_no_heartbeat_timeout_falls_back_to_the_tick() -> None:
    assert watch_tick(None) == WATCH_TICK
    assert watch_tick(timedelta(0)) == WATCH_TICK
