"""The Rollout workflow on the real dev server against the simulator, with compressed durations."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.record import DeploymentRecord
from simulator.testing import run_simulator
from tests.servers import TEMPORAL_CLI, DevServer
from tests.workflows.helpers import (
    compressed_spec,
    rollout_worker,
    start_rollout,
    status,
    unique_service,
    wait_for_status,
    wait_until,
)

FAST = {"rps": 200000}
APPROVALS = {"approvers": ["ml-lead", "sre-oncall", "product-owner"], "quorum": 2}


async def test_healthy_candidate_is_promoted(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        handle = await start_rollout(client, compressed_spec(sim, service), task_queue)
        result = await handle.result()
        routes = await sim.routes(service)
        calls = [c["candidate"] for c in await sim.calls(service)]
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert routes == {"stable": 0.0, "candidate": 100.0}
    assert calls == [10.0, 50.0, 100.0]
    assert [s.weight for s in record.steps] == [10, 50]
    assert all(s.analyses >= 2 for s in record.steps)
    assert record.judge == "sequential"
    assert record.rollback is None
    assert len(record.criteria_sha256) == 64
    assert "promoted" in result.markdown


async def test_error_regression_rolls_back_during_the_step(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs={**FAST, "stable": {"error_rate": 0.01}, "candidate": {"error_rate": 0.03}}) as sim:
        async with rollout_worker(client, task_queue):
            spec = compressed_spec(
                sim, service, steps=[{"weight": 10, "observe": "1h"}, {"weight": 50, "observe": "1h"}]
            )
            handle = await start_rollout(client, spec, task_queue)
            result = await handle.result()
        routes = await sim.routes(service)
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert routes == {"stable": 100.0, "candidate": 0.0}
    assert record.rollback is not None
    assert record.rollback.cause == "analysis"
    assert record.rollback.router_verified is True
    assert "error_rate" in record.rollback.reason
    assert len(record.steps) == 1, "rolled back in the first step, long before its hour ended"
    failing = [c for c in record.analyses[-1].criteria if c.verdict == "fail"]
    assert [c.name for c in failing] == ["error_rate"]
    assert failing[0].observed is not None and failing[0].observed > 2


async def test_quorum_counts_distinct_authorized_approvers_only(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim, service, steps=[{"weight": 10, "observe": "2s", "approval": True}], approvals=APPROVALS
        )
        handle = await start_rollout(client, spec, task_queue)

        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval phase")
        await handle.signal("approve", {"approver": "ml-engineer"})  # requested the rollout
        await handle.signal("approve", {"approver": "mallory"})  # not an approver
        await handle.signal("approve", {"approver": "ml-lead", "comment": "looks good"})
        await handle.signal("approve", {"approver": "ml-lead"})  # duplicate

        async def four_rejections_or_more() -> bool:
            return (await status(handle)).rejected_signals >= 3

        await wait_until(four_rejections_or_more, what="rejections recorded")
        mid = await status(handle)
        assert mid.phase == "awaiting_approval", "one real approval of quorum 2 must not promote"
        assert mid.approvals_received == ["ml-lead"]
        assert mid.approvals_missing == 1
        await handle.signal("approve", {"approver": "sre-oncall"})
        result = await handle.result()
    record = result.record
    assert record.outcome == "promoted"
    assert [a.approver for a in record.approvals] == ["ml-lead", "sre-oncall"]
    reasons = {(r.by, r.reason.split(":")[0]) for r in record.rejected_signals}
    assert reasons == {("ml-engineer", "unauthorized"), ("mallory", "unauthorized"), ("ml-lead", "duplicate")}


async def test_reject_rolls_back(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim, service, steps=[{"weight": 10, "observe": "1s", "approval": True}], approvals=APPROVALS
        )
        handle = await start_rollout(client, spec, task_queue)

        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval phase")
        await handle.signal("reject", {"approver": "product-owner", "reason": "tone is off"})
        result = await handle.result()
        routes = await sim.routes(service)
    assert result.record.outcome == "rolled_back"
    assert result.record.rollback is not None and result.record.rollback.cause == "reject"
    assert result.record.rollback.by == "product-owner"
    assert routes["candidate"] == 0.0


async def test_abort_mid_observation(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, service, steps=[{"weight": 25, "observe": "1h"}])
        handle = await start_rollout(client, spec, task_queue)

        await wait_for_status(handle, lambda st: st.weight == 25, what="step 1 at 25%")
        await handle.signal("abort", {"by": "sre-oncall", "reason": "p95 spike"})
        result = await handle.result()
        routes = await sim.routes(service)
    rollback = result.record.rollback
    assert rollback is not None
    assert (rollback.cause, rollback.by) == ("abort", "sre-oncall")
    assert "p95 spike" in rollback.reason
    assert rollback.router_verified is True and rollback.duration_seconds is not None
    assert routes == {"stable": 100.0, "candidate": 0.0}


async def test_pause_stops_the_step_clock_and_resume_finishes(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "4s"}])
        handle = await start_rollout(client, spec, task_queue)

        await wait_for_status(handle, lambda st: st.weight == 10, what="step 1")
        await handle.signal("pause", {"by": "sre-oncall", "reason": "investigating"})

        await wait_for_status(handle, lambda st: st.paused, what="paused")
        left_at_pause = (await status(handle)).time_left_in_step

        async def analysed_while_paused() -> bool:
            record = await handle.query("record", result_type=DeploymentRecord)
            paused_at = next(e.at for e in record.timeline if e.event == "paused")
            return any(a.at > paused_at for a in record.analyses)

        await wait_until(analysed_while_paused, what="an analysis during the pause", timeout=30)
        still = await status(handle)
        assert still.phase == "canary" and still.paused
        assert still.time_left_in_step == left_at_pause, "the step clock moved while paused"
        await handle.signal("resume", {"by": "sre-oncall"})
        await handle.signal("resume", {"by": "sre-oncall"})  # meaningless now: recorded, ignored
        result = await handle.result()
    record = result.record
    assert record.outcome == "promoted"
    events = [e.event for e in record.timeline]
    assert events.index("paused") < events.index("resumed")
    assert [r.reason.split(":")[0] for r in record.rejected_signals] == ["meaningless"]


async def test_shadow_disagreement_stops_before_any_traffic_moves(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with (
        run_simulator(knobs={**FAST, "candidate": {"disagreement": 0.5}}) as sim,
        rollout_worker(client, task_queue),
    ):
        spec = compressed_spec(
            sim,
            service,
            shadow={
                "requests_file": "docs/examples/support-requests.jsonl",
                "compare": {"kind": "json-fields", "fields": ["answer"]},
                "min_agreement": 0.9,
            },
        )
        handle = await start_rollout(client, spec, task_queue)
        result = await handle.result()
        calls = await sim.calls(service)
    record = result.record
    assert record.outcome == "rolled_back"
    assert record.rollback is not None and record.rollback.cause == "shadow"
    assert record.rollback.router_verified is None, "no traffic had moved"
    assert calls == [], "the router must never have been called"
    gate = record.gates[0]
    assert gate.name == "shadow" and not gate.passed
    assert 0.3 < gate.details["agreed"] / gate.details["compared"] < 0.7


async def test_updates_reject_at_once_and_apply_when_valid(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1h"}], approvals=APPROVALS)
        handle = await start_rollout(client, spec, task_queue)

        await wait_for_status(handle, lambda st: st.weight == 10, what="step 1")
        with pytest.raises(WorkflowUpdateFailedError) as rejected:
            await handle.execute_update("approve", {"approver": "ml-lead"})
        assert "no step is waiting for approval" in str(rejected.value.cause)
        refusal = rejected.value.cause
        assert isinstance(refusal, ApplicationError) and refusal.non_retryable, "a refusal is not worth retrying"
        with pytest.raises(WorkflowUpdateFailedError) as malformed:
            await handle.execute_update("abort", {"by": "sre-oncall"})
        assert "reason: missing" in str(malformed.value.cause)
        assert await handle.execute_update("pause", {"by": "sre-oncall"}, result_type=str) == "paused by sre-oncall"
        assert (
            await handle.execute_update("abort", {"by": "sre-oncall", "reason": "cli test"}, result_type=str)
            == "rollback requested"
        )
        result = await handle.result()
    assert result.record.rollback is not None and result.record.rollback.cause == "abort"
    assert result.record.rejected_signals == [], "rejected updates never reach history"


async def test_second_rollout_of_a_service_is_refused_naming_the_running_one(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1h"}])
        first = await start_rollout(client, spec, task_queue)

        await wait_for_status(first, lambda st: st.weight == 10, what="first rollout in its step")
        with pytest.raises(WorkflowFailureError) as refused:
            await client.execute_workflow("Rollout", spec, id=f"rollout-{service}-again", task_queue=task_queue)
        cause = refused.value.cause
        assert isinstance(cause, ApplicationError) and cause.type == "RolloutAlreadyRunning"
        assert first.id in str(cause) and str(first.result_run_id) in str(cause)
        assert (await status(first)).phase == "canary", "the running rollout is untouched"
        await first.signal("abort", {"by": "test", "reason": "cleanup"})
        await first.result()
        # Released: the next rollout of the service may start.
        again = await start_rollout(client, {**spec, "steps": [{"weight": 10, "observe": "1s"}]}, task_queue)
        assert (await again.result()).record.outcome == "promoted"


async def test_invalid_spec_from_the_cli_fails_at_once_naming_every_field(
    client: Client, temporal_dev: DevServer, task_queue: str, tmp_path: Path
) -> None:
    spec: dict[str, Any] = {
        "service": "bad-spec",
        "requested_by": "ml-lead",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "carrier-pigeon", "url": "http://127.0.0.1:1/r"},
        "metrics": {"kind": "http-json", "url": "not a url"},
        "steps": [{"weight": 50, "observe": "1h"}, {"weight": 5, "observe": "0s"}],
        "approvals": {"approvers": ["ml-lead"], "quorum": 1},
    }
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    async with rollout_worker(client, task_queue):
        started = subprocess.run(
            [str(TEMPORAL_CLI), "workflow", "start", "--address", temporal_dev.address, "--type", "Rollout",
             "--task-queue", task_queue, "--workflow-id", "rollout-bad-spec", "--input-file", str(spec_file)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert started.returncode == 0, started.stderr
        with pytest.raises(WorkflowFailureError) as failed:
            await client.get_workflow_handle("rollout-bad-spec").result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidRolloutSpec"
    problems = cause.details[0]["problems"]
    for field in ("router.kind", "metrics.url", "steps[1].weight", "steps[1].observe", "approvals"):
        assert any(p.startswith(field) for p in problems), (field, problems)
    assert len(problems) == 5, problems


async def test_a_huge_refused_signal_is_kept_truncated(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1h"}])
        handle = await start_rollout(client, spec, task_queue)
        await wait_for_status(handle, lambda st: st.weight == 10, what="step 1")
        await handle.signal("approve", {"approver": "x" * 100_000})
        await wait_for_status(handle, lambda st: st.rejected_signals == 1, what="the rejection recorded")
        await handle.signal("abort", {"by": "test", "reason": "cleanup"})
        result = await handle.result()
    (rejection,) = result.record.rejected_signals
    assert isinstance(rejection.payload, str) and rejection.payload.endswith("... (truncated)")
    assert len(rejection.payload) < 600
    assert rejection.reason.startswith("malformed: approver:")
    assert len(rejection.reason) < 2_100 and (rejection.by is None or len(rejection.by) <= 200)
    assert len(result.record.model_dump_json()) < 50_000
