"""What the scale benchmark reads: analysis lag from histories, and a worker process's memory and CPU from /proc."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from temporalio.api.enums.v1 import EventType, TimeoutType, WorkflowTaskFailedCause
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import WorkflowHistory

ANALYSIS_READ = "read_counters"
LOCAL_ACTIVITY_MARKER = "core_local_activity"
"""Since the ``local-counter-reads`` patch a counter read is a local activity: one marker, no scheduled/started
events. Its ``data`` detail says the activity type and when the worker scheduled it."""
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def local_read_scheduled(event: HistoryEvent) -> datetime | None:
    """When a local counter read was scheduled, if ``event`` is its marker (naive UTC, as event times are read)."""
    if event.event_type != EventType.EVENT_TYPE_MARKER_RECORDED:
        return None
    attrs = event.marker_recorded_event_attributes
    if attrs.marker_name != LOCAL_ACTIVITY_MARKER or "data" not in attrs.details:
        return None
    payloads = attrs.details["data"].payloads
    if not payloads:
        return None
    data = json.loads(payloads[0].data)
    if data.get("activity_type") != ANALYSIS_READ:
        return None
    stamp = data.get("original_schedule_time") or {}
    seconds = stamp.get("seconds", 0) + stamp.get("nanos", 0) / 1e9
    return datetime.fromtimestamp(seconds, tz=UTC).replace(tzinfo=None)


def analysis_lags(history: WorkflowHistory, since: datetime, until: datetime) -> list[float]:
    """Seconds from each analysis timer's due time to the start of the counter read it led to (see below)."""
    return [lag for _, lag in analysis_lag_points(history, since, until)]


def analysis_lag_points(history: WorkflowHistory, since: datetime, until: datetime) -> list[tuple[datetime, float]]:
    """Each analysis's due time and the seconds from it to the start of the counter read it led to.

    A local read (a marker) starts when the worker scheduled it, in the workflow task that followed the timer.

    The due time is the timer's start plus its duration (what the workflow asked for), so the lag holds the
    server's timer queue, the workflow task that reacts to it and the activity's wait for a worker. Only
    analyses due within ``[since, until)`` count; a timer cut short by a signal has no due time and is skipped.
    """
    due_of_timer: dict[int, datetime] = {}
    last_due: datetime | None = None
    scheduled_due: dict[int, datetime] = {}
    lags: list[tuple[datetime, float]] = []
    for event in history.events:
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_TIMER_STARTED:
            attrs = event.timer_started_event_attributes
            due_of_timer[event.event_id] = event.event_time.ToDatetime() + attrs.start_to_fire_timeout.ToTimedelta()
        elif kind == EventType.EVENT_TYPE_TIMER_FIRED:
            last_due = due_of_timer.get(event.timer_fired_event_attributes.started_event_id)
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs_s = event.activity_task_scheduled_event_attributes
            if attrs_s.activity_type.name == ANALYSIS_READ and last_due is not None:
                scheduled_due[event.event_id] = last_due
            last_due = None
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            due = scheduled_due.pop(event.activity_task_started_event_attributes.scheduled_event_id, None)
            if due is not None and since <= due < until:
                lags.append((due, (event.event_time.ToDatetime() - due).total_seconds()))
        elif (local := local_read_scheduled(event)) is not None:
            if last_due is not None and since <= last_due < until:
                lags.append((last_due, (local - last_due).total_seconds()))
            last_due = None
    return lags


def _analysis_starts(history: WorkflowHistory) -> list[datetime]:
    """When each counter read (one per analysis) started: activity starts and local reads' markers."""
    scheduled = {
        event.event_id
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and event.activity_task_scheduled_event_attributes.activity_type.name == ANALYSIS_READ
    }
    remote = [
        event.event_time.ToDatetime()
        for event in history.events
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
        and event.activity_task_started_event_attributes.scheduled_event_id in scheduled
    ]
    local = [at for event in history.events if (at := local_read_scheduled(event)) is not None]
    return sorted(remote + local)


def analyses_started(history: WorkflowHistory, since: datetime, until: datetime) -> int:
    """Counter reads that started within ``[since, until)``, with or without a timer before them."""
    return sum(1 for at in _analysis_starts(history) if since <= at < until)


def first_analysis_after(history: WorkflowHistory, moment: datetime) -> float | None:
    """Seconds from ``moment`` (a worker restart) to the first counter read started after it; None if none did."""
    after = [at for at in _analysis_starts(history) if at >= moment]
    return (min(after) - moment).total_seconds() if after else None


def task_failures(history: WorkflowHistory) -> int:
    """Workflow tasks that failed or timed out (a worker too slow, a cache miss too costly, a server refusal)."""
    bad = {EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED, EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT}
    return sum(1 for event in history.events if event.event_type in bad)


@dataclass(frozen=True)
class ProcessSample:
    """A process's resident memory and its CPU time so far."""

    rss_bytes: int
    cpu_seconds: float


def sample(pid: int) -> ProcessSample:
    """Read /proc: VmRSS from status, user + system time from stat."""
    with open(f"/proc/{pid}/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return ProcessSample(rss_bytes=rss_kb * 1024, cpu_seconds=(int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (``q`` in [0, 1])."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def window_events(history: WorkflowHistory, since: datetime, until: datetime) -> tuple[int, int]:
    """Events written within ``[since, until)`` and their encoded size in bytes (what the server stores)."""
    inside = [e for e in history.events if since <= e.event_time.ToDatetime() < until]
    return len(inside), sum(e.ByteSize() for e in inside)


def _children() -> dict[int, list[int]]:
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                parent = int(stat.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found.setdefault(parent, []).append(int(entry))
    return found


def tree_cpu_seconds(root: int) -> float:
    """CPU time of a process, its live descendants and the children it has reaped (PostgreSQL's backends)."""
    children = _children()
    total, pending = 0.0, [root]
    while pending:
        pid = pending.pop()
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        own = int(fields[11]) + int(fields[12])
        reaped = int(fields[13]) + int(fields[14]) if pid == root else 0
        total += (own + reaped) / _CLOCK_TICKS
        pending += children.get(pid, [])
    return total


def written_bytes(pid: int) -> int:
    """Bytes the process caused to be written to storage (``/proc/PID/io``), 0 where the kernel hides it."""
    try:
        with open(f"/proc/{pid}/io") as io:
            return next((int(line.split()[1]) for line in io if line.startswith("write_bytes:")), 0)
    except OSError:
        return 0


_BILLED = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_TIMER_STARTED,
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
    EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
    EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
}


def billed_actions(history: WorkflowHistory, since: datetime, until: datetime) -> int:
    """Temporal Cloud actions a history shows within ``[since, until)``, read from its events.

    A workflow start (continue-as-new included), each timer, search-attribute upsert, signal, accepted update and
    child start is one action; an activity is one per attempt (the started event carries the attempt). Heartbeats
    and queries are billed too but leave no event: the capacity model counts them from the code's settings.
    """
    count = 0
    for event in history.events:
        if not since <= event.event_time.ToDatetime() < until:
            continue
        if event.event_type in _BILLED:
            count += 1
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            count += max(1, event.activity_task_started_event_attributes.attempt)
    return count


def task_failure_causes(history: WorkflowHistory) -> list[str]:
    """Why each failed or timed-out workflow task ended: its cause and the start of its message, or its timeout."""
    causes: list[str] = []
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
            attrs = event.workflow_task_failed_event_attributes
            cause = WorkflowTaskFailedCause.Name(attrs.cause)
            causes.append(f"failed ({cause}): {attrs.failure.message[:80]}")
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
            causes.append(
                f"timed out ({TimeoutType.Name(event.workflow_task_timed_out_event_attributes.timeout_type)})"
            )
    return causes
