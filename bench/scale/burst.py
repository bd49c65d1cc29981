"""What a burst of starts cost each rollout, read from its history: the time to its first weight, and where it went.

The server's own timestamps are the clock, so the reading does not depend on how the benchmark polls, and polling
costs the worker nothing (a status query is a workflow task too: a thousand of them compete with the rollouts
they measure). A rollout is at its first weight when the router call that set it (``set_weights``) completed.
Before that, three waits add up: the workflow tasks' time in the queue (scheduled -> started), their run on the
worker (started -> completed), and the lease (``acquire_lease``, scheduled -> completed, which holds the lease
workflow's own tasks and any retries).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory

FIRST_MOVE = "set_weights"
LEASE = "acquire_lease"


@dataclass(frozen=True)
class BurstPath:
    """One rollout's way from its start to its first weight (``None``: it never got there in this run)."""

    started: datetime
    first_weight: datetime | None
    lease_seconds: float | None
    task_waits: list[float] = field(default_factory=list)
    """Seconds each workflow task waited in a queue before a worker took it, up to the first weight."""
    task_runs: list[float] = field(default_factory=list)
    """Seconds each workflow task ran on the worker (poll to completion), up to the first weight."""

    @property
    def first_weight_seconds(self) -> float | None:
        return None if self.first_weight is None else (self.first_weight - self.started).total_seconds()


def burst_path(history: WorkflowHistory) -> BurstPath:
    """Read one run's history up to the completion of its first ``set_weights`` call."""
    events = history.events
    started = events[0].event_time.ToDatetime()
    names: dict[int, str] = {}
    scheduled_at: dict[int, datetime] = {}
    task_scheduled: datetime | None = None
    task_started: datetime | None = None
    waits: list[float] = []
    runs: list[float] = []
    lease: float | None = None
    for event in events:
        at = event.event_time.ToDatetime()
        kind = event.event_type
        if kind == EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
            task_scheduled = at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED and task_scheduled is not None:
            waits.append((at - task_scheduled).total_seconds())
            task_scheduled, task_started = None, at
        elif kind == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED and task_started is not None:
            runs.append((at - task_started).total_seconds())
            task_started = None
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            names[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
            scheduled_at[event.event_id] = at
        elif kind == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            scheduled = event.activity_task_completed_event_attributes.scheduled_event_id
            name = names.get(scheduled)
            if name == LEASE and lease is None:
                lease = (at - scheduled_at[scheduled]).total_seconds()
            elif name == FIRST_MOVE:
                return BurstPath(started, at, lease, waits, runs)
    return BurstPath(started, None, lease, waits, runs)


@dataclass(frozen=True)
class BurstSummary:
    """The burst as a whole: how long until the last rollout held its first weight, and the spread per rollout."""

    rollouts: int
    at_weight: int
    last_weight_after_s: float | None
    """From the first rollout's start to the last first weight: the issue's "all at their first weight within"."""
    first_weight_s: dict[str, float]
    lease_s: dict[str, float]
    task_wait_s: dict[str, float]
    task_run_s: dict[str, float]
    tasks_per_rollout: float


def _spread(values: list[float]) -> dict[str, float]:
    from bench.scale.measure import percentile

    if not values:
        return {}
    return {
        "p50": round(percentile(values, 0.5), 3),
        "p99": round(percentile(values, 0.99), 3),
        "max": round(max(values), 3),
    }


def summarise(paths: list[BurstPath]) -> BurstSummary:
    """Percentiles over the rollouts (times to first weight, leases) and over all their workflow tasks."""
    reached = [p for p in paths if p.first_weight is not None]
    first = min((p.started for p in paths), default=None)
    last = max((p.first_weight for p in reached if p.first_weight is not None), default=None)
    tasks = sum(len(p.task_runs) for p in paths)
    return BurstSummary(
        rollouts=len(paths),
        at_weight=len(reached),
        last_weight_after_s=None if first is None or last is None else round((last - first).total_seconds(), 2),
        first_weight_s=_spread([s for p in reached if (s := p.first_weight_seconds) is not None]),
        lease_s=_spread([p.lease_seconds for p in paths if p.lease_seconds is not None]),
        task_wait_s=_spread([w for p in paths for w in p.task_waits]),
        task_run_s=_spread([r for p in paths for r in p.task_runs]),
        tasks_per_rollout=round(tasks / len(paths), 2) if paths else 0.0,
    )
