"""On the dev server: a spec's preflight baseline that is not the one the operators' target locks is refused at
start, before anything is called (preflight-baseline-locked)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import SIM_TARGET, rollout_worker, targeted_spec, unique_service

FAST = {"rps": 200000}


async def test_a_spec_cannot_lower_the_locked_preflight_baseline(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        target = {**sim.target(), "preflight_baseline": 0.9}
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: target})
        spec = targeted_spec(sim, service, preflight={"url": f"{sim.candidate_url}/score", "baseline": 0.2})
        async with rollout_worker(client, task_queue, policy_path=policy):
            with pytest.raises(WorkflowFailureError) as refused:
                await client.execute_workflow("Rollout", spec, id=f"rollout-{service}", task_queue=task_queue)
        calls = await sim.calls(service)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PolicyConflict"
    assert "preflight.baseline: 0.2 differs from the baseline target 'sim' locks (0.9)" in str(cause)
    assert calls == [], "refused before the router was touched"
