"""Issue 18's attacks, each tried on the real dev server by someone holding what every requester holds.

The attacker may start workflows and holds one key; the worker runs under a strict policy whose targets are the
operators'. Each attack must be refused with a message naming the rule, with nothing moved (the simulator's
route log for the service stays empty, no file is written, no program runs) and the refusal in the record or
the workflow's failure. The positive path (a named target, a signed spec, a real quorum) promotes.
"""

from __future__ import annotations

import json
import stat
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from models.lease import LEASE_WORKFLOW, LeaseHolder, LeaseReport, LeaseRequest, lease_id
from models.record import DeploymentRecord
from simulator.testing import Simulator, run_simulator
from tests.signing import Person, make_person
from tests.workflows.helpers import (
    SIM_TARGET,
    compressed_spec,
    rollout_worker,
    sim_target,
    start_rollout,
    targeted_spec,
    unique_service,
    wait_for_status,
)
from workers.cli.decisions import Signer, signed_payload
from workers.cli.signing import expiry
from workflows.rollout.state import RolloutState
from workflows.signatures import canonical_spec

FAST = {"rps": 200000}


def strict_policy(path: Path, sim: Simulator, signers: list[str], **service_policy: Any) -> None:
    """A production-like policy: signed specs and decisions, the simulator as the only target, no inline targets."""
    document = {
        "allowed_signers": signers,
        "default": {"approvers": ["bob", "carol"], "targets": {SIM_TARGET: sim_target(sim)}, **service_policy},
    }
    path.write_text(json.dumps(document, indent=2))


def signed(spec: dict[str, Any], requester: Person, *, workflow_id: str | None = None, valid_for: timedelta) -> Any:
    bound = {**spec, "workflow_id": workflow_id or f"rollout-{spec['service']}", "not_after": expiry(valid_for)}
    return {**bound, "signature": requester.sign(canonical_spec(bound))}


async def refusal(client: Client, spec: dict[str, Any], task_queue: str, *, workflow_id: str | None = None) -> Any:
    """Start the rollout, expect it to fail at start, and return (cause, record or None)."""
    wid = workflow_id or f"rollout-{spec['service']}"
    with pytest.raises(WorkflowFailureError) as failed:
        await client.execute_workflow("Rollout", spec, id=wid, task_queue=task_queue)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    try:
        record = await client.get_workflow_handle(wid).query("record", result_type=DeploymentRecord)
    except Exception:  # refused before any state existed (the carried-state attack)
        record = None
    return cause, record


def problems_of(cause: ApplicationError) -> str:
    return "\n".join(cause.details[0]["problems"]) if cause.details else str(cause)


async def test_a_start_cannot_hand_the_workflow_its_own_state(client: Client, task_queue: str, tmp_path: Path) -> None:
    """Attack 1: ``Rollout.run(spec, carried)`` with a hand-made, ungoverned state and an unsigned approval."""
    alice = make_person(tmp_path, "alice")
    policy = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        strict_policy(policy, sim, [alice.allowed()])
        spec = targeted_spec(sim, service, requested_by="alice", steps=[{"weight": 10, "observe": "1s"}])
        forged = RolloutState.model_validate(
            {
                "governed": False,
                "gates_done": True,
                "record": {
                    "rollout_id": f"rollout-{service}",
                    "run_id": "forged",
                    "service": service,
                    "requested_by": "alice",
                    "stable": spec["stable"],
                    "candidate": spec["candidate"],
                    "strategy": {},
                    "criteria": {},
                    "rollback_triggers": {},
                    "criteria_sha256": "0" * 64,
                    "judge": "sequential",
                    "started_at": "2026-01-01T00:00:00Z",
                },
            }
        )
        with pytest.raises(WorkflowFailureError) as failed:
            await client.execute_workflow(
                "Rollout", args=[spec, forged], id=f"rollout-{service}", task_queue=task_queue
            )
        calls = await sim.calls(service)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "CarriedStateRefused"
    assert "only by its own continue-as-new" in cause.message
    assert calls == [], "nothing moved"


@pytest.mark.parametrize(
    "attack",
    [
        pytest.param("nginx", id="nginx-program-file-pid"),
        pytest.param("http-router-url", id="router-url"),
        pytest.param("metrics-url", id="metrics-url"),
    ],
)
async def test_a_spec_cannot_choose_what_the_worker_touches(
    client: Client, task_queue: str, tmp_path: Path, attack: str
) -> None:
    """Attack 2: a signed spec carrying its own nginx program, files and pid, or its own router/metrics URLs."""
    alice = make_person(tmp_path, "alice")
    policy = tmp_path / "policy.json"
    marker = tmp_path / "ran"
    script = tmp_path / "evil-nginx"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    victim = tmp_path / "victim.conf"
    victim.write_text("operators' file\n")
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        strict_policy(policy, sim, [alice.allowed()])
        spec = compressed_spec(sim, service, requested_by="alice")
        if attack == "nginx":
            spec["router"] = {
                "kind": "nginx",
                "config_path": str(victim),
                "nginx_conf": str(victim),
                "nginx_bin": str(script),
                "pid_file": str(tmp_path / "some.pid"),
            }
        elif attack == "metrics-url":
            spec["metrics"] = {"kind": "http-json", "url": f"{sim.control_url}/metrics/someone-else"}
        else:
            spec["router"] = {"kind": "http", "url": f"{sim.control_url}/routes/someone-else"}
        cause, record = await refusal(client, signed(spec, alice, valid_for=timedelta(hours=1)), task_queue)
        calls = await sim.calls()
    assert cause.type == "PolicyConflict"
    assert "router: policy default does not allow a spec's own router and metrics" in problems_of(cause)
    assert record is not None and record.outcome == "failed" and record.steps == []
    assert any(e.event == "refused" and "own router" in e.detail for e in record.timeline)
    assert not marker.exists(), "the spec's program never ran"
    assert victim.read_text() == "operators' file\n", "the spec's file was never written"
    assert [c for c in calls if c["service"] in {service, "someone-else"}] == []


async def test_a_named_target_bounds_every_address_the_spec_names(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    """Attack 2, under a named target: endpoints, preflight URL and replay file outside what the target allows."""
    alice = make_person(tmp_path, "alice")
    policy = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        strict_policy(policy, sim, [alice.allowed()])
        spec = targeted_spec(
            sim,
            service,
            requested_by="alice",
            candidate={"version": sim.candidate_version, "endpoint": "http://169.254.169.254/latest/meta-data"},
            preflight={"url": "http://127.0.0.1:1/score", "baseline": 0.5},
            shadow={"requests_file": "/etc/shadow"},
        )
        cause, record = await refusal(client, signed(spec, alice, valid_for=timedelta(hours=1)), task_queue)
        calls = await sim.calls(service)
    problems = problems_of(cause)
    assert (
        "candidate.endpoint: http://169.254.169.254/latest/meta-data is not under a URL that target 'sim'" in problems
    )
    assert "preflight.url: http://127.0.0.1:1/score is not under a URL" in problems
    assert "shadow.requests_file: a spec may not choose a file on the worker" in problems
    assert record is not None and record.outcome == "failed"
    assert calls == []


async def test_inline_targets_need_lab_mode_without_a_policy(client: Client, task_queue: str) -> None:
    """A worker with no policy moves no traffic unless its operator started it in lab mode; then it is recorded."""
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        spec = compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1s"}])
        async with rollout_worker(client, task_queue, policy_path=None):
            cause, _ = await refusal(client, spec, task_queue)
            assert "not in lab mode (ROLLOUTS_LAB_MODE=true)" in problems_of(cause)
            assert await sim.calls(service) == []
        lab_queue = f"{task_queue}-lab"
        async with rollout_worker(client, lab_queue, policy_path=None, lab_mode=True):
            spec["service"] = service = unique_service()
            result = await (await start_rollout(client, spec, lab_queue)).result()
    assert result.outcome == "promoted"
    assert result.record.policy is not None and result.record.policy.target_origin == "inline-lab"


async def test_the_policy_requires_approvals_and_sets_floors(client: Client, task_queue: str, tmp_path: Path) -> None:
    """Attacks 3 and 5: a spec asking for no approvals, and every loosening field past its floor, in one start."""
    alice = make_person(tmp_path, "alice")
    policy = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        strict_policy(
            policy,
            sim,
            [alice.allowed()],
            quorum=1,
            require_approvals={"before_promotion": True},
            criteria={"error_rate_margin": 0.001, "alpha": 0.05},
            accept_untestable=[],
            analysis_failures={"max_consecutive": 3, "action": "rollback"},
            on_inconclusive={"max_extensions": 1, "then": "rollback", "hold_max": "1h"},
            min_weighted_observation="1h",
        )
        spec = targeted_spec(
            sim,
            service,
            requested_by="alice",
            steps=[{"weight": 1, "observe": "59m"}, {"weight": 99, "observe": "1m"}],
            analysis_interval="1m",
            criteria={"error_rate_margin": 0.1, "alpha": 0.5},
            accept_untestable=["quality"],
            analysis_failures={"action": "pause"},
            on_inconclusive={"max_extensions": 5, "then": "pause"},
        )
        cause, record = await refusal(client, signed(spec, alice, valid_for=timedelta(hours=1)), task_queue)
        calls = await sim.calls(service)
    problems = problems_of(cause)
    for expected in (
        "approvals: policy default",
        "steps[1].approval: policy default",
        "criteria.error_rate_margin: 0.1 is looser",
        "criteria.alpha: 0.5 is looser",
        "accept_untestable: 'quality' may not be accepted",
        "analysis_failures.action: 'pause' where policy default",
        "on_inconclusive.max_extensions: 5 is more than",
        "on_inconclusive.then: 'pause' where policy default",
        "on_inconclusive.hold_max: 7d is longer",
        "steps: 1m35s of observation weighted by exposure is below",
    ):
        assert expected in problems, (expected, problems)
    assert record is not None and record.outcome == "failed" and calls == []


async def test_a_signed_spec_is_bound_to_its_workflow_id_and_expires(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    """Smaller holes: a signed spec started under another workflow id, or after its not_after, is refused."""
    alice = make_person(tmp_path, "alice")
    policy = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        strict_policy(policy, sim, [alice.allowed()])
        spec = targeted_spec(sim, service, requested_by="alice")
        copied = signed(spec, alice, valid_for=timedelta(hours=1))
        cause, _ = await refusal(client, copied, task_queue, workflow_id=f"rollout-{service}-again")
        assert f"workflow_id: the spec was signed to start 'rollout-{service}'" in problems_of(cause)
        stale = signed(spec, alice, valid_for=timedelta(seconds=-1))
        cause, _ = await refusal(client, stale, task_queue)
        assert "not_after: the signed spec expired" in problems_of(cause)
        far = signed(spec, alice, workflow_id=f"rollout-{service}-far", valid_for=timedelta(days=30))
        cause, _ = await refusal(client, far, task_queue, workflow_id=f"rollout-{service}-far")
        assert "not_after: " in problems_of(cause) and "max_signature_validity" in problems_of(cause)
        assert await sim.calls(service) == []


@pytest.mark.slow
async def test_a_signed_spec_on_a_named_target_with_a_real_quorum_promotes(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    """The positive path: target from the policy, signed spec, required approval reached by two people's keys."""
    alice, bob, carol = (make_person(tmp_path, p) for p in ("alice", "bob", "carol"))
    policy = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        strict_policy(
            policy,
            sim,
            [alice.allowed(), bob.allowed(), carol.allowed()],
            quorum=2,
            require_approvals={"before_promotion": True},
        )
        spec = targeted_spec(
            sim,
            service,
            requested_by="alice",
            steps=[{"weight": 10, "observe": "1s", "approval": True}],
            approvals={"approvers": ["bob", "carol"], "quorum": 2},
        )
        handle = await start_rollout(client, signed(spec, alice, valid_for=timedelta(hours=1)), task_queue)
        await wait_for_status(handle, lambda st: st.phase == "awaiting_approval", what="approval")
        for person in (bob, carol):
            payload = await signed_payload(
                handle, "approve", Signer(person.principal, person.key, timedelta(minutes=5))
            )
            await handle.execute_update("approve", payload, result_type=str)
        result = await handle.result()
        calls = await sim.calls(service)
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert record.policy is not None and record.policy.target == SIM_TARGET and record.policy.target_origin == "policy"
    assert [(a.approver, a.verified) for a in record.approvals] == [("bob", True), ("carol", True)]
    assert len({a.key for a in record.approvals}) == 2
    assert calls[-1]["candidate"] == 100.0


@pytest.mark.parametrize("router", ["the spec's nginx", "the operators' target"])
async def test_a_forged_lease_request_cannot_make_the_lease_call_its_router(
    client: Client, task_queue: str, tmp_path: Path, router: str
) -> None:
    """Anyone may send the lease workflow an ``acquire`` update: its router is called only if it is a target's."""
    marker = tmp_path / "ran"
    script = tmp_path / "evil-nginx"
    script.write_text(f"#!/bin/sh\ntouch {marker}\n")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    policy = tmp_path / "policy.json"
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy):
        strict_policy(policy, sim, [])
        evil = {
            "kind": "nginx",
            "config_path": str(tmp_path / "w.conf"),
            "nginx_conf": str(tmp_path / "n.conf"),
            "nginx_bin": str(script),
            "pid_file": str(tmp_path / "nginx.pid"),
        }
        chosen = evil if router == "the spec's nginx" else {"kind": "http", "url": sim.routes_url(service)}
        lease = await client.start_workflow(
            LEASE_WORKFLOW, service, id=lease_id(service), task_queue=task_queue, result_type=LeaseReport
        )
        request = LeaseRequest.model_validate(
            {
                "service": service,
                "holder": f"rollout-{service}-ghost",
                "holder_run_id": str(uuid.uuid4()),
                "router": chosen,
            }
        )
        await lease.execute_update("acquire", request, result_type=LeaseHolder)
        report = await lease.result()
        calls = await sim.calls(service)
    orphan = report.orphan_rollback
    assert orphan is not None and orphan.ended == "vanished"
    if router == "the spec's nginx":
        assert not orphan.compensated and "not one of" in orphan.note, orphan
        assert not marker.exists(), "the forged request's program never ran"
    else:
        assert orphan.compensated and orphan.router_verified, orphan
        assert calls[-1]["stable"] == 100.0
