"""Shared pieces of the workflow tests: a compressed spec against a simulator, and a production-wired worker."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from simulator.testing import Simulator
from workers.build import build_worker
from workers.registry import open_activities, registered_workflows
from workflows.rollout.state import RolloutResult, RolloutStatus


def unique_service() -> str:
    return f"svc-{uuid.uuid4().hex[:10]}"


def compressed_spec(sim: Simulator, service: str, **overrides: Any) -> dict[str, Any]:
    """A rollout that takes seconds: two short steps, analysis every second, a small minimum sample."""
    spec: dict[str, Any] = {
        "service": service,
        "requested_by": "ml-engineer",
        "stable": {"version": sim.stable_version, "endpoint": sim.stable_url},
        "candidate": {
            "version": sim.candidate_version,
            "endpoint": sim.candidate_url,
            "manifest": {"model": "gpt-4o-mini-2024-07-18", "system_prompt_sha": "a4f2c1"},
        },
        "router": {"kind": "http", "url": sim.routes_url(service)},
        "metrics": {"kind": "http-json", "url": sim.metrics_url(service)},
        "steps": [{"weight": 10, "observe": "3s"}, {"weight": 50, "observe": "3s"}],
        "analysis_interval": "1s",
        "criteria": {"min_requests": 5000},
    }
    spec.update(overrides)
    return spec


@contextlib.asynccontextmanager
async def rollout_worker(client: Client, task_queue: str) -> AsyncIterator[Worker]:
    """The production worker wiring (workflows, activities, shared HTTP client) on a test task queue."""
    async with open_activities(client, task_queue) as activities:
        worker = build_worker(client, task_queue=task_queue, workflows=registered_workflows(), activities=activities)
        async with worker:
            yield worker


async def start_rollout(client: Client, spec: dict[str, Any], task_queue: str) -> WorkflowHandle[Any, RolloutResult]:
    """Start as the CLI does: workflow type ``Rollout`` with the spec as its one JSON argument."""
    handle: WorkflowHandle[Any, RolloutResult] = await client.start_workflow(
        "Rollout", spec, id=f"rollout-{spec['service']}", task_queue=task_queue, result_type=RolloutResult
    )
    return handle


async def status(handle: WorkflowHandle[Any, Any]) -> RolloutStatus:
    found: RolloutStatus = await handle.query("status", result_type=RolloutStatus)
    return found


async def wait_until(
    probe: Callable[[], Awaitable[bool]], *, timeout: float = 60.0, interval: float = 0.1, what: str = "condition"
) -> None:
    """Poll ``probe`` until it holds; a deadline, not a sleep, decides failure."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await probe():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


async def wait_for_status(
    handle: WorkflowHandle[Any, Any], holds: Callable[[RolloutStatus], bool], *, what: str, timeout: float = 60.0
) -> RolloutStatus:
    """Poll the ``status`` query until ``holds``; returns the status that held."""
    seen: list[RolloutStatus] = []

    async def probe() -> bool:
        seen.append(await status(handle))
        return holds(seen[-1])

    await wait_until(probe, what=what, timeout=timeout)
    return seen[-1]
