"""The ab_test strategy item on the dev server, through the simulator: a winner is named, or stable is kept.

A candidate whose answers score better than stable's wins the A/B test once every criterion passes and the
quality interval lies above zero, and the walk goes on to promotion; a candidate equal to stable names no winner
by the test's end, and stable is kept: a rollback recorded with cause ``ab_test``, not a failed guard. A slightly
worse one (within the quality criterion's drop) loses on evidence; ``on_no_winner: hold`` waits for a promote,
``promote_unless_worse`` goes on when the candidate was never shown worse.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import SIM_TARGET, rollout_worker, start_rollout, unique_service, wait_for_status
from tests.workflows.test_strategies import FAST, strategy_spec

CANARY = {"kind": "canary", "weight": 10, "observe": "2s"}


async def test_a_better_candidate_wins_the_ab_test_and_is_promoted(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [CANARY, {"kind": "ab_test", "share": 50, "duration": "10m"}]
    knobs = {**FAST, "stable": {"quality_mean": 0.80}, "candidate": {"quality_mean": 0.88}}
    async with run_simulator(knobs=knobs) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, strategy_spec(sim, service, strategy), task_queue)).result()
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "promoted", result.summary
    assert [(s.kind, s.weight) for s in record.steps] == [("canary", 10), ("ab_test", 50)]
    ab = record.steps[1].ab_test
    assert ab is not None and ab.winner == "candidate" and ab.decided_by == "evidence", ab
    assert ab.metric == "quality" and ab.lower is not None and ab.lower > 0
    assert ab.stable is not None and ab.candidate is not None and ab.candidate > ab.stable
    assert "A/B test: candidate wins" in [e.event for e in record.timeline]
    assert routes["candidate"] == 100


async def test_an_equal_candidate_wins_nothing_and_stable_is_kept(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [CANARY, {"kind": "ab_test", "share": 50, "duration": "3s"}]
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, strategy_spec(sim, service, strategy), task_queue)).result()
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "rolled_back", result.summary
    assert record.rollback is not None and record.rollback.cause == "ab_test", record.rollback
    assert record.rollback.router_verified is True
    ab = record.steps[-1].ab_test
    assert ab is not None and ab.winner == "no_difference" and ab.decided_by == "duration", ab
    assert ab.lower is not None and ab.upper is not None and ab.lower < 0 < ab.upper
    assert routes["stable"] == 100 and routes["candidate"] == 0


async def test_a_slightly_worse_candidate_loses_on_evidence_without_failing_the_guard(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [CANARY, {"kind": "ab_test", "share": 50, "duration": "10m"}]
    knobs = {**FAST, "stable": {"quality_mean": 0.85}, "candidate": {"quality_mean": 0.84}}
    async with run_simulator(knobs=knobs) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, strategy_spec(sim, service, strategy), task_queue)).result()

    record = result.record
    assert record.outcome == "rolled_back", result.summary
    assert record.rollback is not None and record.rollback.cause == "ab_test", record.rollback
    ab = record.steps[-1].ab_test
    assert ab is not None and ab.winner == "stable" and ab.decided_by == "evidence", ab
    assert ab.upper is not None and ab.upper < 0
    assert "- A/B test, step 2: stable wins: quality stable" in result.markdown


async def test_no_winner_with_on_no_winner_hold_waits_for_a_promote(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [
        CANARY,
        {"kind": "ab_test", "share": 50, "duration": "3s", "on_no_winner": "hold"},
    ]
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = strategy_spec(sim, service, strategy, approvals={"approvers": ["ml-lead"], "quorum": 1})
            handle = await start_rollout(client, spec, task_queue)
            # The canary may be held too on a loaded machine (it moves on by itself once its evidence passes).
            held = await wait_for_status(
                handle, lambda s: s.phase == "inconclusive" and s.step == 2, what="the held A/B test", timeout=120
            )
            await handle.execute_update("promote", {"approver": "ml-lead", "reason": "equal, and v2 is cheaper"})
            result = await handle.result()

    assert held.step == 2 and held.weight == 50
    record = result.record
    assert record.outcome == "promoted", result.summary
    ab = record.steps[-1].ab_test
    assert ab is not None and ab.winner == "no_difference" and ab.decided_by == "person", ab
    assert record.overrides[0].step == 1 and record.overrides[0].approver == "ml-lead"


async def test_no_winner_with_promote_unless_worse_goes_on_to_promotion(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy: list[dict[str, Any]] = [
        CANARY,
        {"kind": "ab_test", "share": 50, "duration": "3s", "on_no_winner": "promote_unless_worse"},
    ]
    async with run_simulator(knobs=FAST) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, strategy_spec(sim, service, strategy), task_queue)).result()
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "promoted", result.summary
    ab = record.steps[-1].ab_test
    assert ab is not None and ab.winner == "no_difference" and ab.decided_by == "duration", ab
    assert ab.upper is not None and ab.upper > 0, "an interval wholly below zero would have named stable"
    assert "A/B test: no winner, candidate not worse, going on" in [e.event for e in record.timeline]
    assert not record.overrides, "no person decided"
    assert routes["candidate"] == 100
