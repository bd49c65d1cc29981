"""The trust boundary on the real dev server (issue 18): bounded pauses, signals before the policy, revoked keys,
proofs that outlive history, decisions bound to the first execution's run id.

Real ed25519 keys from ssh-keygen, a policy file on disk read by the worker's ``load_policy`` activity (only the
early-signals test holds that activity back, by name, to make "before the policy is read" last), the real
``ssh-keygen -Y verify`` on what the record keeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import ResetWorkflowExecutionRequest
from temporalio.client import Client, WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateStage
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from activities.policy import PolicyActivities
from models.policy import LoadedPolicy, PolicyRequest
from models.record import DeploymentRecord, SignedProof
from simulator.testing import run_simulator
from tests.signing import Person, make_person
from tests.workflows.helpers import (
    compressed_spec,
    rollout_worker,
    start_rollout,
    unique_service,
    wait_for_status,
    wait_until,
)
from workers.build import RolloutWorker, build_worker
from workers.cli.decisions import Signer, payload_for, signed_payload
from workers.cli.signing import expiry
from workers.registry import open_activities, registered_workflows
from workers.sandbox import sandbox_runner
from workflows.rollout.state import RolloutResult
from workflows.rollout.workflow import EARLY_REFUSED, EARLY_SIGNALS_KEPT
from workflows.signatures import Binding, canonical_spec

FAST = {"rps": 200000}


def write_policy(
    path: Path, service_policy: dict[str, Any], signers: list[str] | None = None, revoked: list[str] | None = None
) -> None:
    """A policy under which the specs' own simulator router runs (these tests are about operations, not targets;
    tests/workflows/test_trust_boundary.py holds specs to the operators' targets)."""
    rules = {"allow_inline_targets": True, **service_policy}
    document = {"allowed_signers": signers or [], "revoked": revoked or [], "default": rules}
    path.write_text(json.dumps(document))


def signed_spec(spec: dict[str, Any], requester: Person) -> dict[str, Any]:
    """Bound to its workflow id and an hour, as ``rollouts sign-spec`` makes it."""
    bound = {**spec, "workflow_id": f"rollout-{spec['service']}", "not_after": expiry(timedelta(hours=1))}
    return {**bound, "signature": requester.sign(canonical_spec(bound))}


def fingerprint(person: Person) -> str:
    public = person.key.with_name(person.key.name + ".pub")
    out = subprocess.run(["ssh-keygen", "-l", "-f", str(public)], check=True, capture_output=True, text=True).stdout
    return out.split()[1]


def signer(person: Person) -> Signer:
    return Signer(principal=person.principal, key=person.key)


async def assert_replays(handle: WorkflowHandle[Any, Any]) -> None:
    """The finished rollout's history replays on this code: the new paths are deterministic."""
    replayer = Replayer(
        workflows=registered_workflows(), data_converter=pydantic_data_converter, workflow_runner=sandbox_runner()
    )
    replayed = await replayer.replay_workflow(await handle.fetch_history(), raise_on_replay_failure=False)
    assert replayed.replay_failure is None, replayed.replay_failure


async def record_of(handle: WorkflowHandle[Any, Any]) -> DeploymentRecord:
    found: DeploymentRecord = await handle.query("record", result_type=DeploymentRecord)
    return found


async def start_paused(
    client: Client, spec: dict[str, Any], task_queue: str, by: str
) -> WorkflowHandle[Any, RolloutResult]:
    """Start with a pause delivered in the first workflow task, before the policy is read and before any step."""
    handle: WorkflowHandle[Any, RolloutResult] = await client.start_workflow(
        "Rollout",
        spec,
        id=f"rollout-{spec['service']}",
        task_queue=task_queue,
        result_type=RolloutResult,
        start_signal="pause",
        start_signal_args=[{"by": by, "reason": "looking at a dashboard"}],
    )
    return handle


# ------------------------------------------------------------------ 1. bounded pause


async def test_a_pause_past_max_pause_rolls_back_naming_who_paused(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    write_policy(policy, {"approvers": ["*"], "allow_unsigned": True, "max_pause": "2s"})
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "2s"}])
        handle = await start_paused(client, spec, task_queue, by="sre-oncall")
        result = await handle.result()
        routes = await sim.routes(service)
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.cause == "max_pause"
    assert "paused by sre-oncall" in record.rollback.reason and "max_pause 2s" in record.rollback.reason
    assert record.rollback.router_verified is True and record.final_weight == 0.0
    assert routes == {"stable": 100.0, "candidate": 0.0}
    assert record.steps and record.steps[0].observed_seconds == 0.0, "the pause held the step's clock"


async def test_a_pause_past_max_pause_with_hold_alerts_and_holds_for_a_person(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    write_policy(policy, {"approvers": ["*"], "allow_unsigned": True, "max_pause": "2s", "on_max_pause": "hold"})
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        spec = compressed_spec(
            sim, service, steps=[{"weight": 10, "observe": "2s"}], approvals={"approvers": ["ml-lead"]}
        )
        handle = await start_paused(client, spec, task_queue, by="sre-oncall")
        held = await wait_for_status(handle, lambda st: st.phase == "inconclusive", what="the step held")
        assert not held.paused and held.hold_deadline is not None
        await handle.execute_update("promote", {"approver": "ml-lead", "reason": "the pause was forgotten"})
        result = await handle.result()
        await assert_replays(handle)
    record = result.record
    assert record.outcome == "promoted", result.markdown
    alerts = [e for e in record.timeline if e.event == "alert: pause limit"]
    assert len(alerts) == 1 and "paused by sre-oncall" in alerts[0].detail and "held" in alerts[0].detail
    assert [(o.approver, o.reason) for o in record.overrides] == [("ml-lead", "the pause was forgotten")]


# ------------------------------------------------------------------ 2. signals before the policy


@contextlib.asynccontextmanager
async def slow_policy_worker(
    client: Client, task_queue: str, policy: Path, gate: asyncio.Event
) -> AsyncIterator[RolloutWorker]:
    """The production worker, whose ``load_policy`` (replaced by name) waits for ``gate`` before reading."""
    real = PolicyActivities(policy)

    @activity.defn(name="load_policy")
    async def load_policy(request: PolicyRequest) -> LoadedPolicy:
        await gate.wait()
        return await real.load_policy(request)

    async with open_activities(client, task_queue, policy_path=policy) as activities:
        others = [a for a in activities if getattr(a, "__name__", "") != "load_policy"]
        worker = build_worker(
            client, task_queue=task_queue, workflows=registered_workflows(), activities=[*others, load_policy]
        )
        async with worker:
            yield worker


async def test_signals_and_updates_before_the_policy_is_read_are_judged_under_it(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    write_policy(policy, {"approvers": ["*"], "allow_unsigned": True, "operators": ["bob"]})
    service, gate = unique_service(), asyncio.Event()
    async with run_simulator(knobs=FAST) as sim, slow_policy_worker(client, task_queue, policy, gate):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1h"}])
        handle = await start_paused(client, spec, task_queue, by="mallory")  # in the first task
        await handle.signal("pause", {"by": "bob", "reason": "hold the first step"})
        # Today's gap: an abort by a non-operator while the policy was read counted, unverified.
        carol = await handle.start_update(
            "abort", {"by": "carol", "reason": "x"}, wait_for_stage=WorkflowUpdateStage.ACCEPTED, result_type=str
        )
        waiting = await record_of(handle)
        assert waiting.policy is None and waiting.rejected_signals == [], "nothing is judged before the policy"
        gate.set()
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await carol.result()
        assert "unauthorized: 'carol' is not an operator of default (may abort: bob)" in str(refused.value.cause)
        paused = await wait_for_status(handle, lambda st: st.phase == "canary", what="the first step")
        assert paused.paused_by == "bob"
        await handle.execute_update("abort", {"by": "bob", "reason": "test over"})
        record = (await handle.result()).record
        await assert_replays(handle)
    assert [(r.signal, r.by) for r in record.rejected_signals] == [("pause", "mallory"), ("abort", "carol")]
    assert record.rejected_signals[0].reason == "unauthorized: 'mallory' is not an operator of default (may pause: bob)"
    assert record.rollback is not None and record.rollback.cause == "abort" and record.rollback.by == "bob"
    assert record.steps[0].observed_seconds == 0.0, "bob's early pause held the first step's clock"


async def test_past_fifty_early_signals_the_rest_are_refused_and_recorded(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    write_policy(policy, {"approvers": ["*"], "allow_unsigned": True, "operators": ["bob"]})
    service, gate = unique_service(), asyncio.Event()
    async with run_simulator(knobs=FAST) as sim, slow_policy_worker(client, task_queue, policy, gate):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1h"}])
        handle = await start_rollout(client, spec, task_queue)
        for i in range(EARLY_SIGNALS_KEPT):  # each one counts once judged: pause, resume, pause...
            await handle.signal("resume" if i % 2 else "pause", {"by": "bob"})
        for _ in range(3):
            await handle.signal("pause", {"by": "bob", "reason": "one too many"})
        gate.set()
        await wait_for_status(handle, lambda st: st.phase == "canary", what="the first step")
        await handle.execute_update("abort", {"by": "bob", "reason": "test over"})
        record = (await handle.result()).record
    assert [(r.signal, r.reason) for r in record.rejected_signals] == [("pause", EARLY_REFUSED)] * 3
    assert sum(e.event == "paused" for e in record.timeline) == EARLY_SIGNALS_KEPT // 2
    assert record.rejected_signal_counts == {"pause": 3}


async def test_signed_operations_refuse_an_unsigned_pause_and_abort_and_record_them(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    """With ``signed_operations`` on, naming an operator is not enough: only that operator's signature counts."""
    bob = make_person(tmp_path, "bob")
    policy = tmp_path / "policy.json"
    rules = {"approvers": ["*"], "allow_unsigned": True, "operators": ["bob"], "signed_operations": True}
    write_policy(policy, rules, [bob.allowed()])
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1h"}])
        handle = await start_rollout(client, spec, task_queue)
        await wait_for_status(handle, lambda st: st.phase == "canary" and st.weight == 10, what="the canary")
        refusals = []
        for operation in ("pause", "abort"):
            with pytest.raises(WorkflowUpdateFailedError) as refused:
                await handle.execute_update(operation, {"by": "bob", "reason": "claiming to be bob"})
            refusals.append(str(refused.value.cause))
        status = await wait_for_status(handle, lambda st: st.phase == "canary", what="the canary, untouched")
        routes = await sim.routes(service)
        await handle.execute_update("abort", await signed_payload(handle, "abort", signer(bob), text="test over"))
        record = (await handle.result()).record
    for operation, refusal in zip(("pause", "abort"), refusals, strict=True):
        assert f"signature: missing; policy default requires signed {operation}" in refusal, refusal
    assert status.paused_by is None and routes["candidate"] == 10, "the unsigned operations changed nothing"
    assert [(r.signal, r.by) for r in record.rejected_signals] == [("pause", "bob"), ("abort", "bob")]
    assert record.rollback is not None and record.rollback.cause == "abort" and record.rollback.by == "bob"
    assert [o.decision for o in record.signed_operations] == ["abort"]


# ------------------------------------------------------------------ 3. revoked keys


@pytest.mark.slow
async def test_a_key_revoked_after_its_approval_does_not_count_toward_the_quorum(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    alice, bob, carol, dave = (make_person(tmp_path, p) for p in ("alice", "bob", "carol", "dave"))
    policy = tmp_path / "policy.json"
    signers = [p.allowed() for p in (alice, bob, carol, dave)]
    rules = {"approvers": ["bob", "carol", "dave"], "quorum": 2}
    write_policy(policy, rules, signers)
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        spec = compressed_spec(
            sim,
            service,
            requested_by="alice",
            steps=[{"weight": 10, "observe": "1s", "approval": True}],
            approvals=rules,
        )
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval")
        await handle.execute_update("approve", await signed_payload(handle, "approve", signer(bob)))
        write_policy(policy, rules, signers, revoked=[fingerprint(bob)])  # the operators revoke bob's key
        await handle.execute_update("approve", await signed_payload(handle, "approve", signer(carol)))

        await wait_for_status(handle, lambda st: st.approvals_missing == 1, what="bob's approval dropped")
        record = await record_of(handle)
        assert record.outcome == "running", "two approvals, one of them revoked, must not promote"
        assert [(a.approver, a.dropped is not None) for a in record.approvals] == [("bob", True), ("carol", False)]
        with pytest.raises(WorkflowUpdateFailedError) as again:
            await handle.execute_update("approve", await signed_payload(handle, "approve", signer(bob)))
        assert "revoked" in str(again.value.cause)
        await handle.execute_update("approve", await signed_payload(handle, "approve", signer(dave)))
        result = await handle.result()
        await assert_replays(handle)
    record = result.record
    assert record.outcome == "promoted", result.markdown
    bob_entry = record.approvals[0]
    assert bob_entry.approver == "bob" and bob_entry.dropped and fingerprint(bob) in bob_entry.dropped
    assert [a.approver for a in record.approvals if a.dropped is None] == ["carol", "dave"]
    assert record.steps[0].approvals[0].dropped == bob_entry.dropped
    assert any(e.event == "approval dropped" and "bob" in e.detail for e in record.timeline)
    assert any(r.by == "bob" and "revoked" in r.reason for r in record.rejected_signals)


async def test_an_override_by_a_revoked_key_is_dropped_and_the_step_stays_held(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    alice, bob, carol = (make_person(tmp_path, p) for p in ("alice", "bob", "carol"))
    policy = tmp_path / "policy.json"
    signers = [p.allowed() for p in (alice, bob, carol)]
    rules = {"approvers": ["bob", "carol"]}
    write_policy(policy, rules, signers)
    service = unique_service()
    async with run_simulator(knobs={"rps": 20}) as sim, rollout_worker(client, task_queue, policy_path=policy):
        spec = compressed_spec(
            sim,
            service,
            requested_by="alice",
            steps=[{"weight": 10, "observe": "1s"}],
            approvals=rules,
            on_inconclusive={"max_extensions": 0, "then": "pause"},
        )
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "inconclusive", what="the step held")
        write_policy(policy, rules, signers, revoked=[fingerprint(bob)])
        await handle.execute_update("promote", await signed_payload(handle, "promote", signer(bob), text="fine"))

        async def dropped() -> bool:
            return any(o.dropped for o in (await record_of(handle)).overrides)

        await wait_until(dropped, what="bob's override dropped")
        held = await wait_for_status(handle, lambda st: st.phase == "inconclusive", what="held again")
        assert held.weight == 10.0
        await handle.execute_update("promote", await signed_payload(handle, "promote", signer(carol), text="ok"))
        result = await handle.result()
        await assert_replays(handle)
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert [(o.approver, o.dropped is not None) for o in record.overrides] == [("bob", True), ("carol", False)]
    assert any(e.event == "override dropped" for e in record.timeline)


async def test_a_policy_that_cannot_be_read_again_never_counts_as_a_pass(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    alice, bob, carol = (make_person(tmp_path, p) for p in ("alice", "bob", "carol"))
    policy = tmp_path / "policy.json"
    rules = {"approvers": ["bob", "carol"], "quorum": 2}
    write_policy(policy, rules, [p.allowed() for p in (alice, bob, carol)])
    good = policy.read_bytes()
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        steps = [{"weight": 10, "observe": "1s", "approval": True}]
        spec = compressed_spec(sim, service, requested_by="alice", steps=steps, approvals=rules)
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval")
        await handle.execute_update("approve", await signed_payload(handle, "approve", signer(bob)))
        policy.write_text("{ an operator's half-saved edit")
        await handle.execute_update("approve", await signed_payload(handle, "approve", signer(carol)))

        async def cannot_confirm() -> bool:
            return any(e.event == "policy not re-read" for e in (await record_of(handle)).timeline)

        await wait_until(cannot_confirm, what="the failed re-read noted")
        waiting = await record_of(handle)
        assert waiting.outcome == "running" and waiting.final_weight == 10.0, "promoted without confirming"
        policy.write_bytes(good)
        result = await handle.result()
        await assert_replays(handle)
    assert result.record.outcome == "promoted", result.markdown
    notes = [e.detail for e in result.record.timeline if e.event == "policy not re-read"]
    assert notes and "cannot be confirmed" in notes[0]


async def test_the_spec_key_revoked_before_the_final_promotion_rolls_back(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    alice = make_person(tmp_path, "alice")
    policy = tmp_path / "policy.json"
    write_policy(policy, {}, [alice.allowed()])
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        spec = compressed_spec(sim, service, requested_by="alice", steps=[{"weight": 10, "observe": "3s"}])
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "canary", what="the first step")
        write_policy(policy, {}, [alice.allowed()], revoked=[fingerprint(alice)])
        result = await handle.result()
        routes = await sim.routes(service)
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.rollback is not None and record.rollback.cause == "revoked"
    assert fingerprint(alice) in record.rollback.reason and "spec's signature" in record.rollback.reason
    assert routes == {"stable": 100.0, "candidate": 0.0}


# ------------------------------------------------------------------ 4 and 5. proofs, first run id


def ssh_verify(proof: SignedProof, directory: Path) -> subprocess.CompletedProcess[bytes]:
    """``ssh-keygen -Y verify`` with only what the record keeps."""
    directory.mkdir()
    (directory / "allowed_signers").write_text(proof.allowed_signer + "\n")
    (directory / "sig").write_text(proof.signature)
    principal = proof.allowed_signer.split()[0]
    return subprocess.run(
        [
            "ssh-keygen",
            "-Y",
            "verify",
            "-f",
            str(directory / "allowed_signers"),
            "-I",
            principal,
            "-n",
            "durable-rollouts",
            "-s",
            str(directory / "sig"),
        ],
        input=proof.message.encode(),
        capture_output=True,
        check=False,
    )


async def reset_to_first_task(client: Client, handle: WorkflowHandle[Any, Any]) -> str:
    """``temporal workflow reset`` to the end of the first workflow task; the new run's id."""
    history = await handle.fetch_history()
    first_task = next(
        e.event_id for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED
    )
    response = await client.workflow_service.reset_workflow_execution(
        ResetWorkflowExecutionRequest(
            namespace=client.namespace,
            workflow_execution=WorkflowExecution(workflow_id=handle.id),
            reason="test: a reset changes the run id",
            workflow_task_finish_event_id=first_task,
            request_id=str(uuid.uuid4()),
        )
    )
    return response.run_id


@pytest.mark.slow
async def test_the_record_alone_proves_every_signed_decision_bound_to_the_first_run(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    alice, bob, carol = (make_person(tmp_path, p) for p in ("alice", "bob", "carol"))
    policy = tmp_path / "policy.json"
    rules = {"approvers": ["bob", "carol"], "quorum": 2}
    write_policy(policy, rules, [p.allowed() for p in (alice, bob, carol)])
    service = unique_service()
    # Errors at 0.1% on both versions: with analyses 5 s apart, the absolute margin decides the error criterion in a
    # few polls. At 1% the ratio binds and its dispersion-aware test (ADR 47) needs about a dozen polls, a minute.
    low_errors = {"rps": 200000, "versions": {v: {"error_rate": 0.001} for v in ("v1", "v2")}}
    async with run_simulator(knobs=low_errors) as sim, rollout_worker(client, task_queue, policy_path=policy):
        spec = compressed_spec(
            sim,
            service,
            requested_by="alice",
            steps=[{"weight": 10, "observe": "5s", "approval": True}],
            approvals=rules,
            # Slow enough that no run hands over (200 events) while the test reads the reset run's record.
            analysis_interval="5s",
        )
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        first_run = handle.first_execution_run_id
        assert first_run is not None
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval")
        # A reset gives the rollout a new run id; decisions stay bound to the first one.
        new_run = await reset_to_first_task(client, handle)
        assert new_run != first_run
        latest = client.get_workflow_handle(handle.id, result_type=RolloutResult)
        await wait_for_status(latest, lambda st: st.phase == "awaiting_approval", what="approval after the reset")
        reset_record = await record_of(latest)
        # The reset run (or a run it handed over to, every 200 events) holds the record; the binding stays the first.
        assert reset_record.first_run_id == first_run and reset_record.run_id != first_run
        # Signed over the first execution's run id by hand, not read from the record: it counts.
        binding = Binding(
            workflow_id=handle.id,
            run_id=first_run,
            decision="approve",
            step=1,
            criteria_sha256=reset_record.criteria_sha256,
        )
        by_hand = payload_for("approve", binding, signer(bob), who="bob", text="first run")
        assert await latest.execute_update("approve", by_hand, result_type=str) == "approved by bob"
        # A signed pause and resume (operations) keep their proof too; then carol, through the CLI's code.
        for operation in ("pause", "resume"):
            await latest.execute_update(operation, await signed_payload(latest, operation, signer(carol)))
        await latest.execute_update("approve", await signed_payload(latest, "approve", signer(carol), text="ok"))
        result = await latest.result()
    record = result.record
    assert record.outcome == "promoted", result.markdown
    proofs = {
        "spec": record.policy.spec_proof if record.policy else None,
        **{f"approve-{a.approver}": a.proof for a in record.approvals},
        **{f"{o.decision}-{o.by}": o.proof for o in record.signed_operations},
    }
    assert sorted(proofs) == ["approve-bob", "approve-carol", "pause-carol", "resume-carol", "spec"]
    for name, proof in proofs.items():
        assert proof is not None, name
        if name != "spec":
            assert f"run: {first_run}\n" in proof.message, name
        verified = ssh_verify(proof, tmp_path / name)
        assert verified.returncode == 0, (name, verified.stderr)
    # The check can fail: one changed byte of the message and ssh-keygen refuses.
    tampered = proofs["approve-bob"]
    assert tampered is not None
    forged = tampered.model_copy(update={"message": tampered.message.replace("first run", "first rum")})
    assert ssh_verify(forged, tmp_path / "forged").returncode != 0
