"""The trust boundary on the real dev server: one key is one person, and a spec too deep is named by its field.

Real ed25519 keys from ssh-keygen, a policy file on disk read by the worker's ``load_policy`` activity, approvals
signed by the CLI's own code, as in ``test_signed_approvals.py``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowFailureError, WorkflowUpdateFailedError
from temporalio.common import RawValue
from temporalio.exceptions import ApplicationError

from models.limits import MAX_NESTING
from models.record import DeploymentRecord
from simulator.testing import run_simulator
from tests.signing import make_person
from tests.unit.test_trust_keys import weak_hash_signature
from tests.workflows.helpers import rollout_worker, start_rollout, targeted_spec, unique_service, wait_for_status
from tests.workflows.test_signed_approvals import FAST, signed_spec, signer, write_policy
from workers.cli.decisions import binding_of, signed_payload
from workers.cli.signing import expiry
from workflows.signatures import decision_message

STEPS = [{"weight": 10, "observe": "1s", "approval": True}]
APPROVALS = {"approvers": ["carol", "erin"], "quorum": 2}


async def test_one_key_listed_for_two_approvers_cannot_reach_a_quorum_of_two(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    alice, carol = make_person(tmp_path, "alice"), make_person(tmp_path, "carol")
    policy_file = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy_file):
        write_policy(policy_file, [alice.allowed(), carol.allowed(principals="carol,erin")], APPROVALS, sim)
        spec = targeted_spec(sim, service, requested_by="alice", steps=STEPS, approvals=APPROVALS)
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
        record = await handle.query("record", result_type=DeploymentRecord)
        routes = await sim.routes(service)
        calls = await sim.calls(service)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert "allowed_signers[1]: one key (SHA256:" in cause.message, cause.message
    assert "is listed for carol and erin, who may both approve default: one person, one name" in cause.message
    assert routes == {"stable": 100.0, "candidate": 0.0} and calls == []
    assert record.outcome == "failed" and record.steps == [] and record.approvals == []
    assert any("one person, one name" in event.detail for event in record.timeline), record.timeline


async def test_two_people_with_two_keys_reach_the_quorum_and_promote(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    alice, carol, erin = (make_person(tmp_path, p) for p in ("alice", "carol", "erin"))
    policy_file = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy_file):
        write_policy(policy_file, [alice.allowed(), carol.allowed(), erin.allowed()], APPROVALS, sim)
        spec = targeted_spec(sim, service, requested_by="alice", steps=STEPS, approvals=APPROVALS)
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="the approval step")
        for person in (carol, erin):
            payload = await signed_payload(handle, "approve", signer(person))
            assert await handle.execute_update("approve", payload, result_type=str) == f"approved by {person.principal}"
        result = await handle.result()
        routes = await sim.routes(service)
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert routes == {"stable": 0.0, "candidate": 100.0}
    assert [a.approver for a in record.approvals] == ["carol", "erin"]
    assert len({a.key for a in record.approvals}) == 2 and all(a.verified for a in record.approvals)


async def test_a_400_deep_manifest_is_refused_naming_the_field(client: Client, task_queue: str) -> None:
    deep: dict[str, Any] = {"a": "leaf"}
    for _ in range(399):
        deep = {"a": deep}
    service = unique_service()
    spec = {
        "service": service,
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2", "manifest": deep},
        "router": {"kind": "http", "url": "http://127.0.0.1:9/routes"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9/metrics"},
    }
    # The project's converter will not even encode this deep a value; a client in another language would.
    raw = RawValue(Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(spec).encode()))
    async with rollout_worker(client, task_queue):
        handle = await client.start_workflow("Rollout", raw, id=f"rollout-{service}", task_queue=task_queue)
        with pytest.raises(WorkflowFailureError) as failed:
            await handle.result()
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidRolloutSpec"
    assert f"candidate.manifest.a...: nested more than {MAX_NESTING} levels deep" in cause.message, cause.message
    assert "could not be decoded" not in cause.message


async def test_a_weak_hash_decision_and_a_short_rsa_key_are_refused_on_the_server(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    """Keys and costs, on a running rollout: an md5-hashed approval is refused and recorded; a policy listing an
    RSA-2048 key fails the next start, naming its line, before anything moves."""
    alice, carol, erin = (make_person(tmp_path, p) for p in ("alice", "carol", "erin"))
    rita = make_person(tmp_path, "rita", kind="rsa", bits=2048)
    policy_file = tmp_path / "policy.json"
    service, other = unique_service(), unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy_file):
        write_policy(policy_file, [alice.allowed(), carol.allowed(), erin.allowed()], APPROVALS, sim)
        spec = targeted_spec(sim, service, requested_by="alice", steps=STEPS, approvals=APPROVALS)
        handle = await start_rollout(client, signed_spec(spec, alice), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="the approval step")
        binding = await binding_of(handle, "approve")
        expires = expiry(timedelta(minutes=5))
        message = decision_message(binding, principal="carol", text=None, expires=expires)
        weak = {"approver": "carol", "expires": expires, "signature": weak_hash_signature(carol, message, "md5")}
        with pytest.raises(WorkflowUpdateFailedError) as failed:
            await handle.execute_update("approve", weak, result_type=str)
        assert "md5" in str(failed.value.cause), failed.value.cause
        await handle.signal("abort", {"by": "sre-oncall", "reason": "test over"})
        record = (await handle.result()).record

        write_policy(policy_file, [alice.allowed(), carol.allowed(), rita.allowed()], APPROVALS, sim)
        other_spec = targeted_spec(sim, other, requested_by="alice", steps=STEPS, approvals=APPROVALS)
        with pytest.raises(WorkflowFailureError) as refused:
            await (await start_rollout(client, signed_spec(other_spec, alice), task_queue)).result()
        calls = await sim.calls(other)
    assert record.approvals == [] and any("md5" in r.reason for r in record.rejected_signals)
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and "allowed_signers[2]" in cause.message and "3072" in cause.message
    assert calls == [], "nothing moved"
