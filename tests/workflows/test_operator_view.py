"""What an operator sees on the real dev server: search attributes from the first task, Current Details, timer
names, the result's order, and errors with the actionable sentence on top."""

from __future__ import annotations

import json
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import SearchAttributeKey
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError

from models.lease import lease_id
from simulator.procs import free_port
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
from workflows import search_attributes as sa

FAST = {"rps": 200000}


async def current_details(handle: WorkflowHandle[Any, Any]) -> str:
    """What the Web UI shows as Current Details (the SDK's built-in metadata query)."""
    meta: WorkflowMetadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    return meta.current_details


async def attributes(handle: WorkflowHandle[Any, Any]) -> dict[SearchAttributeKey[Any], Any]:
    described = await handle.describe()
    found: dict[SearchAttributeKey[Any], Any] = {key: described.typed_search_attributes.get(key) for key in sa.ALL}
    return found


async def test_awaiting_approval_then_rolled_back_at_the_deadline(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim,
            service,
            steps=[{"weight": 10, "observe": "2s", "approval": True}],
            approvals={"approvers": ["ml-lead", "sre-oncall"], "quorum": 2, "timeout": "5s"},
        )
        handle = await start_rollout(client, spec, task_queue)
        waiting = await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval phase")
        assert waiting.approval_deadline is not None
        assert waiting.approvals_missing == 2
        assert waiting.observed_in_step is not None
        text = await current_details(handle)
        assert "**Phase:** awaiting_approval" in text and "**Candidate weight:** 10%" in text
        assert f"- **Approval deadline:** {waiting.approval_deadline:%Y-%m-%d %H:%M} UTC, then it rolls back" in text
        assert "may approve: ml-lead, sre-oncall" in text
        assert f"rollouts approve {handle.id} --key" in text
        during = await attributes(handle)
        assert during[sa.PHASE] == "awaiting_approval" and during[sa.WEIGHT] == 10.0
        assert during[sa.OUTCOME] == "running" and during[sa.SERVICE] == service
        result = await handle.result()
        after = await attributes(handle)
        final_text = await current_details(handle)
        runs = await run_histories(client, handle)  # the step's inconclusive hold may fill a run: it hands over
        history = runs[-1]

    record = result.record
    assert record.outcome == "rolled_back" and result.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.cause == "approval_timeout"
    assert record.steps[0].observed_seconds >= 2, "the step observed its 2 s before it waited"
    assert after[sa.OUTCOME] == "rolled_back" and after[sa.PHASE] == "rolled_back" and after[sa.WEIGHT] == 0.0
    assert "**Rollback cause:** approval_timeout" in final_text

    converter = DataConverter.default.payload_converter
    summaries = [
        converter.from_payload(e.user_metadata.summary, str)
        for run in runs
        for e in run.events
        if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and e.user_metadata.HasField("summary")
    ]
    deadline = f"approval deadline {waiting.approval_deadline:%H:%M} UTC"
    assert any(s.endswith(deadline) for s in summaries), summaries
    assert any(s.startswith("step 1 ends: 10% observed 2s") for s in summaries), summaries
    assert not any(s.startswith("approval of step") for s in summaries)
    completed = next(e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED)
    raw = json.loads(completed.workflow_execution_completed_event_attributes.result.payloads[0].data)
    assert list(raw) == ["outcome", "summary", "markdown", "record"], "outcome and Markdown before the analyses"
    assert raw["summary"].startswith("rolled_back: ")


async def test_invalid_spec_carries_search_attributes_and_lists_its_problems(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with rollout_worker(client, task_queue):
        handle = await client.start_workflow(
            "Rollout", {"service": service, "steps": "many"}, id=f"rollout-{service}", task_queue=task_queue
        )
        with pytest.raises(WorkflowFailureError):
            await handle.result()
        found = await attributes(handle)
        text = await current_details(handle)
    assert found[sa.SERVICE] == service
    assert found[sa.PHASE] == "failed" and found[sa.OUTCOME] == "invalid_spec"
    assert "**Invalid spec**" in text and "- steps" in text


async def test_lease_conflict_says_who_holds_it_on_top_and_is_listed(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1h"}])
        first = await start_rollout(client, spec, task_queue)
        await wait_for_status(first, lambda st: st.weight == 10, what="first rollout in its step")
        second = await client.start_workflow("Rollout", spec, id=f"rollout-{service}-again", task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as refused:
            await second.result()
        found = await attributes(second)
        lease_details = await (await client.get_workflow_handle(lease_id(service)).describe()).static_details()
        await first.signal("abort", {"by": "test", "reason": "cleanup"})
        await first.result()

        async def listed() -> bool:
            query = f'RolloutService="{service}" AND RolloutOutcome="lease_conflict"'
            return (await client.count_workflows(query)).count == 1

        await wait_until(listed, what="the refused rollout found by its attributes")
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "RolloutAlreadyRunning"
    assert cause.message.startswith(f"service {service!r} already has a running rollout: {first.id}"), cause.message
    assert cause.__cause__ is None, "the sentence is on top, not under the lease workflow's refusal"
    assert found[sa.PHASE] == "failed" and found[sa.OUTCOME] == "lease_conflict"
    assert found[sa.CANDIDATE_VERSION] == spec["candidate"]["version"]
    assert lease_details is not None and lease_details.startswith(f"Not a rollout: the lease of service `{service}`")


async def test_shadow_against_closed_ports_says_connection_refused(client: Client, task_queue: str) -> None:
    service = unique_service()
    closed = f"http://127.0.0.1:{free_port()}/answer"
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim,
            service,
            shadow={"requests_file": "docs/examples/support-requests.jsonl", "max_requests": 5},
        )
        spec["candidate"]["endpoint"] = closed
        result = await (await start_rollout(client, spec, task_queue)).result()
    rollback = result.record.rollback
    assert rollback is not None and rollback.cause == "shadow", result.markdown
    assert f"the candidate endpoint answered none of 5 requests: connection refused at {closed}" in rollback.reason
    assert "0/0" not in rollback.reason
    assert rollback.router_verified is None, "no traffic had moved"
