"""Issue 22's deploy windows on the Java time-skipping server: a step that falls on a Friday waits for Monday.

The operators allow forward moves Monday to Thursday, 09:00-17:00 Berlin time. Each test first skips the server's
clock (which starts at the real time) to the next Thursday 16:00 there, so nothing depends on today's weekday:
the rollout's first step starts inside the window and its 20 hours end on Friday at noon, outside it. The next
step then waits on a durable timer (skipped) and moves at Monday's opening; an abort during the wait rolls back
at once, on the Friday. The lease watcher is not supported by this server; the rollout notes that and goes on.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from temporalio.client import WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from simulator.policies import write_lab_policy
from simulator.testing import Simulator, run_simulator
from tests.workflows.helpers import SIM_TARGET, rollout_worker, run_histories, start_rollout, status, targeted_spec
from workers.registry import registered_workflows
from workers.sandbox import sandbox_runner
from workflows.rollout.state import RolloutStatus

BERLIN = ZoneInfo("Europe/Berlin")
MON_TO_THU = ["mon", "tue", "wed", "thu"]
WINDOWS = {"timezone": "Europe/Berlin", "allowed": [{"days": MON_TO_THU, "start": "09:00", "end": "17:00"}]}
CLEAN = {"error_rate": 0.0}
FAST = {"rps": 2_000_000, "stable": CLEAN, "candidate": CLEAN}
"""The modelled traffic follows the wall clock, not the skipped time: a high rate gives each analysis its sample,
and no errors on either side keep the error-rate evidence conclusive, so step one ends on time (no extension)."""


def policy(path: Path, sim: Simulator) -> Path:
    return write_lab_policy(path, {SIM_TARGET: sim.target()}, deploy_windows={SIM_TARGET: WINDOWS})


def spec_of(sim: Simulator) -> dict[str, Any]:
    """Step one from Thursday 16:00 to Friday noon; step two (and the promotion) after the weekend.

    Hourly analyses go on during the weekend's wait, so the rollout passes its history budget (about 50 analyses)
    and continues as new while it waits: the hand-over mid-wait is part of what this test proves."""
    steps = [{"weight": 10, "observe": "20h"}, {"weight": 50, "observe": "2h"}]
    return targeted_spec(sim, f"ts-{uuid.uuid4().hex[:8]}", steps=steps, analysis_interval="1h")


def next_local(now: datetime, weekday: int, at: time) -> datetime:
    """The first ``weekday`` (0 = Monday) ``at`` Berlin time strictly after ``now``."""
    local = now.astimezone(BERLIN)
    day = local.date() + timedelta(days=(weekday - local.weekday()) % 7)
    moment = datetime.combine(day, at, tzinfo=BERLIN)
    return moment if moment > now else datetime.combine(day + timedelta(days=7), at, tzinfo=BERLIN)


async def skip_to_thursday_afternoon(env: WorkflowEnvironment) -> tuple[datetime, datetime]:
    """Skip the server's clock to the next Thursday 16:00 in Berlin; return it and the Monday 09:00 after it."""
    now = await env.get_current_time()
    thursday = next_local(now, 3, time(16, 0))
    await env.sleep(thursday - now)
    return thursday, next_local(thursday, 0, time(9, 0))


async def skip_until_waiting(env: WorkflowEnvironment, handle: WorkflowHandle[Any, Any]) -> RolloutStatus:
    """Skip the clock an hour at a time (queries do not skip it) until step two waits for the window.

    The queries land half an hour after each hourly analysis, never while one runs. Asked right after it (each
    sleep ended just after the analysis timer fired), about one test in twelve failed: the run that handed over
    at that analysis (continue-as-new) stayed on the test server with its last workflow task started, its history
    ending there while its status said continued-as-new, so time never skipped again and ``env.sleep`` failed
    after a minute ("Timeout expired"). Offset, 48 runs in a row passed.
    """
    await env.sleep(timedelta(minutes=30))
    for _ in range(30):
        found = await status(handle)
        if found.waiting_for_window is not None:
            return found
        await env.sleep(timedelta(hours=1))
    raise AssertionError(f"30 skipped hours and no wait for the window: {found}")


@pytest.mark.timeskipping
@pytest.mark.timeout(300)
async def test_a_step_falling_on_a_friday_waits_and_moves_on_monday(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    task_queue = f"ts-{uuid.uuid4().hex[:8]}"
    async with (
        run_simulator(knobs=FAST) as sim,
        rollout_worker(env.client, task_queue, policy_path=policy(tmp_path / "policy.json", sim)),
    ):
        thursday, monday = await skip_to_thursday_afternoon(env)
        spec = spec_of(sim)
        handle = await start_rollout(env.client, spec, task_queue)
        waiting = await skip_until_waiting(env, handle)
        assert waiting.weight == 10, "step two has not moved"
        assert f"opens at {monday.astimezone(ZoneInfo('UTC')):%Y-%m-%d %H:%M} UTC" in (waiting.waiting_for_window or "")
        result = await handle.result()  # the rest of the weekend, skipped
        routes = await sim.routes(spec["service"])
        runs = await run_histories(env.client, handle)

    record = result.record
    assert record.outcome == "promoted", result.markdown
    first, second = record.steps
    assert thursday <= first.started_at < thursday + timedelta(hours=1)
    assert second.started_at >= monday, f"step two moved at {second.started_at}, before Monday's opening {monday}"
    assert second.started_at.astimezone(BERLIN).weekday() == 0, "and on that Monday, not later"
    assert routes == {"stable": 0.0, "candidate": 100.0}
    notes = [e.detail for e in record.timeline if e.event == "deploy window"]
    assert any("waiting for the window that opens at" in n for n in notes), notes
    handovers = [e.at for e in record.timeline if e.event == "continue-as-new"]
    assert any(first.started_at + timedelta(hours=20) < at < monday for at in handovers), handovers
    assert len(runs) == record.continued_as_new + 1
    replayer = Replayer(
        workflows=registered_workflows(), data_converter=pydantic_data_converter, workflow_runner=sandbox_runner()
    )
    for run in runs:  # every run, the hand-overs mid-wait included, replays on today's code
        await replayer.replay_workflow(run, raise_on_replay_failure=True)


@pytest.mark.timeskipping
@pytest.mark.timeout(300)
async def test_an_abort_while_waiting_for_monday_rolls_back_at_once(
    time_skipping_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    env = time_skipping_env
    task_queue = f"ts-{uuid.uuid4().hex[:8]}"
    async with (
        run_simulator(knobs=FAST) as sim,
        rollout_worker(env.client, task_queue, policy_path=policy(tmp_path / "policy.json", sim)),
    ):
        _, monday = await skip_to_thursday_afternoon(env)
        spec = spec_of(sim)
        handle = await start_rollout(env.client, spec, task_queue)
        await skip_until_waiting(env, handle)
        await handle.execute_update("abort", {"by": "sre-oncall", "reason": "bad answers in support tickets"})
        result = await handle.result()
        routes = await sim.routes(spec["service"])

    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.cause == "abort"
    assert record.rollback.started_at < monday, "the rollback did not wait for the window"
    assert record.rollback.started_at.astimezone(BERLIN).weekday() == 4, "it happened on the Friday"
    assert routes["candidate"] == 0.0
    assert len(record.steps) == 1, "step two never started"
