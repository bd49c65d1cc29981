"""The capacity model's arithmetic (bench/capacity.py), on hand-made benchmark results."""

from __future__ import annotations

from typing import Any

import pytest

from bench.capacity import EVENTS_PER_RUN, HEARTBEATS_SENT_EVERY_S, UnitCosts, needs


def _busy(**per: Any) -> dict[str, Any]:
    analysis = {
        "events": 11.0,
        "history_bytes": 4000,
        "cloud_actions_in_history": 2.0,
        "worker_cpu_ms": 20.0,
        "server_cpu_ms": 50.0,
        "db_rows_changed": 40.0,
        "db_wal_bytes": 25000,
    }
    # 10 rollouts doing 1 analysis/s between them: 6 analyses per rollout-minute.
    return {"rollouts": 10, "analyses_per_s_done": 1.0, "per_analysis": {**analysis, **per}}


IDLE = {"per_rollout_minute": {"worker_cpu_ms": 12.0, "server_cpu_ms": 30.0}}


def test_per_analysis_costs_are_net_of_what_waiting_costs() -> None:
    costs = UnitCosts.from_runs(_busy(), IDLE)
    # 12 ms a rollout-minute spread over 6 analyses a rollout-minute is 2 ms of each analysis's 20.
    assert costs.worker_cpu_ms == pytest.approx(18.0)
    assert costs.server_cpu_ms == pytest.approx(45.0)
    assert (costs.events, costs.actions, costs.db_rows) == (11.0, 2.0, 40.0)


def test_a_busy_run_without_analyses_is_refused() -> None:
    with pytest.raises(ValueError, match="no analysis"):
        UnitCosts.from_runs({"rollouts": 1, "analyses_per_s_done": 0.0, "per_analysis": None}, IDLE)


def test_needs_scale_linearly_with_rollouts_and_cadence() -> None:
    costs = UnitCosts.from_runs(_busy(), IDLE)
    small, large = needs(costs, 1_000, 300, 48), needs(costs, 10_000, 300, 48)
    assert large.analyses_per_s == pytest.approx(10 * small.analyses_per_s) == pytest.approx(10_000 / 300)
    assert large.worker_cores == pytest.approx(10 * small.worker_cores)
    # 33.3 analyses/s x 18 ms + 10,000 rollouts x 12 ms a minute.
    assert large.worker_cores == pytest.approx((10_000 / 300 * 18 + 10_000 * 12 / 60) / 1000)
    assert large.db_rows_per_s == pytest.approx(10_000 / 300 * 40)
    # A 48 h rollout at 5 minutes: 576 analyses, 6,336 events, 21 runs of 300; heartbeats every minute.
    assert small.history_events_per_rollout == pytest.approx(576 * 11)
    assert small.runs_per_rollout == pytest.approx(576 * 11 / EVENTS_PER_RUN)
    heartbeats = 48 * 3600 / HEARTBEATS_SENT_EVERY_S
    assert small.actions_per_rollout == pytest.approx(576 * 2 + heartbeats)
    assert small.actions_per_month_per_slot == pytest.approx(small.actions_per_rollout * 15)


def test_without_a_database_reading_the_writes_are_unknown() -> None:
    costs = UnitCosts.from_runs(_busy(db_rows_changed=None, db_wal_bytes=None), IDLE)
    result = needs(costs, 100, 300, 48)
    assert result.db_rows_per_s is None and result.db_wal_mb_per_s is None
