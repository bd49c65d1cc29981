"""A blue-green with ``approval`` on the dev server: the preview passes, the candidate stays idle until the quorum
approves, then the one cutover and the watch; under a policy requiring approval before the final promotion."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import SIM_TARGET, rollout_worker, start_rollout, unique_service, wait_for_status
from tests.workflows.test_strategies import FAST, SHADOW, previewed_target, strategy_spec


async def test_a_blue_green_waits_for_the_quorum_before_its_cutover(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [{"kind": "blue_green", "approval": True}, {"kind": "watch", "duration": "3s"}]
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(
            tmp_path / "policy.json",
            {SIM_TARGET: previewed_target(sim)},
            require_approvals={"before_promotion": True},
        )
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = strategy_spec(
                sim, service, strategy, shadow=SHADOW, approvals={"approvers": ["ml-lead"], "quorum": 1}
            )
            handle = await start_rollout(client, spec, task_queue)
            waiting = await wait_for_status(
                handle, lambda s: s.phase == "awaiting_approval", what="the blue-green's approval", timeout=120
            )
            idle = [call["candidate"] for call in await sim.calls(service)]
            await handle.execute_update("approve", {"approver": "ml-lead"})
            result = await handle.result()
            weights = [call["candidate"] for call in await sim.calls(service)]

    assert waiting.weight == 0 and idle == [], "no user traffic before the approval"
    record = result.record
    assert record.outcome == "promoted", result.summary
    assert [(s.kind, s.weight) for s in record.steps] == [("blue_green", 0), ("watch", 100)]
    assert record.steps[0].approvals[0].approver == "ml-lead"
    assert weights == [100], "one cutover, after the approval"
