"""Issue 22's deploy windows on the dev server: a forward move inside a freeze waits, visibly, until an overrider's
promote moves it on (recorded); an abort inside the freeze rolls back at once.

The freeze comes from the operators' policy (a lab policy naming the simulator as the target) and lasts far longer
than the test, so nothing depends on the wall clock: only a person's decision ends each wait.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
)
from tests.workflows.test_operator_view import current_details

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
