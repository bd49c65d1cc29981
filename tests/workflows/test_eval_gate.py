"""Issue 22's eval gate on the dev server: the shipped suite runs against the simulator's two versions, graded by
its grader endpoint, and holds the candidate to the locked baseline before any traffic moves."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import SIM_TARGET, rollout_worker, start_rollout, targeted_spec, unique_service

FAST = {"rps": 200000}


async def test_a_regressed_candidate_fails_the_eval_gate_before_traffic_moves(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        await sim.set_knobs("candidate", disagreement=0.5)
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.eval_target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = targeted_spec(sim, service, eval={"suite": "support", "concurrency": 4})
            result = await (await start_rollout(client, spec, task_queue)).result()
            routes = await sim.calls(service)

    assert result.outcome == "rolled_back" and result.record.rollback is not None
    assert result.record.rollback.cause == "preflight"
    gate = next(g for g in result.record.gates if g.name == "eval")
    assert not gate.passed and "FAILED" in gate.summary
    assert gate.details["cases"] == 40 and gate.details["stable"]["score"] == 1.0
    assert gate.details["failing"] and len(gate.details["failing"]) <= 20
    assert len(gate.details["sha256"]) == 64
    assert all(r["candidate"] == 0 for r in routes), "no traffic moved to the candidate"


async def test_a_healthy_candidate_passes_the_eval_gate_and_promotes(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.eval_target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = targeted_spec(sim, service, eval={"suite": "support"})
            result = await (await start_rollout(client, spec, task_queue)).result()

    assert result.outcome == "promoted", result.markdown
    gate = next(g for g in result.record.gates if g.name == "eval")
    assert gate.passed and gate.details["candidate"]["score"] == 1.0
