"""A hand-over during an approval wait notifies nothing new (patch ``quiet-return``, ADR 43).

Runs hand over every 200 events (``lean-history``), so a wait of a minute at one analysis a second spans several
runs. Each continued run walks back through the step's code to the wait it was handed; before the patch it noted
and notified the canary phase and the approval request again at every hand-over.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import (
    SIM_TARGET,
    rollout_worker,
    start_rollout,
    targeted_spec,
    unique_service,
    wait_for_status,
    wait_until,
    webhook_receiver,
)

FAST = {"rps": 200000}
SECRET_ENV = "ROLLOUTS_TEST_WEBHOOK_SECRET"


async def test_a_hand_over_during_an_approval_wait_asks_once(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, "test-secret-not-for-production")
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, webhook_receiver() as (url, got):
        policy = write_lab_policy(
            tmp_path / "policy.json",
            {SIM_TARGET: sim.target()},
            notifications=[{"url": f"{url}/json", "format": "json", "secret_env": SECRET_ENV}],
        )
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = targeted_spec(
                sim,
                service,
                steps=[{"weight": 10, "observe": "2s", "approval": True}, {"weight": 50, "observe": "2s"}],
                approvals={"approvers": ["ml-lead"], "quorum": 1},
            )
            handle = await start_rollout(client, spec, task_queue)
            await wait_for_status(handle, lambda s: s.phase == "awaiting_approval", what="approval")
            first_run = handle.result_run_id
            latest = client.get_workflow_handle(handle.id)

            async def handed_over_twice() -> bool:
                runs = 0
                async for _ in client.list_workflows(f'WorkflowId = "{handle.id}"'):
                    runs += 1
                described = await latest.describe()
                return runs >= 3 and described.run_id != first_run

            await wait_until(handed_over_twice, timeout=240, interval=1.0, what="two hand-overs during the wait")
            await wait_for_status(latest, lambda s: s.phase == "awaiting_approval", what="still waiting")
            await latest.execute_update("approve", {"approver": "ml-lead"})
            result = await handle.result()

    assert result.outcome == "promoted"
    # One entry per event: a retry after a lost answer (a busy machine) repeats its idempotency key, while a
    # second request would be a new event with the next sequence number, hence a new key.
    kinds = list({d.json()["idempotency_key"]: d.json()["kind"] for d in got}.values())
    assert kinds.count("approval_requested") == 1, kinds
    waits = [e for e in result.record.timeline if e.event == "phase awaiting_approval"]
    assert len(waits) == 1, [f"{e.at:%H:%M:%S} {e.event}" for e in result.record.timeline]
