"""The input_drift criterion on the dev server: a canary fed a shifted population is reported, with the features
that moved, and held or rolled back as the spec says; the same canary without the shift promotes.

The simulator's ``input_shift`` knob draws that share of the candidate's requests from a population with longer
prompts, mostly in Japanese and with unchanged tool use (simulator/inputs.py); its counters carry the histograms,
read through the http-json provider of the operators' ``sim`` target.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
)

FAST = {"rps": 200000}


def drift_spec(sim: Any, service: str, on_drift: str, **overrides: Any) -> dict[str, Any]:
    criteria = {"min_requests": 5000, "input_drift": {"limit": 0.2, "min_count": 500, "on_drift": on_drift}}
    return targeted_spec(sim, service, criteria=criteria, **overrides)


async def test_a_shifted_canary_rolls_back_naming_the_features_that_moved(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs={**FAST, "candidate": {"input_shift": 0.8, "error_rate": 0.01}}) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, drift_spec(sim, service, "rollback"), task_queue)).result()

    record = result.record
    assert record.outcome == "rolled_back" and record.rollback is not None, result.summary
    reason = record.rollback.reason
    assert reason.startswith("input drift:") and "language" in reason and "prompt_length" in reason, reason
    assert re.search(r"tool_use psi \S+ <= 0\.2", reason), "tool use was measured and did not move"
    noted = [e for e in record.timeline if e.event == "input drift"]
    assert len(noted) == 1
    assert noted[0].detail.startswith("the candidate's users differ from stable's in language, prompt_length:")


async def test_a_shifted_canary_is_held_when_the_spec_says_hold(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs={**FAST, "candidate": {"input_shift": 0.8}}) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = drift_spec(
                sim,
                service,
                "hold",
                on_inconclusive={"max_extensions": 0, "then": "pause"},
                approvals={"approvers": ["ml-lead"], "quorum": 1},
            )
            handle = await start_rollout(client, spec, task_queue)
            held = await wait_for_status(handle, lambda s: s.phase == "inconclusive", what="the held step")
            await handle.execute_update("abort", {"by": "test", "reason": "inputs differ"})
            result = await handle.result()

    assert held.weight == 10, "held at the first step: its evidence never passed"
    record = result.record
    warnings = [w for a in record.analyses for w in a.warnings if w.startswith("input drift")]
    assert warnings and all("language" in w and "prompt_length" in w for w in warnings)
    assert any(e.event == "input drift" for e in record.timeline)


async def test_the_same_canary_without_the_shift_promotes(client: Client, task_queue: str, tmp_path: Path) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, drift_spec(sim, service, "rollback"), task_queue)).result()

    assert result.record.outcome == "promoted", result.summary
    assert not any(e.event == "input drift" for e in result.record.timeline)
