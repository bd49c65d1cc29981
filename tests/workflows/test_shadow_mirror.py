"""A shadow item in mirror mode on the dev server, through the simulator's router.

The simulator's router copies each request stable serves to the candidate while its routes say ``mirror``, and
the candidate's counters count the copies (as a real candidate's metrics would). The rollout judges those copies
against stable, switches the mirror off (verified) before the first canary step, and on an abort, or a candidate
that fails on the copies, rolls back with the mirror off and stable at 100%: no user ever got a candidate answer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client

from models.lease import LeaseReport, lease_id
from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import (
    SIM_TARGET,
    rollout_worker,
    start_rollout,
    unique_service,
    wait_for_status,
    wait_until,
)
from tests.workflows.test_strategies import FAST, REPLAY, SHADOW, strategy_spec

MIRROR: dict[str, Any] = {"kind": "shadow", "mode": "mirror", "duration": "3s"}
CANARY: dict[str, Any] = {"kind": "canary", "weight": 10, "observe": "2s"}


def moves(calls: list[dict[str, Any]]) -> list[tuple[float, bool]]:
    """The router calls as (candidate %, mirror on)."""
    return [(call["candidate"], call.get("mirror", False)) for call in calls]


async def test_mirror_judges_the_copies_then_goes_off_before_the_canary(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, strategy_spec(sim, service, [MIRROR, CANARY]), task_queue)
            result = await handle.result()
            calls = await sim.calls(service)
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "promoted", result.summary
    assert moves(calls) == [(0, True), (0, False), (10, False), (100, False)], calls
    assert [(s.kind, s.weight) for s in record.steps] == [("shadow", 0), ("canary", 10)]
    mirror = record.steps[0]
    assert mirror.analyses >= 1 and mirror.evidence == "pass", mirror
    judged = [a for a in record.analyses if a.step == 0 and a.decision != "error"]
    assert judged and all(a.weight == 0 for a in judged), "the copies were judged at 0%"
    events = [entry.event for entry in record.timeline]
    assert events.index("mirror on") < events.index("mirror off") < events.index("weight set"), events
    assert routes == {"stable": 0.0, "candidate": 100.0}, "promoted, and no mirror left on"


async def test_an_abort_during_the_mirror_leaves_it_off_and_stable_at_100(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            long_mirror = {**MIRROR, "duration": "10m"}
            handle = await start_rollout(client, strategy_spec(sim, service, [long_mirror, CANARY]), task_queue)

            async def mirroring() -> bool:
                routes = await sim.routes(service)
                return bool(routes.get("mirror")) and routes.get("mirrored", 0) > 0

            await wait_until(mirroring, what="the router mirroring copies to the candidate")
            await handle.execute_update("abort", {"by": "sre-oncall", "reason": "candidate pods restarting"})
            result = await handle.result()
            calls = await sim.calls(service)
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "rolled_back", result.summary
    assert record.rollback is not None and record.rollback.cause == "abort", record.rollback
    assert record.rollback.router_verified is True
    assert routes == {"stable": 100.0, "candidate": 0.0}, "mirror off and stable at 100%"
    assert moves(calls)[0] == (0, True) and moves(calls)[-1] == (0, False), calls
    assert all(candidate == 0 for candidate, _ in moves(calls)), "no user ever got a candidate answer"


async def test_a_candidate_failing_on_the_copies_rolls_back_before_any_user_traffic(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    knobs = {**FAST, "stable": {"error_rate": 0.01}, "candidate": {"error_rate": 0.2}}
    async with run_simulator(knobs=knobs) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (
                await start_rollout(client, strategy_spec(sim, service, [MIRROR, CANARY]), task_queue)
            ).result()
            calls = await sim.calls(service)
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "rolled_back", result.summary
    assert record.rollback is not None and record.rollback.cause == "analysis", record.rollback
    assert "error_rate" in record.rollback.reason, record.rollback.reason
    assert [s.kind for s in record.steps] == ["shadow"], "it never reached the canary step"
    assert routes == {"stable": 100.0, "candidate": 0.0}
    assert all(candidate == 0 for candidate, _ in moves(calls)) and moves(calls)[-1] == (0, False), calls


async def test_a_rollout_terminated_during_the_mirror_is_rolled_back_by_its_lease_with_the_mirror_off(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = strategy_spec(sim, service, [{**MIRROR, "duration": "10m"}, CANARY])
            handle = await start_rollout(client, spec, task_queue)

            async def mirroring() -> bool:
                return bool((await sim.routes(service)).get("mirror"))

            await wait_until(mirroring, what="the router mirroring")
            await handle.terminate(reason="stopping by hand")
            lease = client.get_workflow_handle(lease_id(service), result_type=LeaseReport)
            report = await lease.result()
            routes = await sim.routes(service)

    orphan = report.orphan_rollback
    assert orphan is not None and orphan.compensated and orphan.router_verified is True, orphan
    assert orphan.router is not None and orphan.router.mirror is False
    assert routes == {"stable": 100.0, "candidate": 0.0}, "the lease left no mirror on"


async def test_a_skip_out_of_the_mirror_switches_it_off_before_the_walk_goes_on(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    replay = {"kind": "shadow", **SHADOW, "max_requests": 5}
    async with run_simulator(knobs=FAST) as sim:
        target = {**sim.target(), "replay_sets": {"support": str(REPLAY)}}
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: target})
        async with rollout_worker(client, task_queue, policy_path=policy):
            strategy = [{**MIRROR, "duration": "10m"}, replay, CANARY]
            spec = strategy_spec(sim, service, strategy, approvals={"approvers": ["ml-lead"]})
            handle = await start_rollout(client, spec, task_queue)

            # The item is running (a move needs one) once its observation is: the mirror is on by then.
            await wait_for_status(handle, lambda st: st.step == 1 and st.phase == "canary", what="the mirror observed")
            assert (await sim.routes(service)).get("mirror") is True
            await handle.execute_update("skip", {"by": "ml-lead", "to": 2, "reason": "enough copies"}, result_type=str)
            result = await handle.result()
            calls = await sim.calls(service)

    record = result.record
    assert record.outcome == "promoted", result.summary
    assert moves(calls) == [(0, True), (0, False), (10, False), (100, False)], calls
    assert [m.decision for m in record.moves] == ["skip"]
    assert [s.kind for s in record.steps] == ["shadow", "shadow", "canary"]
    events = [entry.event for entry in record.timeline]
    assert events.index("mirror off") < events.index("shadow step 2 passed"), "off before the walk went on"
