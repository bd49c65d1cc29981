"""Strategies as data on the dev server: a spec's ``strategy`` items walked by kind, through the simulator.

A canary followed by an analysis, a timed pause and a watch after promotion promotes when the candidate is
healthy; a candidate that turns bad once it serves 100% is switched back during the watch, verified; a pause
without a duration waits for a signed promote; an approval item waits for the quorum.
"""

from __future__ import annotations

from datetime import UTC, datetime
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
REPLAY = Path(__file__).resolve().parents[2] / "docs" / "examples" / "support-requests.jsonl"
BLUE_GREEN = [{"kind": "blue_green"}, {"kind": "watch", "duration": "3s"}]
SHADOW = {"replay": "support", "max_requests": 20, "compare": {"kind": "json-fields", "fields": ["answer"]}}


def previewed_target(sim: Any) -> dict[str, Any]:
    """The simulator's target with the support requests as a replay set: what a blue-green previews with."""
    return {**sim.target(), "replay_sets": {"support": str(REPLAY)}}


def strategy_spec(sim: Any, service: str, strategy: list[dict[str, Any]], **overrides: Any) -> dict[str, Any]:
    spec = targeted_spec(sim, service, strategy=strategy, **overrides)
    del spec["steps"]
    return spec


async def test_canary_analysis_pause_watch_promotes_a_healthy_candidate(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [
        {"kind": "canary", "weight": 10, "observe": "3s"},
        {"kind": "analysis", "duration": "2s"},
        {"kind": "pause", "duration": "2s"},
        {"kind": "canary", "weight": 50, "observe": "3s"},
        {"kind": "watch", "duration": "3s"},
    ]
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, strategy_spec(sim, service, strategy), task_queue)).result()
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "promoted", result.summary
    assert [(s.kind, s.weight) for s in record.steps] == [
        ("canary", 10),
        ("analysis", 10),
        ("pause", 10),
        ("canary", 50),
        ("watch", 100),
    ]
    assert record.steps[-1].analyses >= 1, "the watch judged the promoted candidate"
    assert [e.event for e in record.timeline].count("watch passed") == 1
    assert record.strategy["strategy"][-1] == {"kind": "watch", "duration": "3s"}
    assert routes["candidate"] == 100


async def test_a_regression_during_the_watch_switches_back_to_stable(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [
        {"kind": "canary", "weight": 10, "observe": "3s"},
        {"kind": "watch", "duration": "10m"},
    ]
    async with run_simulator(
        knobs={**FAST, "candidate": {"error_rate": 0.001}, "stable": {"error_rate": 0.001}}
    ) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, strategy_spec(sim, service, strategy), task_queue)
            await wait_for_status(handle, lambda s: s.weight == 100 and s.step == 2, what="the watch at 100%")
            await sim.set_knobs("candidate", error_rate=0.2)  # bad only once it serves everyone
            result = await handle.result()
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "rolled_back", result.summary
    assert record.rollback is not None and record.rollback.router_verified is True
    assert record.steps[-1].kind == "watch" and record.steps[-1].weight == 100
    assert routes["stable"] == 100 and routes["candidate"] == 0
    events = [e.event for e in record.timeline]
    assert "watch started" in events and "watch passed" not in events


async def test_a_pause_without_a_duration_waits_for_a_promote(client: Client, task_queue: str, tmp_path: Path) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [
        {"kind": "canary", "weight": 10, "observe": "2s"},
        {"kind": "pause"},
        {"kind": "approval"},
        {"kind": "canary", "weight": 50, "observe": "2s"},
    ]
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = strategy_spec(sim, service, strategy, approvals={"approvers": ["ml-lead"], "quorum": 1})
            handle = await start_rollout(client, spec, task_queue)
            paused = await wait_for_status(handle, lambda s: s.step == 2, what="the pause")
            await handle.execute_update("promote", {"approver": "ml-lead", "reason": "looked at the dashboards"})
            waiting = await wait_for_status(handle, lambda s: s.phase == "awaiting_approval", what="the approval")
            await handle.execute_update("approve", {"approver": "ml-lead"})
            result = await handle.result()

    assert paused.weight == 10 and waiting.step == 3
    record = result.record
    assert record.outcome == "promoted", result.summary
    assert [s.kind for s in record.steps] == ["canary", "pause", "approval", "canary"]
    assert record.steps[1].evidence == "override" and record.overrides[0].step == 1
    assert record.steps[2].approvals[0].approver == "ml-lead"


async def test_blue_green_previews_the_idle_candidate_cuts_over_once_and_promotes(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: previewed_target(sim)})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = strategy_spec(sim, service, BLUE_GREEN, shadow=SHADOW)
            result = await (await start_rollout(client, spec, task_queue)).result()
            weights = [call["candidate"] for call in await sim.calls(service)]

    record = result.record
    assert record.outcome == "promoted", result.summary
    assert [g.name for g in record.gates] == ["shadow"] and record.gates[0].passed
    assert [(s.kind, s.weight) for s in record.steps] == [("watch", 100)]
    assert weights == [100], "one cutover, no canary weights"
    events = [e.event for e in record.timeline]
    assert events.index("blue-green preview") < events.index("watch started") < events.index("watch passed")


async def test_blue_green_switches_back_when_the_candidate_regresses_after_the_cutover(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [{"kind": "blue_green"}, {"kind": "watch", "duration": "10m"}]
    async with run_simulator(
        knobs={**FAST, "candidate": {"error_rate": 0.001}, "stable": {"error_rate": 0.001}}
    ) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: previewed_target(sim)})
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, strategy_spec(sim, service, strategy, shadow=SHADOW), task_queue)
            await wait_for_status(handle, lambda s: s.weight == 100 and s.step == 2, what="the watch at 100%")
            regressed_at = datetime.now(UTC)
            await sim.set_knobs("candidate", error_rate=0.2)
            result = await handle.result()
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "rolled_back", result.summary
    assert record.rollback is not None and record.rollback.router_verified is True
    assert routes["stable"] == 100 and routes["candidate"] == 0
    # Within one analysis interval: the analysis in flight when the candidate regressed may still read the healthy
    # counters; the next one (or that one) rolls back. Counted from the record, never timed.
    after = [a.decision for a in record.analyses if a.at >= regressed_at]
    assert after and after[-1] == "rollback" and len(after) <= 2, after
