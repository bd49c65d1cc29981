"""Signals that reach a continued run before it has taken over its carried state (sent while the previous run handed
over) wait for that state, as a first run's signals wait for its policy.

Found by the cluster test: two approvals sent as a rollout continued as new at its replay budget landed in the new
run's first task (a killed history instance's shards were moving, so that task came late), were refused as
"meaningless (phase validating)", and the refusals, written into the carried state before its digest was checked,
made the run refuse its own state and fail the rollout (``CarriedStateRefused``).

On a dev server the new run's first task follows the hand-over within a millisecond, so the test makes the moment
last: a worker interceptor holds the continued run's first task, once, until the test has sent its approvals, then
fails it. The server hands the task out again with the approvals in the history, and the workflow meets them in its
first activation, as it would after a slow hand-over. The test checks the history has that shape.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from temporalio import client as temporal_client
from temporalio import workflow
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import (
    ExecuteWorkflowInput,
    Interceptor,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
)

from simulator.testing import run_simulator
from tests.workflows.helpers import (
    compressed_spec,
    rollout_worker,
    run_histories,
    start_rollout,
    unique_service,
    wait_for_status,
    wait_until,
)

APPROVALS = {"approvers": ["ml-lead", "sre-oncall", "product-owner"], "quorum": 2}
NOISE = 320
"""Unknown signals (refused and recorded): past the replay budget (200 events, 300 before `lean-history`), the next
analysis hands over."""
HOLD_SECONDS = 1.5
"""The longest the held task waits for the test's approvals (under the sandbox's 2 s deadlock detector)."""

_armed = threading.Event()
_armed_after: list[str] = []
"""The run whose successor's first task is held: the one awaiting approval when the test armed the hold. Under load
the step's inconclusive hold can fill a run of 200 events before the approval phase, so an earlier hand-over (or a
replay of that earlier successor) must not take the hold."""
_holding = threading.Event()
_released = threading.Event()


class _HoldFirstContinuedTask(WorkflowInboundInterceptor):
    async def execute_workflow(self, input: ExecuteWorkflowInput) -> Any:
        info = workflow.info()
        armed = _armed.is_set() and info.continued_run_id in _armed_after
        if info.workflow_type == "Rollout" and info.continued_run_id and armed:
            _armed.clear()
            _holding.set()
            _released.wait(HOLD_SECONDS)
            raise RuntimeError("test: the continued run's first task fails once, after the approvals arrived")
        return await super().execute_workflow(input)


class _Hold(temporal_client.Interceptor, Interceptor):
    """A client interceptor too: the worker built on the client picks it up."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor] | None:
        return _HoldFirstContinuedTask


def signalled_before_first_task(history: WorkflowHistory) -> bool:
    """A continued run whose first completed workflow task already saw a signal: the case this test is about."""
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return False
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            return True
    return False


async def test_approvals_sent_during_a_hand_over_count_in_the_next_run(client: Client, task_queue: str) -> None:
    config = client.config()
    config["interceptors"] = [*config["interceptors"], _Hold()]
    held = Client(**config)
    for event in (_armed, _holding, _released):
        event.clear()
    async with run_simulator(knobs={"rps": 200000}) as sim, rollout_worker(held, task_queue):
        service = unique_service()
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1s", "approval": True}])
        handle = await start_rollout(client, {**spec, "approvals": APPROVALS}, task_queue)
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval phase", timeout=90)

        _armed_after[:] = [(await client.get_workflow_handle(handle.id).describe()).run_id]
        _armed.set()
        for _ in range(NOISE):
            await handle.signal("noise", {})

        async def holding() -> bool:
            return _holding.is_set()

        await wait_until(holding, what="the continued run's first task, held", interval=0.01)
        for approver in ("ml-lead", "sre-oncall"):
            await handle.signal("approve", {"approver": approver})
        _released.set()
        result = await asyncio.wait_for(handle.result(), timeout=120)
        histories = await run_histories(client, handle)

    reached = any(signalled_before_first_task(h) for h in histories[1:])
    assert reached, "no approval reached a continued run's first task"
    record = result.record
    assert record.outcome == "promoted", (record.outcome, [r.reason for r in record.rejected_signals][-3:])
    assert [a.approver for a in record.approvals] == ["ml-lead", "sre-oncall"]
    early = [r.reason for r in record.rejected_signals if "validating" in r.reason]
    assert not early, f"signals judged before the continued run took over its state: {early[:3]}"
