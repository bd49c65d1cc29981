"""The workflow's promise on the real dev server: no move without evidence, bad input ends at once, floods stay
bounded. Each test reproduces one way the promise used to break (issue 10)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import (
    Client,
    WorkflowFailureError,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from simulator.testing import run_simulator
from tests.workflows.helpers import (
    compressed_spec,
    rollout_worker,
    run_histories,
    start_rollout,
    status,
    task_failures,
    unique_service,
    wait_for_status,
)
from workflows.rollout.bounds import REJECTIONS_KEPT

FAST = {"rps": 200000}
TRICKLE = {"rps": 20}
"""So little traffic that no criterion can reach its minimum sample: every analysis stays inconclusive."""
APPROVALS = {"approvers": ["ml-lead", "sre-oncall", "product-owner"], "quorum": 2}
MAX_RESULT_BYTES = 512 * 1024


async def _failure(handle: WorkflowHandle[Any, Any]) -> ApplicationError:
    with pytest.raises(WorkflowFailureError) as caught:
        await handle.result()
    cause = caught.value.cause
    assert isinstance(cause, ApplicationError)
    return cause


async def _task_failures(client: Client, handle: WorkflowHandle[Any, Any]) -> int:
    return task_failures(await run_histories(client, handle))


async def test_all_inconclusive_is_extended_then_held_and_never_promoted(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=TRICKLE) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim,
            service,
            steps=[{"weight": 10, "observe": "2s"}, {"weight": 50, "observe": "2s"}],
            approvals=APPROVALS,
            on_inconclusive={"extend_by": "1s", "max_extensions": 2, "then": "pause"},
        )
        handle = await start_rollout(client, spec, task_queue)
        held = await wait_for_status(handle, lambda s: s.phase == "inconclusive", what="step 1 held")
        assert held.weight == 10 and held.step == 1
        assert held.step_evidence == "inconclusive" and held.extensions == 2
        assert held.hold_deadline is not None
        assert await sim.routes(service) == {"stable": 90.0, "candidate": 10.0}

        # Only an approver other than the requester may override, and only with a reason.
        for payload, refusal in [
            ({"approver": "intruder", "reason": "trust me"}, "not an approver"),
            ({"approver": "ml-engineer", "reason": "mine"}, "requested this rollout"),
            ({"approver": "ml-lead"}, "reason"),
        ]:
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update("promote", payload)
            assert refusal in str(refused.value.cause)
        answer = await handle.execute_update("promote", {"approver": "ml-lead", "reason": "traffic too low at night"})
        assert "promoted by ml-lead" in answer

        second = await wait_for_status(handle, lambda s: s.phase == "inconclusive" and s.step == 2, what="step 2 held")
        assert second.weight == 50
        await handle.signal("abort", {"by": "sre-oncall", "reason": "no evidence at 50%"})
        result = await handle.result()
        calls = [c["candidate"] for c in await sim.calls(service)]
        routes = await sim.routes(service)
    record = result.record
    assert 100.0 not in calls, "the candidate must never reach 100% without evidence"
    assert routes == {"stable": 100.0, "candidate": 0.0}
    assert record.outcome == "rolled_back"
    assert [(o.step, o.approver) for o in record.overrides] == [(0, "ml-lead")]
    assert record.steps[0].evidence == "override" and record.steps[0].extensions == 2
    assert record.steps[1].evidence == "inconclusive"
    assert await _task_failures(client, handle) == 0


async def test_inconclusive_policy_rollback(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs={"rps": 0}) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim,
            service,
            steps=[{"weight": 10, "observe": "2s"}],
            on_inconclusive={"extend_by": "1s", "max_extensions": 1, "then": "rollback"},
        )
        result = await (await start_rollout(client, spec, task_queue)).result()
        calls = [c["candidate"] for c in await sim.calls(service)]
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.cause == "inconclusive"
    assert "without passing evidence" in record.rollback.reason
    assert calls == [10.0, 0.0], "a candidate with no traffic is never promoted"


async def test_metrics_down_through_short_steps_reach_the_policy(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim,
            service,
            metrics={"kind": "http-json", "url": sim.metrics_url(service) + "/missing"},
            steps=[{"weight": 10, "observe": "1s"}, {"weight": 50, "observe": "1s"}],
            analysis_failures={"max_consecutive": 3, "action": "rollback"},
            on_inconclusive={"extend_by": "1s", "max_extensions": 5, "then": "pause"},
        )
        result = await (await start_rollout(client, spec, task_queue)).result()
        calls = [c["candidate"] for c in await sim.calls(service)]
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.cause == "analysis_failures"
    assert 100.0 not in calls and 50.0 not in calls, "a step with no successful analysis never advances"


@pytest.mark.parametrize(
    "start_input",
    [
        pytest.param([], id="no-input"),
        pytest.param([b"\x00\xffbinary"], id="binary"),
        pytest.param([RawValue(Payload(metadata={"encoding": b"text/xml"}, data=b"<spec/>"))], id="text-xml"),
        pytest.param([RawValue(Payload(metadata={"encoding": b"json/plain"}, data=b"{not json"))], id="bad-json"),
        pytest.param([{"observe": "3000000d"}], id="huge-duration"),
        pytest.param([{"service": "x"}, {"not": "a state"}], id="bad-carried-state"),
    ],
)
async def test_undecodable_or_invalid_input_fails_at_once(
    client: Client, task_queue: str, start_input: list[Any]
) -> None:
    async with rollout_worker(client, task_queue):
        handle = await client.start_workflow(
            "Rollout", args=start_input, id=f"rollout-{unique_service()}", task_queue=task_queue
        )
        failure = await _failure(handle)
    assert failure.type == "InvalidRolloutSpec", failure.message
    assert len(failure.message) < 8_000
    assert await _task_failures(client, handle) == 0


async def test_huge_durations_are_refused_naming_the_field(client: Client, task_queue: str) -> None:
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim, unique_service(), steps=[{"weight": 10, "observe": "3000000d"}], approvals=APPROVALS
        )
        spec["approvals"] = {**APPROVALS, "timeout": "3000000d"}
        handle = await start_rollout(client, spec, task_queue)
        failure = await _failure(handle)
    assert failure.type == "InvalidRolloutSpec"
    assert "steps[0].observe" in failure.message and "approvals.timeout" in failure.message
    assert await _task_failures(client, handle) == 0


async def _flood(handle: WorkflowHandle[Any, Any], count: int, *, concurrency: int) -> None:
    """``count`` junk signals: unknown names, malformed payloads, unauthorized approvals."""
    junk: list[tuple[str, Any]] = [
        ("approve", {"approver": "intruder"}),
        ("deploy-now", {"x": 1}),
        ("pause", "not an object"),
        ("approve", {"approver": "ml-engineer"}),
        ("resume", {"by": "someone"}),
    ]
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        name, payload = junk[i % len(junk)]
        async with gate:
            await handle.signal(name, payload)

    await asyncio.gather(*(one(i) for i in range(count)))


@pytest.mark.slow
async def test_signal_floods_leave_the_quorum_working_and_the_state_bounded(client: Client, task_queue: str) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
        spec = compressed_spec(
            sim, service, steps=[{"weight": 10, "observe": "2s", "approval": True}], approvals=APPROVALS
        )
        handle = await start_rollout(client, spec, task_queue)
        await wait_for_status(handle, lambda s: s.phase == "awaiting_approval", what="approval phase", timeout=120)
        await _flood(handle, 4_000, concurrency=50)
        await _flood(handle, 1_200, concurrency=1_200)
        flooded = await status(handle)
        assert flooded.phase == "awaiting_approval" and flooded.weight == 10
        assert flooded.rejected_signals == 5_200
        await handle.signal("approve", {"approver": "ml-lead"})
        await handle.signal("approve", {"approver": "sre-oncall"})
        result = await handle.result()
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert len(record.rejected_signals) == REJECTIONS_KEPT
    assert sum(record.rejected_signal_counts.values()) == 5_200
    assert len(json.dumps(result.model_dump(mode="json"))) < MAX_RESULT_BYTES
    assert await _task_failures(client, handle) == 0


class _BareCounters(BaseHTTPRequestHandler):
    """Counters with no quality scores and no latency histogram, as a service without them would report."""

    def do_GET(self) -> None:
        body = json.dumps({"requests": 50_000, "errors": 50}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@contextlib.contextmanager
def _bare_metrics() -> Iterator[str]:
    """A real HTTP metrics endpoint (the stdlib's server, on its own thread) for the untestable-criteria test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _BareCounters)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/metrics"
    finally:
        server.shutdown()
        server.server_close()


async def test_untestable_criteria_end_the_rollout_before_traffic_moves(client: Client, task_queue: str) -> None:
    service = unique_service()
    with _bare_metrics() as url:
        async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue):
            spec = compressed_spec(sim, service, metrics={"kind": "http-json", "url": url})
            handle = await start_rollout(client, spec, task_queue)
            result = await handle.result()
            calls = await sim.calls(service)
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.cause == "untestable"
    assert "latency_p95" in record.rollback.reason and "quality" in record.rollback.reason
    assert "accept_untestable" in record.rollback.reason
    assert calls == [], "no traffic moved"
    assert record.rollback.router_verified is None
