"""The Rollout workflow on the real dev server against the simulator, with compressed durations."""

from __future__ import annotations

from temporalio.client import Client

from simulator.testing import run_simulator
from tests.workflows.helpers import compressed_spec, rollout_worker, start_rollout, unique_service


async def test_healthy_candidate_is_promoted(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs={"rps": 200000}) as sim, rollout_worker(client, task_queue):
        handle = await start_rollout(client, compressed_spec(sim, service), task_queue)
        result = await handle.result()
        routes = await sim.routes(service)
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert routes == {"stable": 0.0, "candidate": 100.0}
    assert [s.weight for s in record.steps] == [10, 50]
    assert all(s.analyses >= 2 for s in record.steps)
    assert record.rollback is None
    assert "promoted" in result.markdown
