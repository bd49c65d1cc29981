"""1,000 generated specs started as real workflows: each ends at once naming its field, or runs; none fails a task.

The same strategies as the pure fuzz test (``tests/spec_strategies.py``), with the base pointed at a simulator so
that the valid ones really move traffic. Every invalid spec must fail the very first workflow task with
``InvalidRolloutSpec`` (how long validation takes is measured by ``bench/spec_validation.py``, not asserted
here); every valid one must get past validation, and is then aborted. No run may leave a workflow task failing
or a workflow running.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from temporalio.api.enums.v1 import EventType
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowQueryFailedError,
)
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from models.validation import SpecError, validate_spec
from simulator.testing import Simulator, run_simulator
from tests.spec_strategies import VALID_BASE, specs
from tests.workflows.helpers import rollout_worker, run_histories, status, task_failures, wait_until

COUNT = 1_000
BATCH = 20
NOTHING_DONE = {
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT,  # a worker too busy to answer in time, not a failure
    EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED,
    EventType.EVENT_TYPE_MARKER_RECORDED,  # the patch markers of the code that ran it
    EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES,  # found in the list as an invalid spec (ADR 15)
}
"""An invalid spec ends in its first completed workflow task: no activity, no timer, no failed task; what it does
is mark its patches and say in its search attributes that it was an invalid spec."""


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


def _runnable(spec: Any, sim: Simulator) -> Any:
    """A valid spec made to run here; an invalid one as drawn.

    A valid one gets its own service (the lease allows one rollout per service) and the simulator's router and
    metrics: the strategies also draw nginx, Prometheus and URLs nobody serves here, and a rollback retries a
    router until it confirms, so a router that is not there would never let it end. The gates would only wait on
    such URLs; validation is what this test is about.
    """
    try:
        validate_spec(spec)
    except SpecError:
        return spec
    # JSON text and read-only mappings validate too: run their plain JSON form.
    spec = json.loads(spec) if isinstance(spec, str | bytes) else json.loads(json.dumps(spec, default=dict))
    service = f"fz-{uuid.uuid4().hex[:12]}"
    runnable = {
        **spec,
        "service": service,
        "router": {"kind": "http", "url": sim.routes_url(service)},
        "metrics": {"kind": "http-json", "url": sim.metrics_url(service)},
    }
    return {key: value for key, value in runnable.items() if key not in ("preflight", "shadow")}


async def _one(client: Client, task_queue: str, spec: Any) -> tuple[str, WorkflowHandle[Any, Any] | None]:
    converter = client.data_converter.payload_converter
    try:
        as_sent = converter.from_payload(converter.to_payload(spec))  # what the workflow will decode
    except Exception:
        as_sent = None  # the client cannot even encode it: the start below is refused too
    try:
        validate_spec(as_sent)
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
        assert set(kinds) <= NOTHING_DONE and kinds[-1] == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, kinds
        assert kinds.count(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) == 1, "refused in the first completed task"
        return "invalid", handle

    async def past_validation() -> bool:
        if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
            return True  # ended by itself already (a preflight with nothing behind its URL, a taken lease)
        try:
            return (await status(handle)).phase != "validating"
        except WorkflowQueryFailedError:  # refused until validation has built the run
            return False

    await wait_until(past_validation, timeout=60, what="a valid spec past validation")
    with contextlib.suppress(RPCError):  # already ended: nothing to abort
        await handle.signal("abort", {"by": "fuzz", "reason": "cleanup"})
    try:
        await handle.result()
    except WorkflowFailureError as failed:
        cause = failed.cause
        assert isinstance(cause, ApplicationError) and cause.type == "RolloutAlreadyRunning", cause
    return "valid", handle


@pytest.mark.slow
@pytest.mark.timeout(900)  # 1,000 workflows, about 250 of them real rollouts, on 2 cores
async def test_generated_specs_end_at_once_or_run_and_never_fail_a_task(client: Client, task_queue: str) -> None:
    async with run_simulator(knobs={"rps": 200000}) as sim, rollout_worker(client, task_queue):
        base = _base(sim)
        drawn = [_runnable(spec, sim) for spec in _draw(base)]
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
