from __future__ import annotations
import pytest
from temporalio.client import Client
from simulator.stand import run_stand
from tests.e2e.helpers import routed_versions, stand_spec
from tests.workflows.helpers import rollout_worker, start_rollout, status, unique_service, wait_until

async def test_dbg(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_stand() as stand, rollout_worker(client, task_queue):
        spec = stand_spec(stand, service, steps=[{"weight": 25, "observe": "1h"}])
        handle = await start_rollout(client, spec, task_queue)
        async def at_25() -> bool:
            return (await status(handle)).weight == 25
        await wait_until(at_25, what="step 1 at 25%")
        for user in (f"user-{i}" for i in range(12)):
            await routed_versions(stand, 50, user=user)
        result = await handle.result()
        print(result.markdown)
