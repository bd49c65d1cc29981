"""Assemble a Worker: the same wiring in production, tests and benchmarks."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from datetime import timedelta
from types import TracebackType
from typing import Any

from temporalio.client import Client
from temporalio.worker import PollerBehaviorSimpleMaximum, Worker

from activities.lease import LeaseActivities
from models.lease import watch_queue
from workers.rollout_metrics import RolloutMetricsInterceptor
from workers.sandbox import sandbox_runner
from workers.tuning import SHARED_QUEUE_POLL_SHARE, WorkerTuning

HEARTBEAT_FLUSH = timedelta(seconds=1)
"""Longest a heartbeat's details wait in the worker before they reach the server. The SDK's default is 80% of the
heartbeat timeout (24 s for the eval gate's 30 s): a worker killed mid-suite lost that much graded work, which
the next attempt ran again. Heartbeats carry progress (eval verdicts, shadow counts), so they go out each second.
"""


class RolloutWorker:
    """The worker of a task queue and, beside it, the worker of its lease watchers: run together, stopped together.

    Two SDK workers because a slot pool belongs to a worker: each lease keeps one ``watch_holder`` activity open
    for its holder's whole life, and on the rollouts' own queue a thousand of them would hold the slots that
    counter reads, router calls and rollbacks need. The watchers' worker serves only ``watch_holder``, on
    ``watch_queue(task_queue)``, with ``tuning.max_concurrent_watches`` slots; no workflow runs there.
    """

    def __init__(self, main: Worker, watchers: Worker | None) -> None:
        self.main = main
        self.watchers = watchers
        self._stack: contextlib.AsyncExitStack | None = None

    @property
    def task_queue(self) -> str:
        """The rollouts' task queue (the watchers' is derived from it)."""
        return self.main.task_queue

    async def __aenter__(self) -> RolloutWorker:
        async with contextlib.AsyncExitStack() as stack:
            if self.watchers is not None:
                await stack.enter_async_context(self.watchers)
            await stack.enter_async_context(self.main)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        """The rollouts' worker drains first (its activities may still be rolling back), then the watchers'."""
        stack, self._stack = self._stack, None
        if stack is not None:
            await stack.__aexit__(kind, error, trace)


def _pollers(maximum: int) -> PollerBehaviorSimpleMaximum:
    """``maximum`` long polls (``workers.tuning.workflow_pollers_for``: 5 to 20).

    Not the SDK's autoscaling: it scaled the shared and the sticky queue's polls each up to the maximum (80 open
    at 40) and down again mid-burst, and it ignores the split between them that ``SHARED_QUEUE_POLL_SHARE`` sets.
    """
    return PollerBehaviorSimpleMaximum(maximum=max(5, maximum))


def _watch_activities(activities: Sequence[Callable[..., Any]]) -> list[Callable[..., Any]]:
    """The bound ``watch_holder`` among ``activities`` (none: the caller serves no leases)."""
    return [fn for fn in activities if getattr(fn, "__func__", None) is LeaseActivities.watch_holder]


def build_worker(
    client: Client,
    *,
    task_queue: str,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    graceful_shutdown: timedelta = timedelta(seconds=30),
    identity: str | None = None,
    tuning: WorkerTuning | None = None,
) -> RolloutWorker:
    """A worker for ``task_queue``; activities still running at shutdown get ``graceful_shutdown`` to finish.

    ``tuning`` sets the workflow cache and the concurrency limits (ADR 16); the SDK's defaults apply to any limit
    it leaves unset. The rollout metrics interceptor is always on: without a metrics runtime it records nothing.
    """
    tuning = tuning or WorkerTuning()
    limits: dict[str, Any] = {}
    if tuning.max_concurrent_workflow_tasks is not None:
        limits["max_concurrent_workflow_tasks"] = tuning.max_concurrent_workflow_tasks
    main = Worker(
        client,
        task_queue=task_queue,
        workflows=workflows,
        activities=activities,
        workflow_runner=sandbox_runner(),
        graceful_shutdown_timeout=graceful_shutdown,
        identity=identity,
        interceptors=[RolloutMetricsInterceptor()],
        max_cached_workflows=tuning.max_cached_workflows,
        max_concurrent_activities=tuning.max_concurrent_activities,
        max_heartbeat_throttle_interval=HEARTBEAT_FLUSH,
        workflow_task_poller_behavior=_pollers(tuning.workflow_pollers),
        activity_task_poller_behavior=_pollers(tuning.activity_pollers),
        nonsticky_to_sticky_poll_ratio=SHARED_QUEUE_POLL_SHARE,
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=tuning.sticky_timeout_seconds),
        **limits,
    )
    watch = _watch_activities(activities)
    watchers = (
        Worker(
            client,
            task_queue=watch_queue(task_queue),
            activities=watch,
            graceful_shutdown_timeout=graceful_shutdown,
            identity=identity,
            max_concurrent_activities=tuning.max_concurrent_watches,
        )
        if watch
        else None
    )
    return RolloutWorker(main, watchers)
