"""Issue 23 on the dev server: webhooks from the policy reach a real receiver once each, signed; a dead receiver
costs the rollout nothing but a count; a rollback is followed by a recovery check that says whether stable came
back to its pre-rollout baseline, and notifies.

The receiver is a real aiohttp server on a free loopback port; the worker is the production wiring; the webhooks
and the recovery rule come from the operators' policy (named targets, as in test_trust_boundary.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory

from simulator.policies import write_lab_policy
from simulator.testing import Simulator, run_simulator
from tests.workflows.helpers import (
    SIM_TARGET,
    Delivery,
    rollout_worker,
    run_histories,
    start_rollout,
    targeted_spec,
    unique_service,
    wait_for_status,
    wait_until,
    webhook_receiver,
)
from workflows import search_attributes as sa

SECRET_ENV = "ROLLOUTS_TEST_WEBHOOK_SECRET"
SECRET = "test-secret-not-for-production"
FAST = {"rps": 200000}
RECOVERY = {"watch": "20s", "min_requests": 400_000}
"""At 200k requests/s the rule needs 2s of stable's traffic after the rollback: long enough that a knob turned
as the rollback begins is in the window, short enough for a test."""


def closed_port_url() -> str:
    """A loopback URL where nothing listens: the port was bound, then closed."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/hook"


def valid_signature(delivery: Delivery) -> bool:
    """What a receiver does (docs/notifications.md): recompute the HMAC, compare in constant time, check age."""
    timestamp = delivery.headers["X-Rollouts-Timestamp"]
    expected = hmac.new(SECRET.encode(), timestamp.encode() + b"." + delivery.body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= 300
    return fresh and hmac.compare_digest("sha256=" + expected, delivery.headers["X-Rollouts-Signature"])


def policy_with(path: Path, sim: Simulator, **service_policy: Any) -> Path:
    return write_lab_policy(path, {SIM_TARGET: sim.target()}, **service_policy)


def hooks(url: str, **json_hook: Any) -> list[dict[str, Any]]:
    """A signed JSON webhook and a Slack-format one on the same receiver (paths /json and /slack)."""
    return [
        {"url": f"{url}/json", "format": "json", "secret_env": SECRET_ENV, **json_hook},
        {"url": f"{url}/slack", "format": "slack"},
    ]


async def warm(sim: Simulator, service: str) -> None:
    """A minute of stable's traffic before the rollout: the baseline the recovery check compares with."""
    await sim.metrics(service, sim.stable_version)
    await sim.advance(60)


async def test_each_notification_arrives_once_signed_with_its_idempotency_key(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, webhook_receiver() as (url, got):
        policy = policy_with(tmp_path / "policy.json", sim, notifications=hooks(url))
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = targeted_spec(
                sim,
                service,
                steps=[{"weight": 10, "observe": "2s", "approval": True}, {"weight": 50, "observe": "2s"}],
                approvals={"approvers": ["ml-lead"], "quorum": 1},
            )
            handle = await start_rollout(client, spec, task_queue)
            await wait_for_status(handle, lambda s: s.phase == "awaiting_approval", what="approval")

            async def asked() -> bool:
                return any(d.path == "/json" and d.json()["kind"] == "approval_requested" for d in got)

            await wait_until(asked, what="the approval request's notification")
            await handle.execute_update("approve", {"approver": "ml-lead"})
            result = await handle.result()

    assert result.outcome == "promoted"
    signed = [d for d in got if d.path == "/json"]
    slack = [d for d in got if d.path == "/slack"]
    events = [d.json() for d in signed]
    kinds = [e["kind"] for e in events]
    assert kinds.count("approval_requested") == 1
    assert [e["phase"] for e in events if e["kind"] == "phase"][-2:] == ["promoting", "promoted"]
    assert sorted(e["sequence"] for e in events) == list(range(1, len(events) + 1)), "each event once"
    keys = [d.headers["X-Rollouts-Idempotency-Key"] for d in signed]
    assert len(set(keys)) == len(keys) and keys == [e["idempotency_key"] for e in events]
    assert all(k == f"{handle.id}:{e['sequence']}" for k, e in zip(keys, events, strict=True))
    assert all(valid_signature(d) for d in signed), "every JSON body carries a valid HMAC"
    approval = next(e for e in events if e["kind"] == "approval_requested")
    assert approval["data"]["command"] == f"rollouts approve {handle.id} --key <path-to-your-ssh-key>"
    assert approval["data"]["deadline"]
    assert sorted(d.headers["X-Rollouts-Idempotency-Key"] for d in slack) == sorted(keys), "same events, once each"
    for d in slack:
        body = d.json()
        assert list(body) == ["text"] and service in body["text"]
        assert "X-Rollouts-Signature" not in d.headers, "no secret_env: unsigned"
    assert any("rollouts approve" in d.json()["text"] for d in slack)
    record = result.record
    assert record.notifications_sent == len(got) and record.notifications_failed == 0


async def test_an_unreachable_receiver_does_not_slow_the_rollout(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A webhook on a closed port: the rollout goes on while its deliveries are in flight; failures are counted.

    The proof is the order of events in the history, not a stopwatch: a delivery the workflow awaited would close
    before the workflow scheduled anything else, so some other activity scheduled between a delivery's start and
    its close shows the rollout did not wait for it.
    """
    monkeypatch.setenv(SECRET_ENV, SECRET)
    dead = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        document = {
            "default": {"approvers": ["*"], "allow_unsigned": True, "targets": {SIM_TARGET: sim.target()}},
            "services": {
                dead: {
                    "approvers": ["*"],
                    "allow_unsigned": True,
                    "targets": {SIM_TARGET: sim.target()},
                    "notifications": [
                        {"url": closed_port_url(), "format": "json", "secret_env": SECRET_ENV, "attempts": 2}
                    ],
                }
            },
        }
        policy = tmp_path / "policy.json"
        policy.write_text(json.dumps(document))
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, targeted_spec(sim, dead), task_queue)
            record = (await handle.result()).record
            histories = await run_histories(client, handle)

    assert record.outcome == "promoted"
    overtaken = [
        delivery for history in histories for delivery, others in work_during_deliveries(history).items() if others
    ]
    assert overtaken, "some other activity was scheduled while a delivery to the dead receiver was in flight"
    phase_changes = sum(1 for e in record.timeline if e.event.startswith("phase "))
    assert record.notifications_sent == 0
    assert record.notifications_failed == phase_changes, "every delivery failed, and was counted once"


def work_during_deliveries(history: WorkflowHistory) -> dict[int, list[str]]:
    """Each ``send_notification`` (by scheduled event id): the other activities scheduled before it closed."""
    open_deliveries: dict[int, list[str]] = {}
    closed: set[int] = set()
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            name = event.activity_task_scheduled_event_attributes.activity_type.name
            for scheduled, others in open_deliveries.items():
                if scheduled not in closed:
                    others.append(name)
            if name == "send_notification":
                open_deliveries[event.event_id] = []
        for attributes in (
            event.activity_task_completed_event_attributes,
            event.activity_task_failed_event_attributes,
            event.activity_task_timed_out_event_attributes,
            event.activity_task_canceled_event_attributes,
        ):
            if attributes.scheduled_event_id in open_deliveries:
                closed.add(attributes.scheduled_event_id)
    return open_deliveries


async def test_a_rolled_back_rollout_records_its_recovery(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    service = unique_service()
    async with (
        run_simulator(knobs={**FAST, "candidate": {"error_rate": 0.2}}) as sim,
        webhook_receiver() as (url, got),
    ):
        await warm(sim, service)
        policy = policy_with(
            tmp_path / "policy.json", sim, notifications=hooks(url, events=["rollback", "recovery"]), recovery=RECOVERY
        )
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, targeted_spec(sim, service), task_queue)).result()

    record = result.record
    assert record.outcome == "rolled_back" and record.rollback is not None
    assert record.recovery is not None and record.recovery.verdict == "recovered", record.recovery
    assert record.recovery.after_seconds is not None and record.recovery.after_seconds < 20
    assert "stable recovered in" in result.summary
    events = [d.json() for d in got if d.path == "/json"]
    assert [e["kind"] for e in events] == ["rollback", "recovery"], "the filter keeps the other kinds out"
    assert events[0]["data"]["cause"] == "analysis"
    assert events[1]["data"]["verdict"] == "recovered"


async def test_a_stable_that_stays_bad_records_not_recovered_and_notifies(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    service = unique_service()
    async with (
        run_simulator(knobs={**FAST, "candidate": {"error_rate": 0.2}}) as sim,
        webhook_receiver() as (url, got),
    ):
        await warm(sim, service)
        policy = policy_with(tmp_path / "policy.json", sim, notifications=hooks(url), recovery=RECOVERY)
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, targeted_spec(sim, service), task_queue)
            await wait_for_status(
                handle, lambda s: s.phase in ("rolling_back", "rolled_back"), what="the rollback", timeout=60
            )
            await sim.set_knobs("stable", error_rate=0.3)  # whatever hurt the candidate now hurts stable too
            result = await handle.result()
            described = await handle.describe()

    # The workflow list's outcome column tells this rollback apart from one after which stable came back.
    assert described.typed_search_attributes.get(sa.OUTCOME) == "rolled_back_not_recovered"

    record = result.record
    assert record.recovery is not None and record.recovery.verdict == "not_recovered", record.recovery
    assert record.recovery.after_seconds is None and record.recovery.watched_seconds >= 20
    assert "not recovered within" in result.summary
    recovery = [d for d in got if d.path == "/json" and d.json()["kind"] == "recovery"]
    assert len(recovery) == 1 and recovery[0].json()["data"]["verdict"] == "not_recovered"
    assert valid_signature(recovery[0])
    slack = [d.json()["text"] for d in got if d.path == "/slack"]
    assert any("NOT recovered" in text for text in slack)


async def test_a_held_step_and_its_abort_are_notified(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inconclusive evidence held for a person, then an operator's abort: a ``held`` event, then a ``rollback``."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, webhook_receiver() as (url, got):
        policy = policy_with(tmp_path / "policy.json", sim, notifications=hooks(url, events=["held", "rollback"]))
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = targeted_spec(
                sim,
                service,
                steps=[{"weight": 10, "observe": "2s"}],
                criteria={"min_requests": 1_000_000_000},  # never enough: the evidence stays inconclusive
                on_inconclusive={"max_extensions": 0, "then": "pause"},
            )
            handle = await start_rollout(client, spec, task_queue)
            await wait_for_status(handle, lambda s: s.phase == "inconclusive", what="the hold")

            async def held() -> bool:
                return any(d.path == "/json" and d.json()["kind"] == "held" for d in got)

            await wait_until(held, what="the hold's notification")
            await handle.execute_update("abort", {"by": "sre-oncall", "reason": "no time to wait"})
            result = await handle.result()

    assert result.outcome == "rolled_back"
    events = [d.json() for d in got if d.path == "/json"]
    assert [e["kind"] for e in events] == ["held", "rollback"]
    assert events[0]["data"]["held_since"] and "held" in events[0]["title"]
    assert events[1]["data"] == {"cause": "abort", "by": "sre-oncall", "reason": events[1]["data"]["reason"]}
    assert result.record.recovery is None, "no recovery block in this policy: nothing watched"
