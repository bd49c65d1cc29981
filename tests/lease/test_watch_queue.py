"""Lease watchers run on their own task queue with their own slots (issue 24, patch ``lease-watch-queue``).

Before the patch every lease's ``watch_holder`` held one of the rollouts' activity slots for the holder's whole
life: with as many rollouts as slots, no counter read or router call could run. Here the rollouts' worker has
two activity slots and three rollouts run at once: each lease watches on ``<queue>-lease-watchers`` and every
rollout still reads its counters, moves its router and promotes.
"""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from models.lease import lease_id, watch_queue
from simulator.testing import run_simulator
from tests.workflows.helpers import LAB_POLICY, compressed_spec, start_rollout, unique_service
from workers.build import build_worker
from workers.registry import open_activities, registered_workflows
from workers.tuning import WorkerTuning

FAST = {"rps": 200000}
SLOTS = 2


async def watch_queues(client: Client, service: str) -> list[str]:
    """The task queue of every ``watch_holder`` the service's lease scheduled."""
    return [
        e.activity_task_scheduled_event_attributes.task_queue.name
        async for e in client.get_workflow_handle(lease_id(service)).fetch_history_events()
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "watch_holder"
    ]


async def test_more_rollouts_than_activity_slots_all_promote(client: Client, task_queue: str) -> None:
    services = [unique_service() for _ in range(SLOTS + 1)]
    tuning = WorkerTuning(max_concurrent_activities=SLOTS, max_concurrent_watches=len(services))
    async with (
        run_simulator(knobs=FAST) as sim,
        open_activities(client, task_queue, policy_path=LAB_POLICY) as activities,
        build_worker(
            client, task_queue=task_queue, workflows=registered_workflows(), activities=activities, tuning=tuning
        ),
    ):
        handles = [await start_rollout(client, compressed_spec(sim, s), task_queue) for s in services]
        results = await asyncio.wait_for(asyncio.gather(*(h.result() for h in handles)), timeout=180)
        queues = {s: await watch_queues(client, s) for s in services}

    assert [r.record.outcome for r in results] == ["promoted"] * len(services)
    for service in services:
        assert queues[service], f"{service}: its lease watched its holder"
        assert set(queues[service]) == {watch_queue(task_queue)}, "and only on the watchers' queue"
