"""Worker telemetry and tuning settings from the environment, apart from the connection settings.

Kept out of ``workers.settings`` so the connection and policy settings (edited for other features) and these
scaling knobs change independently. Every value has a default that runs a worker well on the dev server; the
reasons for each default are in ADR 16 (docs/architecture-decisions.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workers.settings import SettingsError

DEFAULT_ROLLOUTS = 2000
"""How many rollouts a worker is sized for unless ``WORKER_ROLLOUTS`` says otherwise: the cache, the watchers'
slots and the work slots below all follow from it (``WorkerTuning.for_rollouts``)."""


def cache_for(rollouts: int) -> int:
    """Two workflows per rollout: the rollout and its lease.

    Past the cache every analysis would replay its whole history (measured, ADR 16).
    """
    return 2 * rollouts


def watches_for(rollouts: int) -> int:
    """One watcher per lease, plus room for the leases that are changing hands.

    Each watcher holds its slot for its holder's whole life; the watchers' own worker
    (``workers.build.RolloutWorker``) has this many slots.
    """
    return rollouts + max(50, rollouts // 10)


def activities_for(rollouts: int) -> int:
    """Slots for lease takes, counter reads, router calls, rollbacks and notifications: async, so a slot is cheap.

    One per rollout, never under the SDK's 100. In a burst of starts every rollout takes its lease at once, and
    ``acquire_lease`` holds its slot until the lease workflow's own task answers: with a quarter of the rollouts
    (250 of 1,000) every slot was held by a waiting take, and the router calls and retries queued behind them.
    After a restart every rollout may roll back at once too. Leases started before the ``lease-watch-queue``
    patch still watch here, until they end.
    """
    return max(100, rollouts)


def workflow_pollers_for(rollouts: int) -> int:
    """Workflow-task long polls at most: one per 100 rollouts, between the SDK's 5 and 20.

    A poll carries one task at a time, so in a burst the pollers bound how fast a worker takes tasks: with the
    SDK's 5, tasks of a burst of 1,000 starts waited 7.5 s (p50) in the queue while 5 of 100 slots were busy.
    40 pollers took 76 tasks at once; they ran on one Python thread (p50 0.9 s each, up to 14 s), and 309 passed
    the 10 s workflow task timeout (docs/capacity.md). ``SHARED_QUEUE_POLL_SHARE`` of them poll the shared queue
    (new rollouts and leases, tasks moved off a sticky queue), the rest this worker's sticky queue.
    """
    return min(20, max(5, rollouts // 100))


def workflow_slots_for(rollouts: int) -> int:
    """Workflow tasks run at once: twice the pollers, so a poll never waits for a slot while tasks finish.

    Not the SDK's 100: the tasks share one Python thread, so each one in flight makes the others slower, and a
    task past the 10 s workflow task timeout is thrown away and run again.
    """
    return 2 * workflow_pollers_for(rollouts)


def activity_pollers_for(rollouts: int) -> int:
    """Activity-task long polls at most: as many as for workflow tasks.

    Most activities start eagerly (in the reply to the workflow task that scheduled them), but a retry, and any
    activity scheduled while the slots were full, waits in the queue for a poll.
    """
    return workflow_pollers_for(rollouts)


SHARED_QUEUE_POLL_SHARE = 0.5
"""The share of the workflow-task pollers that poll the shared queue rather than this worker's sticky queue.

The SDK gives it a fifth. In a burst every rollout's first task and then its lease's first task wait there, in
that order, and nothing else a rollout does starts before its lease: with a fifth of the polls, no lease
workflow had run a single task 100 s into a burst of 1,000 while 913 lease takes held activity slots. Half
lets the shared queue drain as fast as the sticky one.
"""


STICKY_TIMEOUT_SECONDS = 30
"""How long a task may wait on this worker's sticky queue before the server moves it to the shared queue.

The SDK's 10 s failed 866 to 1,082 tasks of every burst of 1,000 starts (each one moved to the back of the shared
queue, and its history fetched and replayed). 30 s is the time a burst of 1,000 is given to reach its first
weight: a task that waits longer has missed that target anyway. It is also how long the tasks queued for a
SIGKILLed worker wait before another worker takes them (new tasks go to the shared queue once the server sees
no poll from the dead worker), which the restart's 60 s for aborts leaves room for."""


DEFAULT_MAX_CACHED_WORKFLOWS = cache_for(DEFAULT_ROLLOUTS)
DEFAULT_MAX_CONCURRENT_ACTIVITIES = activities_for(DEFAULT_ROLLOUTS)
DEFAULT_MAX_CONCURRENT_WATCHES = watches_for(DEFAULT_ROLLOUTS)


@dataclass(frozen=True)
class WorkerTuning:
    """How big a worker's cache is, how much it runs at once, and where it exposes its metrics."""

    metrics_bind: str | None = None
    max_cached_workflows: int = DEFAULT_MAX_CACHED_WORKFLOWS
    max_concurrent_workflow_tasks: int | None = workflow_slots_for(DEFAULT_ROLLOUTS)
    max_concurrent_activities: int = DEFAULT_MAX_CONCURRENT_ACTIVITIES
    max_concurrent_watches: int = DEFAULT_MAX_CONCURRENT_WATCHES
    workflow_pollers: int = workflow_pollers_for(DEFAULT_ROLLOUTS)
    activity_pollers: int = activity_pollers_for(DEFAULT_ROLLOUTS)
    sticky_timeout_seconds: int = STICKY_TIMEOUT_SECONDS
    ready_file: Path | None = None
    """Exists while the worker polls (a readiness probe checks it); removed when a drain starts."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> WorkerTuning:
        """Read the tuning, failing with one message that names every bad variable."""
        env = dict(os.environ if env is None else env)
        problems: list[str] = []

        def count(name: str, default: int | None, minimum: int) -> int | None:
            raw = env.get(name, "")
            if not raw:
                return default
            try:
                value = int(raw)
            except ValueError:
                value = minimum - 1
            if value < minimum:
                problems.append(f"{name}={raw!r}: expected a whole number >= {minimum}")
                return default
            return value

        bind = env.get("WORKER_METRICS_BIND") or None
        if bind is not None:
            host, sep, port = bind.rpartition(":")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                problems.append(f"WORKER_METRICS_BIND={bind!r}: expected HOST:PORT, e.g. 0.0.0.0:9464")
        rollouts = count("WORKER_ROLLOUTS", DEFAULT_ROLLOUTS, 1) or DEFAULT_ROLLOUTS
        cached = count("WORKER_MAX_CACHED_WORKFLOWS", cache_for(rollouts), 0)
        workflow_tasks = count("WORKER_MAX_CONCURRENT_WORKFLOW_TASKS", workflow_slots_for(rollouts), 2)
        workflow_pollers = count("WORKER_WORKFLOW_TASK_POLLERS", workflow_pollers_for(rollouts), 2)
        activity_pollers = count("WORKER_ACTIVITY_TASK_POLLERS", activity_pollers_for(rollouts), 1)
        sticky = count("WORKER_STICKY_TIMEOUT_SECONDS", STICKY_TIMEOUT_SECONDS, 1)
        activities = count("WORKER_MAX_CONCURRENT_ACTIVITIES", activities_for(rollouts), 1)
        watches = count("WORKER_MAX_CONCURRENT_WATCHES", watches_for(rollouts), 1)
        if problems:
            raise SettingsError("invalid worker tuning: " + "; ".join(problems))
        return cls(
            metrics_bind=bind,
            max_cached_workflows=cached if cached is not None else cache_for(rollouts),
            max_concurrent_workflow_tasks=workflow_tasks,
            max_concurrent_activities=activities if activities is not None else activities_for(rollouts),
            max_concurrent_watches=watches if watches is not None else watches_for(rollouts),
            workflow_pollers=workflow_pollers or workflow_pollers_for(rollouts),
            activity_pollers=activity_pollers or activity_pollers_for(rollouts),
            sticky_timeout_seconds=sticky or STICKY_TIMEOUT_SECONDS,
            ready_file=Path(env["WORKER_READY_FILE"]) if env.get("WORKER_READY_FILE") else None,
        )
