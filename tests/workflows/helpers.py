"""Shared pieces of the workflow tests: a compressed spec against a simulator, and a production-wired worker."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client, WorkflowHandle, WorkflowHistory
from temporalio.service import RPCError, RPCStatusCode

from simulator.testing import Simulator
from workers.build import RolloutWorker, build_worker
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


SIM_TARGET = "sim"
"""The name the test policies give the simulator's target."""


def sim_target(sim: Simulator) -> dict[str, Any]:
    """The simulator as an operators' target: one router and metrics URL per service, via ``{service}``."""
    return sim.target()


def targeted_spec(sim: Simulator, service: str, **overrides: Any) -> dict[str, Any]:
    """``compressed_spec`` naming the operators' ``sim`` target instead of carrying a router and metrics."""
    spec = compressed_spec(sim, service, **overrides)
    if "router" not in overrides:
        del spec["router"]
    if "metrics" not in overrides:
        del spec["metrics"]
    spec.setdefault("target", SIM_TARGET)
    return spec


LAB_POLICY = Path(__file__).resolve().parent / "lab-policy.json"
"""A lab's policy: any name the spec lists may approve unsigned, and the record marks each one unverified. The
tests of orchestration use it; tests/workflows/test_signed_approvals.py runs under strict, signed policies."""


@contextlib.asynccontextmanager
async def rollout_worker(
    client: Client, task_queue: str, *, policy_path: Path | None = LAB_POLICY, lab_mode: bool = False
) -> AsyncIterator[RolloutWorker]:
    """The production worker wiring (workflows, activities, shared HTTP client) on a test task queue."""
    async with open_activities(client, task_queue, policy_path=policy_path, lab_mode=lab_mode) as activities:
        worker = build_worker(client, task_queue=task_queue, workflows=registered_workflows(), activities=activities)
        async with worker:
            yield worker


async def start_rollout(client: Client, spec: dict[str, Any], task_queue: str) -> WorkflowHandle[Any, RolloutResult]:
    """Start as the CLI does: workflow type ``Rollout`` with the spec as its one JSON argument."""
    handle: WorkflowHandle[Any, RolloutResult] = await client.start_workflow(
        "Rollout", spec, id=f"rollout-{spec['service']}", task_queue=task_queue, result_type=RolloutResult
    )
    return handle


QUERY_ATTEMPTS = 5
"""How many times a status query is asked before its timeout counts: on 2 cores running the whole suite, a worker
can be too busy to answer one within the server's query timeout, which says nothing about the rollout."""


async def status(handle: WorkflowHandle[Any, Any]) -> RolloutStatus:
    """The rollout's status query, asked again when it timed out (a busy worker), never when it was refused."""
    for attempt in range(1, QUERY_ATTEMPTS + 1):
        try:
            found: RolloutStatus = await handle.query("status", result_type=RolloutStatus)
            return found
        except RPCError as error:
            timed_out = error.status in (RPCStatusCode.CANCELLED, RPCStatusCode.DEADLINE_EXCEEDED)
            if not timed_out or attempt == QUERY_ATTEMPTS:
                raise
    raise AssertionError("unreachable: the last attempt returns or raises")


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


@dataclass
class Delivery:
    """One request a webhook receiver got."""

    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@contextlib.asynccontextmanager
async def webhook_receiver(status: int = 204) -> AsyncIterator[tuple[str, list[Delivery]]]:
    """A webhook receiver on 127.0.0.1: every POST is kept, answered ``status``."""
    got: list[Delivery] = []

    async def handle(request: web.Request) -> web.Response:
        got.append(Delivery(request.path, dict(request.headers), await request.read()))
        return web.Response(status=status)

    app = web.Application()
    app.router.add_post("/{name}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}", got
    finally:
        await runner.cleanup()


MAX_PAYLOAD_BYTES = 512 * 1024
"""What issue 10 holds every carried input and every result under (Temporal warns at 512 KB, refuses at 2 MB)."""


async def run_histories(client: Client, handle: WorkflowHandle[Any, Any]) -> list[WorkflowHistory]:
    """Every run's history, following continue-as-new from the first run."""
    histories: list[WorkflowHistory] = []
    run_id = handle.first_execution_run_id or handle.run_id
    while run_id:
        history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
        histories.append(history)
        last = history.events[-1]
        run_id = (
            last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id
            if last.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
            else None
        )
    return histories


def largest_input(history: WorkflowHistory) -> int:
    """Bytes of the run's input payloads (the spec, and the carried state after continue-as-new)."""
    started = history.events[0].workflow_execution_started_event_attributes
    return sum(p.ByteSize() for p in started.input.payloads)


def result_size(history: WorkflowHistory) -> int:
    """Bytes of the result payload of a completed run."""
    completed = history.events[-1].workflow_execution_completed_event_attributes
    return sum(p.ByteSize() for p in completed.result.payloads)


SERVER_FORCED = {
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND,
    WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
}
"""Task failures the server imposes when events (a burst of signals) pile up during a task; the task is retried
at once. Any other cause is the workflow's own failure."""


def task_failures(histories: list[WorkflowHistory]) -> int:
    """Workflow tasks that failed in the workflow's own code, over every run: none may, whatever the input."""
    return sum(
        1
        for h in histories
        for e in h.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED
        and e.workflow_task_failed_event_attributes.cause not in SERVER_FORCED
    )
