"""Signed approvals on the real dev server: forgeries refused and recorded, a signed quorum promotes.

Real ed25519 keys from ssh-keygen, signatures made by the CLI's own code (``workers.cli``), a policy file on
disk read by the worker's ``load_policy`` activity, verification in the workflow's handlers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.record import DeploymentRecord
from simulator.testing import Simulator, run_simulator
from tests.servers import DevServer
from tests.signing import Person, make_person
from tests.workflows.helpers import (
    SIM_TARGET,
    rollout_worker,
    sim_target,
    start_rollout,
    targeted_spec,
    unique_service,
    wait_for_status,
)
from workers.cli.decisions import Signer, signed_payload
from workers.cli.signing import expiry
from workflows.signatures import canonical_spec

FAST = {"rps": 200000}


def write_policy(path: Path, signers: list[str], service_policy: dict[str, Any], sim: Simulator | None = None) -> str:
    """Write the policy file (with the simulator as its ``sim`` target); return its SHA-256 as the record shows it."""
    if sim is not None:
        service_policy = {**service_policy, "targets": {SIM_TARGET: sim_target(sim)}}
    raw = json.dumps({"allowed_signers": signers, "default": service_policy}, indent=2).encode()
    path.write_bytes(raw)
    return hashlib.sha256(raw).hexdigest()


def signed_spec(spec: dict[str, Any], requester: Person, valid_for: timedelta = timedelta(hours=1)) -> dict[str, Any]:
    """The spec as ``rollouts sign-spec`` makes it: bound to its workflow id and a not-after time, then signed."""
    bound = {**spec, "workflow_id": f"rollout-{spec['service']}", "not_after": expiry(valid_for)}
    return {**bound, "signature": requester.sign(canonical_spec(bound))}


async def refused(handle: WorkflowHandle[Any, Any], payload: dict[str, Any], reason: str) -> None:
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await handle.execute_update("approve", payload, result_type=str)
    assert reason in str(failed.value.cause), failed.value.cause


def signer(person: Person, valid_for: timedelta = timedelta(minutes=5)) -> Signer:
    return Signer(principal=person.principal, key=person.key, valid_for=valid_for)


@pytest.mark.slow
async def test_signed_quorum_promotes_and_every_forgery_is_refused_and_recorded(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    alice, bob, carol, mallory = (make_person(tmp_path, p) for p in ("alice", "bob", "carol", "mallory"))
    robert = Person("robert", alice.key)  # the requester's own key, listed under another name
    policy_file = tmp_path / "policy.json"
    signers = [alice.allowed(), bob.allowed(), carol.allowed(), alice.allowed(principals="robert")]
    approvals = {"approvers": ["bob", "carol", "robert"], "quorum": 2}
    steps = [{"weight": 10, "observe": "1s", "approval": True}, {"weight": 50, "observe": "1s", "approval": True}]
    service, other_service = unique_service(), unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy_file):
        governing_sha = write_policy(policy_file, signers, {"approvers": ["bob", "carol", "robert"], "quorum": 2}, sim)
        spec = targeted_spec(sim, service, requested_by="alice", steps=steps, approvals=approvals)
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        other_spec = targeted_spec(sim, other_service, requested_by="alice", steps=steps, approvals=approvals)
        other = await start_rollout(client, signed_spec(other_spec, alice), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="step 1 approval")

        # The forgery of the issue: a name typed into a payload.
        await refused(handle, {"approver": "bob"}, "signature: missing")
        # Signed, but by a key the policy does not list; by bob after expiry; by the requester as "robert".
        forged = await signed_payload(handle, "approve", Signer(principal="bob", key=mallory.key))
        await refused(handle, forged, "not in the allowed_signers")
        expired = await signed_payload(handle, "approve", signer(bob, timedelta(seconds=-1)))
        await refused(handle, expired, "expired")
        own = await signed_payload(handle, "approve", signer(robert))
        await refused(handle, own, "requester's key")

        bob_step_1 = await signed_payload(handle, "approve", signer(bob), text="dashboards fine")
        assert await handle.execute_update("approve", bob_step_1, result_type=str) == "approved by bob"
        # The operators edit the policy: carol is gone. The running rollout keeps the policy it started with.
        write_policy(policy_file, signers[:2], {"approvers": ["bob"], "quorum": 1}, sim)
        await handle.execute_update("approve", await signed_payload(handle, "approve", signer(carol)), result_type=str)

        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval" and st.step == 2, what="step 2")
        # Replays: bob's step-1 approval at step 2; carol's approval of this rollout on the other one.
        await refused(handle, bob_step_1, "does not verify")
        await wait_for_status(other, lambda st: st.phase == "awaiting_approval", what="other rollout's approval")
        await refused(other, await signed_payload(handle, "approve", signer(carol)), "does not verify")

        for person in (bob, carol):
            await handle.execute_update("approve", await signed_payload(handle, "approve", signer(person)))
        result = await handle.result()
        await other.signal("abort", {"by": "sre-oncall", "reason": "test over"})
        other_record = (await other.result()).record

    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert record.policy is not None and record.policy.sha256 == governing_sha
    assert record.policy.spec_signed_by is not None
    assert [(a.step, a.approver) for a in record.approvals] == [(0, "bob"), (0, "carol"), (1, "bob"), (1, "carol")]
    assert all(a.verified and a.key and a.key.startswith("SHA256:") for a in record.approvals)
    assert record.approvals[0].comment == "dashboards fine"
    reasons = [r.reason for r in record.rejected_signals]
    for expected in ("signature: missing", "not in the allowed_signers", "expired", "requester's key"):
        assert any(expected in r for r in reasons), (expected, reasons)
    assert any("does not verify" in r for r in reasons), "the step-1 replay at step 2 is recorded"
    assert any("does not verify" in r for r in (r.reason for r in other_record.rejected_signals))
    assert other_record.approvals == []


async def test_spec_that_loosens_its_policy_fails_at_start_naming_each_field(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    policy_file = tmp_path / "policy.json"
    write_policy(
        policy_file,
        [],
        {"approvers": ["bob"], "criteria": {"error_rate_ratio_max": 1.2}, "rollback_triggers": {"error_rate_ratio": 2}},
    )
    spec = {
        "service": unique_service(),
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "http", "url": "http://127.0.0.1:9/routes"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9/metrics"},
        "criteria": {"error_rate_ratio_max": 1.5},
        "rollback_triggers": {"error_rate_ratio": 3.0},
    }
    async with rollout_worker(client, task_queue, policy_path=policy_file):
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow("Rollout", spec, id=f"rollout-{spec['service']}", task_queue=task_queue)
        handle = client.get_workflow_handle(f"rollout-{spec['service']}")
        record = await handle.query("record", result_type=DeploymentRecord)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PolicyConflict"
    problems = "\n".join(cause.details[0]["problems"])
    assert "criteria.error_rate_ratio_max: 1.5 is looser" in problems
    assert "rollback_triggers.error_rate_ratio: 3.0 is looser" in problems
    assert "signature: the spec must be signed by 'alice'" in problems
    assert record.outcome == "failed" and record.steps == []


async def test_approvals_without_a_policy_fail_at_start(client: Client, task_queue: str) -> None:
    spec = {
        "service": unique_service(),
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "http", "url": "http://127.0.0.1:9/routes"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9/metrics"},
        "steps": [{"weight": 10, "observe": "1h", "approval": True}],
        "approvals": {"approvers": ["bob"]},
    }
    async with rollout_worker(client, task_queue, policy_path=None):
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow("Rollout", spec, id=f"rollout-{spec['service']}", task_queue=task_queue)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "PolicyConflict"
    assert "no unsigned approval counts" in str(cause)


async def rollouts_cli(*args: str, address: str) -> tuple[int, str, str]:
    """Run the installed ``rollouts`` console script as a person would."""
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "rollouts"),
        *args,
        # The tree under test, not whichever checkout the console script was installed from.
        env={**os.environ, "TEMPORAL_ADDRESS": address, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_the_rollouts_command_signs_the_spec_and_approves(
    client: Client, temporal_dev: DevServer, task_queue: str, tmp_path: Path
) -> None:
    alice, bob, mallory = (make_person(tmp_path, p) for p in ("alice", "bob", "mallory"))
    policy_file = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy_file):
        write_policy(policy_file, [alice.allowed(), bob.allowed()], {"approvers": ["bob"], "operators": ["bob"]}, sim)
        spec_file, signed_file = tmp_path / "spec.json", tmp_path / "signed.json"
        spec = targeted_spec(
            sim,
            service,
            requested_by="alice",
            steps=[{"weight": 10, "observe": "1s", "approval": True}],
            approvals={"approvers": ["bob"]},
        )
        spec_file.write_text(json.dumps(spec))
        code, _, err = await rollouts_cli(
            "sign-spec", str(spec_file), "--key", str(alice.key), "--output", str(signed_file), address=""
        )
        assert code == 0, err
        handle = await start_rollout(client, json.loads(signed_file.read_text()), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval")
        address = temporal_dev.address
        code, _, err = await rollouts_cli(
            "approve", handle.id, "--key", str(mallory.key), "--as", "bob", "--yes", address=address
        )
        assert code == 1 and "not in the allowed_signers" in err, err
        code, _, err = await rollouts_cli("abort", handle.id, "--as", "mallory", "--reason", "x", address=address)
        assert code == 1 and "not an operator" in err
        # Without a terminal to ask at, nothing is signed unless --yes says so; what would be signed is shown.
        code, out, err = await rollouts_cli(
            "approve", handle.id, "--key", str(bob.key), "--reason", "ok", address=address
        )
        assert code == 2 and "pass --yes" in err and "nothing was sent" in err and out == "", err
        code, out, err = await rollouts_cli(
            "approve", handle.id, "--key", str(bob.key), "--reason", "ok", "--yes", address=address
        )
        assert (code, out.strip()) == (0, "approved by bob"), err
        for shown in (
            f"rollout:   {handle.id} (run ",
            f"service:   {service}",
            f"versions:  {spec['stable']['version']} -> {spec['candidate']['version']}",
            "step:      1 of 1, candidate weight 10%",
            "evidence:  ",
            "last analysis: ",
            'decision:  approve "ok"',
            "expires:   20",
        ):
            assert shown in err, (shown, err)
        record = (await handle.result()).record
    assert record.outcome == "promoted"
    assert record.policy is not None and record.policy.spec_signed_by is not None
    assert [(a.approver, a.comment, a.verified) for a in record.approvals] == [("bob", "ok", True)]
    assert [r.by for r in record.rejected_signals] == ["bob", "mallory"]
