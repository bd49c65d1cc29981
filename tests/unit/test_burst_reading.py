"""The burst benchmark's reading of a history: time to the first weight, the lease, and the workflow tasks' waits."""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

from bench.scale.burst import FIRST_MOVE, burst_path, summarise

RECORDED = Path(__file__).parents[1] / "histories" / "v9-budget--rollout-recorded-abort.json"


def _recorded() -> WorkflowHistory:
    return WorkflowHistory.from_json("rollout-recorded", RECORDED.read_text())


def test_first_weight_is_the_completion_of_the_first_router_call() -> None:
    history = _recorded()
    path = burst_path(history)
    moves = {
        e.event_id
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == FIRST_MOVE
    }
    completed = next(
        e
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
        and e.activity_task_completed_event_attributes.scheduled_event_id in moves
    )
    assert path.first_weight == completed.event_time.ToDatetime()
    assert path.first_weight_seconds is not None and 0 < path.first_weight_seconds < 1
    assert path.lease_seconds is not None and 0 < path.lease_seconds < path.first_weight_seconds
    # The tasks before the move only: the one that reacts to the router call's completion comes after it.
    assert len(path.task_waits) == len(path.task_runs) == 4
    assert all(w >= 0 for w in path.task_waits) and all(r > 0 for r in path.task_runs)


def test_a_rollout_that_never_moved_has_no_first_weight_and_is_left_out_of_the_spread() -> None:
    history = _recorded()
    cut = next(
        i
        for i, e in enumerate(history.events)
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == FIRST_MOVE
    )
    stalled = burst_path(WorkflowHistory(history.workflow_id, history.events[:cut]))
    assert stalled.first_weight is None and stalled.first_weight_seconds is None
    summary = summarise([burst_path(history), stalled])
    assert summary.rollouts == 2 and summary.at_weight == 1
    assert summary.first_weight_s["max"] == summary.first_weight_s["p50"]
    assert summary.last_weight_after_s is not None and summary.last_weight_after_s > 0
    assert summary.tasks_per_rollout == (4 + len(stalled.task_runs)) / 2


def test_an_empty_burst_reads_as_nothing_reached() -> None:
    summary = summarise([])
    assert summary.at_weight == 0 and summary.last_weight_after_s is None and summary.first_weight_s == {}
