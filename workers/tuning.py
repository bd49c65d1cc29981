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
    """Slots for counter reads, router calls, rollbacks and notifications: short and async.

    After a restart every
    rollout may roll back at once, so a quarter of the rollouts at least, never under the SDK's 100; leases
    started before the ``lease-watch-queue`` patch still watch here, until they end.
    """
    return max(100, rollouts // 4)


def workflow_pollers_for(rollouts: int) -> int:
    """Workflow-task long polls open at once: one per 25 rollouts, between the SDK's 5 and 100.

    A poll carries one task at a time, so the pollers, not the slots, bound how fast a worker takes tasks: in a
    burst of 1,000 starts the SDK's 5 pollers kept 5 of 100 slots busy while tasks waited 16 s on average in
    the queue (docs/capacity.md). The SDK gives a fifth of them to the shared queue (new rollouts, and tasks
    whose sticky queue timed out) and the rest to this worker's sticky queue (rollouts it already holds).
    """
    return min(100, max(5, rollouts // 25))


def workflow_slots_for(rollouts: int) -> int:
    """Workflow tasks run at once: twice the pollers, never under the SDK's 100.

    A poll waits for a free slot before it asks for a task, so fewer slots than pollers would leave polls
    idle; tasks run on one Python thread at a time, so more in flight only makes each one slower.
    """
    return max(100, 2 * workflow_pollers_for(rollouts))


def activity_pollers_for(rollouts: int) -> int:
    """Activity-task long polls: as many as for workflow tasks.

    Most activities start eagerly (in the reply to the workflow task that scheduled them), but a retry, and any
    activity scheduled while the slots were full, waits in the queue for a poll.
    """
    return workflow_pollers_for(rollouts)


STICKY_TIMEOUT_SECONDS = 10
"""How long a task may wait on this worker's sticky queue before the server moves it to the shared queue.

The SDK's default. A move costs a full replay of the history on whichever worker takes it; a longer timeout
would also hold a SIGKILLed worker's tasks that long (``WORKER_STICKY_TIMEOUT_SECONDS`` overrides it)."""


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
