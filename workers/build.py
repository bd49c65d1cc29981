"""Assemble a Worker: the same wiring in production, tests and benchmarks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from workers.rollout_metrics import RolloutMetricsInterceptor
from workers.tuning import WorkerTuning


def sandbox_runner() -> SandboxedWorkflowRunner:
    """The workflow sandbox, with our pure modules and pydantic passed through.

    Passing pydantic through avoids re-importing it per workflow run (slow, and its classes would not be the
    ones the converter knows). Our pure modules hold no I/O, so sharing them across runs is safe. ``sshsig`` and
    ``cryptography`` verify signed decisions in handlers: pure functions, and their native bindings cannot be
    imported twice in one process.
    """
    return SandboxedWorkflowRunner(
        restrictions=SandboxRestrictions.default.with_passthrough_modules(
            "pydantic", "pydantic_core", "models", "workflows", "sshsig", "cryptography"
        )
    )


def build_worker(
    client: Client,
    *,
    task_queue: str,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    graceful_shutdown: timedelta = timedelta(seconds=30),
    identity: str | None = None,
    tuning: WorkerTuning | None = None,
) -> Worker:
    """A worker for ``task_queue``; activities still running at shutdown get ``graceful_shutdown`` to finish.

    ``tuning`` sets the workflow cache and the concurrency limits (ADR 16); the SDK's defaults apply to any limit
    it leaves unset. The rollout metrics interceptor is always on: without a metrics runtime it records nothing.
    """
    tuning = tuning or WorkerTuning()
    limits: dict[str, Any] = {}
    if tuning.max_concurrent_workflow_tasks is not None:
        limits["max_concurrent_workflow_tasks"] = tuning.max_concurrent_workflow_tasks
    return Worker(
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
        **limits,
    )
