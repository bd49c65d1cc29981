"""Issue 22's deploy windows on the dev server: a forward move inside a freeze waits, visibly, until an overrider's
promote moves it on (recorded); an abort inside the freeze rolls back at once.

The freeze comes from the operators' policy (a lab policy naming the simulator as the target) and lasts far longer
than the test, so nothing depends on the wall clock: only a person's decision ends each wait.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client

from simulator.policies import write_lab_policy
from simulator.testing import Simulator, run_simulator
from tests.workflows.helpers import (
    SIM_TARGET,
    rollout_worker,
    start_rollout,
    targeted_spec,
    unique_service,
    wait_for_status,
    wait_until,
)
from tests.workflows.test_operator_view import current_details
from workflows.rollout.analysis import LEAN_HISTORY_EVENTS
from workflows.rollout.state import RolloutResult

FAST = {"rps": 200000}


def frozen_policy(path: Path, sim: Simulator) -> Path:
    """The simulator target, frozen from an hour ago for a week."""
    now = datetime.now(UTC)
    freeze = {
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": (now + timedelta(days=7)).isoformat(),
        "reason": "year-end freeze",
    }
    return write_lab_policy(path, {SIM_TARGET: sim.target()}, deploy_windows={SIM_TARGET: {"freezes": [freeze]}})


def spec_of(sim: Simulator, service: str) -> dict[str, Any]:
    return targeted_spec(
        sim, service, steps=[{"weight": 10, "observe": "2s"}], approvals={"approvers": ["release-manager"]}
    )


async def test_a_step_in_a_freeze_waits_until_an_overrider_promotes(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = frozen_policy(tmp_path / "policy.json", sim)
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, spec_of(sim, service), task_queue)
            waiting = await wait_for_status(handle, lambda s: s.waiting_for_window is not None, what="window wait")
            assert waiting.weight == 0, "nothing moved before the window"
            assert "year-end freeze" in (waiting.waiting_for_window or "")
            assert "waiting for the window that opens at" in (waiting.waiting_for_window or "")
            assert "Deploy window" in await current_details(handle)
            await handle.execute_update(
                "promote", {"approver": "release-manager", "reason": "security fix, cleared with SRE"}
            )
            # The promotion (100%) is a forward move too: inside the freeze it waits again, for a second decision.
            await wait_for_status(
                handle, lambda s: s.waiting_for_window is not None and s.weight == 10, what="promotion's wait"
            )
            await handle.execute_update("promote", {"approver": "release-manager", "reason": "same fix, to 100%"})
            result = await handle.result()
            routes = await sim.calls(service)

    assert result.outcome == "promoted", result.markdown
    record = result.record
    overrides = [o for o in record.overrides if any("deploy window" in e for e in o.evidence)]
    assert [o.reason for o in overrides] == ["security fix, cleared with SRE", "same fix, to 100%"]
    assert all(o.verified is False for o in overrides), "a lab policy: recorded as unverified"
    assert [r["candidate"] for r in routes][-2:] == [10, 100]
    events = [e.event for e in record.timeline]
    assert events.count("deploy window") == 4  # two waits, each noted when it began and when it ended


async def test_an_abort_inside_a_freeze_rolls_back_at_once(client: Client, task_queue: str, tmp_path: Path) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = frozen_policy(tmp_path / "policy.json", sim)
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, spec_of(sim, service), task_queue)
            await wait_for_status(handle, lambda s: s.waiting_for_window is not None, what="window wait")
            await handle.execute_update("abort", {"by": "sre-oncall", "reason": "changed our mind"})
            result = await handle.result()

    assert result.outcome == "rolled_back"
    assert result.record.rollback is not None and result.record.rollback.cause == "abort"


@pytest.mark.slow
@pytest.mark.timeout(480)
async def test_an_override_that_lands_as_the_run_hands_over_still_moves_it(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    """The promotion's override arrives when the waiting run's history stands a few events below the hand-over
    budget, so the events the update itself writes take it past: the move must still happen (it was lost in the
    hand-over, and the rollout waited for the window again, for a week)."""
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        policy = frozen_policy(tmp_path / "policy.json", sim)
        async with rollout_worker(client, task_queue, policy_path=policy):
            first = await start_rollout(client, spec_of(sim, service), task_queue)
            # Follows the runs continue-as-new starts (``first`` is bound to the first run).
            latest = client.get_workflow_handle(first.id, result_type=RolloutResult)
            await wait_for_status(latest, lambda s: s.waiting_for_window is not None, what="window wait")
            await latest.execute_update("promote", {"approver": "release-manager", "reason": "fix"})
            await wait_for_status(
                latest, lambda s: s.waiting_for_window is not None and s.weight == 10, what="promotion's wait"
            )

            async def near_the_budget() -> bool:
                length = (await latest.describe()).raw_description.workflow_execution_info.history_length
                # The update's first events (its task scheduled and started) then take the run past the budget.
                return LEAN_HISTORY_EVENTS - 1 <= length <= LEAN_HISTORY_EVENTS

            # Runs hand over every 15-20 s at 1 s analyses; one in several stands at exactly these lengths.
            await wait_until(near_the_budget, timeout=300, interval=0.02, what="a run just below its budget")
            await latest.execute_update("promote", {"approver": "release-manager", "reason": "fix, to 100%"})
            result = await asyncio.wait_for(latest.result(), timeout=60)

    assert result.outcome == "promoted", result.markdown
    assert [o.reason for o in result.record.overrides] == ["fix", "fix, to 100%"]
