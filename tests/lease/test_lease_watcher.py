"""The lease watches its holder (issue 10): whatever ends a rollout, stable goes back to 100%, verified.

Real dev server, real workers, the simulator's real HTTP router; read-backs are awaited with deadlines.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle

from models.lease import LeaseReport, lease_id
from simulator.testing import Simulator, run_simulator
from tests.lease.holders import BrokenRollout, HolderInput, LeaseTestHolder
from tests.workflows.helpers import (
    LAB_POLICY,
    compressed_spec,
    rollout_worker,
    start_rollout,
    unique_service,
    wait_for_status,
    wait_until,
)
from workers.build import RolloutWorker, build_worker
from workers.registry import open_activities, registered_workflows
from workflows import search_attributes as sa
from workflows.lease import LEASE_WATCHER_PATCH, RolloutLease

FAST = {"rps": 200000}
STABLE = {"stable": 100.0, "candidate": 0.0}


@contextlib.asynccontextmanager
async def worker_with(client: Client, task_queue: str, workflows: Sequence[type]) -> AsyncIterator[RolloutWorker]:
    """The production activities with a chosen set of workflow types."""
    async with (
        open_activities(client, task_queue, policy_path=LAB_POLICY) as activities,
        build_worker(client, task_queue=task_queue, workflows=workflows, activities=activities) as worker,
    ):
        yield worker


def lease_of(client: Client, service: str) -> WorkflowHandle[Any, LeaseReport]:
    return client.get_workflow_handle(lease_id(service), result_type=LeaseReport)


async def routes_become(sim: Simulator, service: str, want: dict[str, float], *, timeout: float = 30.0) -> None:
    async def there() -> bool:
        return await sim.routes(service) == want

    await wait_until(there, what=f"router of {service} at {want}", timeout=timeout)


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return str(metadata.current_details)


async def activity_types(handle: WorkflowHandle[Any, Any]) -> list[str]:
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        async for e in handle.fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
    ]


async def run_chain(client: Client, first: WorkflowHandle[Any, Any]) -> list[str]:
    """The run ids of a workflow from its first run through each continue-as-new, read from the histories."""
    runs = [first.first_execution_run_id or first.run_id or ""]
    while True:
        handle = client.get_workflow_handle(first.id, run_id=runs[-1])
        last = [e async for e in handle.fetch_history_events()][-1]
        if last.event_type != EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
            return runs
        runs.append(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)


async def test_terminated_rollout_is_rolled_back_by_its_lease(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, service, steps=[{"weight": 25, "observe": "1h"}])
        rollout = await start_rollout(client, spec, task_queue)
        await wait_for_status(rollout, lambda st: st.weight == 25, what="step 1 at 25%")
        assert await sim.routes(service) == {"stable": 75.0, "candidate": 25.0}

        await rollout.terminate(reason="wrong model version, stopping by hand")
        await routes_become(sim, service, STABLE)
        lease = lease_of(client, service)
        report = await lease.result()
        details = await current_details(lease)
        described = await lease.describe()
        ended = await rollout.describe()
        runs = await run_chain(client, rollout)
        # The lease ended: the next rollout of the service starts on a fresh one and runs to its end.
        again = await client.start_workflow(
            "Rollout",
            {**spec, "steps": [{"weight": 10, "observe": "1s"}]},
            id=f"{rollout.id}-again",
            task_queue=task_queue,
        )
        await again.result()

    assert ended.status == WorkflowExecutionStatus.TERMINATED
    assert report.watched and report.ended_by == "holder_ended"
    orphan = report.orphan_rollback
    assert orphan is not None
    assert (orphan.holder, orphan.holder_run_id) == (rollout.id, runs[-1])
    assert orphan.ended == "terminated" and orphan.reason == "wrong model version, stopping by hand"
    assert orphan.compensated and orphan.router_verified is True
    assert orphan.router is not None and orphan.router.candidate == 0.0 and orphan.router.stable == 100.0
    assert orphan.finished_at >= orphan.started_at and orphan.duration_seconds >= 0
    continued = ["re-acquired"] * (len(runs) - 1)
    assert [e.event for e in report.timeline] == [
        "acquired",
        *continued,
        "holder ended without releasing",
        "stable at 100%",
    ]
    assert "terminated" in details and "wrong model version" in details and "verified" in details
    assert described.status == WorkflowExecutionStatus.COMPLETED
    assert described.typed_search_attributes.get(sa.SERVICE) == service


async def test_promoted_rollout_releases_and_nothing_is_compensated(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        rollout = await start_rollout(client, compressed_spec(sim, service), task_queue)
        result = await rollout.result()
        lease = lease_of(client, service)
        report = await lease.result()
        details = await current_details(lease)
        routes = await sim.routes(service)
        calls = [c["candidate"] for c in await sim.calls(service)]
        scheduled = await activity_types(lease)
        runs = await run_chain(client, rollout)

    assert result.record.outcome == "promoted"
    assert routes == {"stable": 0.0, "candidate": 100.0}
    assert calls == [10.0, 50.0, 100.0], "the lease never touched the router"
    assert report.watched and report.ended_by == "released" and report.orphan_rollback is None
    # A slow machine can carry the rollout past its replay budget: each continued run re-acquires, once.
    continued = ["re-acquired"] * (len(runs) - 1)
    assert [e.event for e in report.timeline] == ["acquired", *continued, "released", "holder closed"]
    assert "completed" in report.timeline[-1].detail
    assert scheduled == ["watch_holder"], "the holder was watched, and only watched"
    assert "released" in details


async def test_workflow_task_failing_holder_is_terminated_and_rolled_back(client: Client, task_queue: str) -> None:
    """A real Rollout at 25%, then a bad deploy of the Rollout code: every workflow task of it fails."""
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        spec = compressed_spec(sim, service, steps=[{"weight": 25, "observe": "1h"}])
        async with rollout_worker(client, task_queue):
            rollout = await start_rollout(client, spec, task_queue)
            await wait_for_status(rollout, lambda st: st.weight == 25, what="step 1 at 25%")
        assert await sim.routes(service) == {"stable": 75.0, "candidate": 25.0}
        async with worker_with(client, task_queue, [BrokenRollout, RolloutLease]):
            # The next analysis timer gives the broken code a workflow task; it fails on every attempt. The watcher
            # sees the fifth failed attempt at its next tick (``WATCH_TICK``, a minute).
            await routes_become(sim, service, STABLE, timeout=240)
            report = await lease_of(client, service).result()
        ended = await rollout.describe()

    assert ended.status == WorkflowExecutionStatus.TERMINATED
    orphan = report.orphan_rollback
    assert orphan is not None and orphan.ended == "task_failing"
    assert "workflow task failing: attempt" in orphan.reason and "broken deploy" in orphan.reason
    assert orphan.router_verified is True


async def test_holder_without_a_router_is_recorded_not_compensated(client: Client, task_queue: str) -> None:
    """A holder from before leases watched (no router in its request) fails without releasing."""
    service = unique_service()
    async with worker_with(client, task_queue, [*registered_workflows(), LeaseTestHolder]):
        holder = await client.start_workflow(
            LeaseTestHolder.run, HolderInput(service=service), id=f"holder-{service}", task_queue=task_queue
        )
        lease = lease_of(client, service)

        async def held() -> bool:
            try:
                return (await lease.query(RolloutLease.holder)).holder == holder.id
            except Exception:  # the lease is not started yet
                return False

        await wait_until(held, what="the lease held")
        await holder.signal(LeaseTestHolder.fail, "lost its nerve")
        report = await lease.result()
        details = await current_details(lease)

    orphan = report.orphan_rollback
    assert orphan is not None
    assert orphan.ended == "failed" and "lost its nerve" in orphan.reason
    assert not orphan.compensated and orphan.router_verified is None and orphan.router is None
    assert "no router known" in orphan.note and "no router known" in details


async def test_holder_followed_across_continue_as_new(client: Client, task_queue: str) -> None:
    """The watcher follows the holder's runs: the run that ends is the continued one, and it is rolled back."""
    service = unique_service()
    async with (
        run_simulator(knobs=FAST) as sim,
        worker_with(client, task_queue, [*registered_workflows(), LeaseTestHolder]),
    ):
        await sim.set_routes(service, stable=60, candidate=40)
        router = {"kind": "http", "url": sim.routes_url(service)}
        holder = await client.start_workflow(
            LeaseTestHolder.run,
            HolderInput.model_validate({"service": service, "router": router, "continue_as_new": True}),
            id=f"holder-{service}",
            task_queue=task_queue,
        )
        lease = lease_of(client, service)

        async def reacquired() -> bool:
            try:
                return any(e.event == "re-acquired" for e in (await lease.query(RolloutLease.report)).timeline)
            except Exception:  # the lease is not started yet
                return False

        await wait_until(reacquired, what="the continued run re-acquired")
        second_run = (await client.get_workflow_handle(holder.id).describe()).run_id
        assert second_run != holder.result_run_id
        await client.get_workflow_handle(holder.id).terminate(reason="stopped after continue-as-new")
        await routes_become(sim, service, STABLE)
        report = await lease.result()

    orphan = report.orphan_rollback
    assert orphan is not None and (orphan.ended, orphan.holder_run_id) == ("terminated", second_run)
    assert orphan.router_verified is True
    assert LEASE_WATCHER_PATCH == "lease-watcher"


async def test_holder_past_its_run_timeout_is_rolled_back(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with (
        run_simulator(knobs=FAST) as sim,
        worker_with(client, task_queue, [*registered_workflows(), LeaseTestHolder]),
    ):
        await sim.set_routes(service, stable=90, candidate=10)
        router = {"kind": "http", "url": sim.routes_url(service)}
        await client.start_workflow(
            LeaseTestHolder.run,
            HolderInput.model_validate({"service": service, "router": router}),
            id=f"holder-{service}",
            task_queue=task_queue,
            run_timeout=timedelta(seconds=3),
        )
        await routes_become(sim, service, STABLE)
        report = await lease_of(client, service).result()

    orphan = report.orphan_rollback
    assert orphan is not None and orphan.ended == "timed_out" and orphan.router_verified is True


async def test_a_rollout_started_right_after_a_terminated_one_runs(client: Client, task_queue: str) -> None:
    """An interrupted ``make run`` started again: the new rollout waits for the closing lease, then takes it.

    The router answers after 4.5 s (a write and its read-back: 9 s), so the lease's orphan rollback keeps it
    closing for longer than the acquire activity's retries used to last (three attempts, about 6 s), and well
    within the wait for a closing lease.
    """
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, service, steps=[{"weight": 25, "observe": "1h"}])
        rollout = await start_rollout(client, spec, task_queue)
        await wait_for_status(rollout, lambda st: st.weight == 25, what="step 1 at 25%")
        lease = lease_of(client, service)
        old_lease = client.get_workflow_handle(lease.id, run_id=(await lease.describe()).run_id)
        await sim.set_faults(router_delay_ms=4500)
        await rollout.terminate(reason="make run interrupted")

        async def closing() -> bool:
            report = await old_lease.query("report", result_type=LeaseReport)
            return any(e.event == "holder ended without releasing" for e in report.timeline)

        await wait_until(closing, what="the lease putting stable back")
        again = await client.start_workflow(
            "Rollout",
            {**spec, "steps": [{"weight": 10, "observe": "1s"}]},
            id=f"{rollout.id}-again",
            task_queue=task_queue,
        )
        await old_lease.result()
        await sim.set_faults(router_delay_ms=0)
        result = await again.result()
    assert result["outcome"] == "promoted", result["summary"]
