"""1,000 generated specs started as real workflows: each ends at once naming its field, or runs; none fails a task.

The same strategies as the pure fuzz test (``tests/spec_strategies.py``), with the base pointed at a simulator so
that the valid ones really move traffic. Every invalid spec must fail the very first workflow task with
``InvalidRolloutSpec`` (how long validation takes is measured by ``bench/spec_validation.py``, not asserted
here); every valid one must get past validation, and is then aborted. No run may leave a workflow task failing
or a workflow running.
"""

from __future__ import annotations

import asyncio
import copy
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from models.spec import SpecError, validate_spec
from simulator.testing import Simulator, run_simulator
from tests.spec_strategies import VALID_BASE, specs
from tests.workflows.helpers import rollout_worker, run_histories, status, task_failures, wait_until

COUNT = 1_000
BATCH = 20
FAILED_IN_FIRST_TASK = [
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
]
"""An invalid spec ends in the first workflow task: nothing scheduled, nothing retried."""


def _base(sim: Simulator) -> dict[str, Any]:
    base = copy.deepcopy(VALID_BASE)
    base["stable"]["endpoint"], base["candidate"]["endpoint"] = sim.stable_url, sim.candidate_url
    base["stable"]["version"], base["candidate"]["version"] = sim.stable_version, sim.candidate_version
    base["router"]["url"] = sim.routes_url(base["service"])
    base["metrics"]["url"] = sim.metrics_url(base["service"])
    return base


def _draw(base: dict[str, Any]) -> list[Any]:
    drawn: list[Any] = []

    @settings(
        max_examples=COUNT, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
    )
    @given(specs(base))
    def collect(spec: Any) -> None:
        drawn.append(spec)

    collect()
    return drawn


def _own_service(spec: Any, base_service: str) -> Any:
    """Each valid spec its own service, so the one-rollout-per-service lease does not refuse it."""
    if isinstance(spec, dict) and spec.get("service") == base_service:
        return {**spec, "service": f"fz-{uuid.uuid4().hex[:12]}"}
    return spec


async def _one(client: Client, task_queue: str, spec: Any) -> tuple[str, WorkflowHandle[Any, Any] | None]:
    try:
        validate_spec(spec)
        valid = True
    except SpecError:
        valid = False
    try:
        handle = await client.start_workflow(
            "Rollout", spec, id=f"rollout-fuzz-{uuid.uuid4().hex[:12]}", task_queue=task_queue
        )
    except (RPCError, TypeError, ValueError, OverflowError, RecursionError):
        return "refused by the client or the server before any workflow existed", None
    if not valid:
        with pytest.raises(WorkflowFailureError) as caught:
            await handle.result()
        cause = caught.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "InvalidRolloutSpec", cause
        assert cause.message.splitlines()[0].startswith("invalid rollout spec")
        events = (await handle.fetch_history()).events
        kinds = [e.event_type for e in events]
        assert kinds == FAILED_IN_FIRST_TASK, f"{len(kinds)} events: the spec must fail the very first task"
        return "invalid", handle

    async def past_validation() -> bool:
        try:
            return (await status(handle)).phase != "validating"
        except Exception:  # the query is refused until validation has built the run
            return False

    await wait_until(past_validation, timeout=60, what="a valid spec past validation")
    await handle.signal("abort", {"by": "fuzz", "reason": "cleanup"})
    await handle.result()
    return "valid", handle


@pytest.mark.slow
async def test_generated_specs_end_at_once_or_run_and_never_fail_a_task(client: Client, task_queue: str) -> None:
    async with run_simulator(knobs={"rps": 200000}) as sim, rollout_worker(client, task_queue):
        base = _base(sim)
        drawn = [_own_service(spec, base["service"]) for spec in _draw(base)]
        assert len(drawn) >= COUNT
        outcomes: list[tuple[str, WorkflowHandle[Any, Any] | None]] = []
        for start in range(0, len(drawn), BATCH):
            outcomes += await asyncio.gather(*(_one(client, task_queue, s) for s in drawn[start : start + BATCH]))
        handles = [h for _, h in outcomes if h is not None]
        failures = [task_failures(await run_histories(client, h)) for h in handles]
        running: list[str] = []

        async def nothing_running() -> bool:
            query = f'TaskQueue="{task_queue}" AND ExecutionStatus="Running"'
            running[:] = [w.id async for w in client.list_workflows(query)]
            return not running

        await wait_until(nothing_running, timeout=60, interval=1.0, what="no workflow left running")
    kinds = {kind: sum(1 for k, _ in outcomes if k == kind) for kind, _ in outcomes}
    print(f"\nfuzzed on the server: {kinds}")
    assert kinds.get("valid", 0) >= 100 and kinds.get("invalid", 0) >= 500, kinds
    assert sum(failures) == 0
    assert running == []
