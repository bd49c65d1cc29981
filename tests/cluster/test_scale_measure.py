"""The scale benchmark's readings from histories: analysis lag, analyses started, first analysis after a restart."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp
from temporalio.api.common.v1 import ActivityType, Payload, Payloads
from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.failure.v1 import Failure
from temporalio.api.history.v1 import (
    ActivityTaskScheduledEventAttributes,
    ActivityTaskStartedEventAttributes,
    HistoryEvent,
    MarkerRecordedEventAttributes,
    TimerFiredEventAttributes,
    TimerStartedEventAttributes,
    WorkflowTaskFailedEventAttributes,
    WorkflowTaskTimedOutEventAttributes,
)
from temporalio.client import WorkflowHistory

from bench.scale.measure import (
    analyses_started,
    analysis_lags,
    billed_actions,
    first_analysis_after,
    percentile,
    task_failure_causes,
    tree_cpu_seconds,
    window_events,
    written_bytes,
)

T0 = datetime(2026, 1, 1, 12, 0, 0)


def _at(seconds: float) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(T0 + timedelta(seconds=seconds))
    return stamp


def _analysis(
    first_id: int, timer_at: float, wait: float, started_at: float, activity: str = "read_counters"
) -> list[HistoryEvent]:
    """A timer of ``wait`` s started at ``timer_at``, fired, then ``activity`` scheduled and started."""
    return [
        HistoryEvent(
            event_id=first_id,
            event_time=_at(timer_at),
            event_type=EventType.EVENT_TYPE_TIMER_STARTED,
            timer_started_event_attributes=TimerStartedEventAttributes(
                start_to_fire_timeout=Duration(seconds=int(wait))
            ),
        ),
        HistoryEvent(
            event_id=first_id + 1,
            event_time=_at(timer_at + wait),
            event_type=EventType.EVENT_TYPE_TIMER_FIRED,
            timer_fired_event_attributes=TimerFiredEventAttributes(started_event_id=first_id),
        ),
        HistoryEvent(
            event_id=first_id + 2,
            event_time=_at(started_at),
            event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
            activity_task_scheduled_event_attributes=ActivityTaskScheduledEventAttributes(
                activity_type=ActivityType(name=activity)
            ),
        ),
        HistoryEvent(
            event_id=first_id + 3,
            event_time=_at(started_at),
            event_type=EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED,
            activity_task_started_event_attributes=ActivityTaskStartedEventAttributes(scheduled_event_id=first_id + 2),
        ),
    ]


def _history() -> WorkflowHistory:
    events = [
        *_analysis(1, timer_at=0, wait=3, started_at=3.5),  # due at 3: 0.5 s late
        *_analysis(5, timer_at=4, wait=2, started_at=8.0),  # due at 6: 2 s late
        *_analysis(9, timer_at=9, wait=1, started_at=10.25, activity="set_weights"),  # not an analysis
        *_analysis(13, timer_at=20, wait=5, started_at=25.0),  # due at 25: outside the window
    ]
    return WorkflowHistory(workflow_id="w", events=events)


def test_lag_runs_from_the_timers_due_time_to_the_reads_start_within_the_window() -> None:
    lags = analysis_lags(_history(), T0, T0 + timedelta(seconds=20))
    assert lags == [0.5, 2.0]


def test_analyses_are_counted_by_start_time_and_only_counter_reads_count() -> None:
    assert analyses_started(_history(), T0, T0 + timedelta(seconds=20)) == 2
    assert analyses_started(_history(), T0, T0 + timedelta(seconds=30)) == 3


def test_first_analysis_after_a_restart() -> None:
    assert first_analysis_after(_history(), T0 + timedelta(seconds=5)) == 3.0
    assert first_analysis_after(_history(), T0 + timedelta(seconds=26)) is None


def test_percentile_interpolates_between_ranks() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile([5.0], 0.99) == 5.0


def _local_analysis(first_id: int, timer_at: float, wait: float, scheduled_at: float) -> list[HistoryEvent]:
    """A timer, fired, then a local counter read's marker (the ``local-counter-reads`` patch)."""
    moment = (T0 + timedelta(seconds=scheduled_at)).replace(tzinfo=UTC).timestamp()
    data = {
        "activity_type": "read_counters",
        "original_schedule_time": {"seconds": int(moment), "nanos": round((moment % 1) * 1e9)},
    }
    timer = _analysis(first_id, timer_at, wait, scheduled_at)[:2]
    marker = HistoryEvent(
        event_id=first_id + 2,
        event_time=_at(scheduled_at + 0.01),
        event_type=EventType.EVENT_TYPE_MARKER_RECORDED,
        marker_recorded_event_attributes=MarkerRecordedEventAttributes(
            marker_name="core_local_activity",
            details={"data": Payloads(payloads=[Payload(data=json.dumps(data).encode())])},
        ),
    )
    return [*timer, marker]


def test_local_reads_are_analyses_from_their_markers() -> None:
    history = WorkflowHistory(
        workflow_id="w",
        events=[*_local_analysis(1, timer_at=0, wait=3, scheduled_at=3.25), *_analysis(4, 10, 2, started_at=13.0)],
    )
    assert analysis_lags(history, T0, T0 + timedelta(seconds=20)) == [0.25, 1.0]
    assert analyses_started(history, T0, T0 + timedelta(seconds=20)) == 2
    assert first_analysis_after(history, T0 + timedelta(seconds=1)) == 2.25


def test_window_events_counts_events_and_their_encoded_bytes_inside_the_window() -> None:
    history = _history()
    inside = [e for e in history.events if e.event_time.ToDatetime() < T0 + timedelta(seconds=20)]
    assert window_events(history, T0, T0 + timedelta(seconds=20)) == (12, sum(e.ByteSize() for e in inside))
    assert window_events(history, T0 + timedelta(seconds=30), T0 + timedelta(seconds=40)) == (0, 0)


def test_a_process_trees_cpu_includes_its_children() -> None:
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\ninput()\n"
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {busy!r}])"],
        stdin=subprocess.PIPE,
    )
    try:
        # The child burns 0.3 s of CPU, then waits for a line: the tree's CPU reaches it while both are alive.
        for _ in range(200):
            if tree_cpu_seconds(parent.pid) >= 0.3:
                break
            time.sleep(0.05)
        assert tree_cpu_seconds(parent.pid) >= 0.3
        assert written_bytes(parent.pid) >= 0
    finally:
        parent.communicate(b"\n", timeout=30)


def test_billed_actions_count_timers_and_each_activity_attempt() -> None:
    history = _history()
    history.events[3].activity_task_started_event_attributes.attempt = 3  # the first read ran three times
    # Window [0, 20): timers at 0, 4 and 9, activity starts of attempt 3, 1 and 1 (set_weights counts too).
    assert billed_actions(history, T0, T0 + timedelta(seconds=20)) == 3 + 3 + 1 + 1


def test_failure_causes_name_the_cause_and_the_timeout() -> None:
    failed = HistoryEvent(
        event_id=1,
        event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED,
        workflow_task_failed_event_attributes=WorkflowTaskFailedEventAttributes(
            cause=WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR,
            failure=Failure(message="nondeterminism"),
        ),
    )
    timed_out = HistoryEvent(
        event_id=2,
        event_type=EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,
        workflow_task_timed_out_event_attributes=WorkflowTaskTimedOutEventAttributes(
            timeout_type=TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
        ),
    )
    history = WorkflowHistory(workflow_id="w", events=[failed, timed_out])
    assert task_failure_causes(history) == [
        "failed (WORKFLOW_TASK_FAILED_CAUSE_NON_DETERMINISTIC_ERROR): nondeterminism",
        "timed out (TIMEOUT_TYPE_START_TO_CLOSE)",
    ]
