"""The trust boundary's pure rules (issue 18): pause bounds, revocations, proofs and their size, early pauses."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from models.phases import Phase
from models.policy import DEFAULT_MAX_PAUSE, MAX_REVOKED, GoverningPolicy, PolicyError, resolve
from models.record import ApprovalEntry, DeploymentRecord, OverrideEntry, SignedProof
from tests.signing import Person, make_person
from workflows.approvals import Accepted, Rejected, SignalContext, assess
from workflows.rollout.bounds import PROOFS_BUDGET_CHARS, keep_proof, proof_size
from workflows.signatures import Binding, decision_message
from workflows.trust import (
    LAB_PAUSE_LIMIT,
    PauseLimit,
    dropped_reason,
    needs_reconfirmation,
    pause_deadline,
    pause_limit,
    revoked_approvals,
    revoked_override,
)

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
EXPIRES = "2026-12-04T12:30:00Z"


def policy(service: dict[str, Any], *, signers: list[str] | None = None, revoked: list[str] | None = None) -> bytes:
    return json.dumps({"allowed_signers": signers or [], "revoked": revoked or [], "default": service}).encode()


def governing(service: dict[str, Any], **kwargs: Any) -> GoverningPolicy:
    found = resolve(policy(service, **kwargs), source="p.json", service="svc")
    assert found is not None
    return found


# ---------------------------------------------------------------- bounded pause


def test_without_a_policy_a_pause_lasts_a_day_then_rolls_back() -> None:
    assert pause_limit(None) == LAB_PAUSE_LIMIT == PauseLimit(timedelta(hours=24), "rollback")
    assert timedelta(hours=24) == DEFAULT_MAX_PAUSE


def test_a_policy_without_the_fields_keeps_the_lab_default() -> None:
    assert pause_limit(governing({})) == LAB_PAUSE_LIMIT


def test_the_policy_sets_max_pause_and_what_happens_then() -> None:
    found = pause_limit(governing({"max_pause": "30m", "on_max_pause": "hold"}))
    assert found == PauseLimit(timedelta(minutes=30), "hold")


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("max_pause", "91d", "max_pause"),
        ("max_pause", "-1s", "max_pause"),
        ("max_pause", "soon", "max_pause"),
        ("on_max_pause", "ignore", "on_max_pause"),
    ],
)
def test_a_bad_pause_bound_names_the_field(field: str, value: str, problem: str) -> None:
    with pytest.raises(PolicyError, match=f"default.{problem}"):
        resolve(policy({field: value}), source="p.json", service="svc")


def test_pause_deadline_is_the_pause_start_plus_the_bound() -> None:
    assert pause_deadline(None, LAB_PAUSE_LIMIT) is None
    assert pause_deadline(NOW, PauseLimit(timedelta(seconds=2), "hold")) == NOW + timedelta(seconds=2)


# ---------------------------------------------------------------- revoked keys


def test_resolve_copies_the_revoked_list() -> None:
    fingerprint = "SHA256:" + "A" * 43
    assert governing({}, revoked=[fingerprint]).revoked == [fingerprint]
    assert governing({}).revoked == []


def test_the_revoked_list_is_bounded() -> None:
    with pytest.raises(PolicyError, match="revoked"):
        resolve(
            policy({}, revoked=[f"SHA256:{i:043d}" for i in range(MAX_REVOKED + 1)]), source="p.json", service="svc"
        )


def approval(step: int, who: str, key: str | None, dropped: str | None = None) -> ApprovalEntry:
    return ApprovalEntry(step=step, approver=who, at=NOW, key=key, verified=key is not None, dropped=dropped)


def test_only_the_steps_counted_signed_approvals_by_revoked_keys_are_voided() -> None:
    approvals = [
        approval(0, "bob", "SHA256:bob"),  # another step
        approval(1, "bob", "SHA256:bob"),
        approval(1, "carol", "SHA256:carol"),
        approval(1, "dave", None),  # unsigned (a lab): no key to revoke
        approval(1, "erin", "SHA256:bob", dropped="already"),
    ]
    assert revoked_approvals(approvals, 1, {"SHA256:bob"}) == [1]
    assert revoked_approvals(approvals, 1, set()) == []
    assert needs_reconfirmation(approvals, 1) and needs_reconfirmation(approvals, 0)
    assert not needs_reconfirmation([approval(2, "dave", None)], 2)


def test_only_the_steps_last_counted_override_can_be_voided() -> None:
    def override(step: int, key: str | None, dropped: str | None = None) -> OverrideEntry:
        return OverrideEntry(step=step, approver="lead", reason="r", at=NOW, key=key, dropped=dropped)

    overrides = [override(1, "SHA256:old", dropped="x"), override(1, "SHA256:lead"), override(2, "SHA256:lead")]
    assert revoked_override(overrides, 1, {"SHA256:lead"}) == 1
    assert revoked_override(overrides, 1, {"SHA256:old"}) is None
    assert revoked_override([override(1, None)], 1, {"SHA256:lead"}) is None
    assert "SHA256:lead" in dropped_reason("SHA256:lead", "f" * 64) and "ffffffffffff" in dropped_reason("k", "f" * 64)


# ---------------------------------------------------------------- signals: revoked keys and early pauses


@pytest.fixture(scope="module")
def bob(tmp_path_factory: pytest.TempPathFactory) -> Person:
    return make_person(tmp_path_factory.mktemp("keys"), "bob")


def fingerprint_of(person: Person) -> str:
    public = person.key.with_name(person.key.name + ".pub")
    return subprocess.run(
        ["ssh-keygen", "-l", "-f", str(public)], capture_output=True, text=True, check=True
    ).stdout.split()[1]


def signed_approval(person: Person, **ctx: Any) -> tuple[dict[str, Any], SignalContext]:
    binding = Binding(workflow_id="rollout-a", run_id="first-run", decision="approve", step=1, criteria_sha256="c")
    message = decision_message(binding, principal=person.principal, text=None, expires=EXPIRES)
    payload = {"approver": person.principal, "expires": EXPIRES, "signature": person.sign(message)}
    context = SignalContext(
        phase=Phase.AWAITING_APPROVAL,
        requested_by="alice",
        approvers=frozenset({person.principal}),
        governed=True,
        policy=governing({"approvers": [person.principal]}, signers=[person.allowed()]),
        workflow_id="rollout-a",
        run_id="first-run",
        criteria_sha256="c",
        step=1,
        now=NOW,
        **ctx,
    )
    return payload, context


def test_a_verified_decision_carries_a_proof_that_ssh_keygen_accepts(bob: Person, tmp_path: Path) -> None:
    payload, context = signed_approval(bob)
    outcome = assess("approve", payload, context)
    assert isinstance(outcome, Accepted) and outcome.proof is not None
    proof = outcome.proof
    assert proof.allowed_signer == bob.allowed()
    (tmp_path / "allowed").write_text(proof.allowed_signer + "\n")
    (tmp_path / "sig").write_text(proof.signature)
    verify = ["ssh-keygen", "-Y", "verify", "-f", str(tmp_path / "allowed"), "-I", "bob", "-n", "durable-rollouts"]
    done = subprocess.run([*verify, "-s", str(tmp_path / "sig")], input=proof.message.encode(), check=False)
    assert done.returncode == 0


def test_a_signature_by_a_key_revoked_during_the_rollout_is_refused(bob: Person) -> None:
    payload, context = signed_approval(bob, revoked=frozenset({fingerprint_of(bob)}))
    outcome = assess("approve", payload, context)
    assert isinstance(outcome, Rejected) and outcome.reason.startswith("signature: key SHA256:")
    assert "revoked" in outcome.reason and "another key listed for 'bob'" in outcome.reason


@pytest.mark.parametrize("phase", [Phase.VALIDATING, Phase.PREFLIGHT, Phase.SHADOW])
def test_a_pause_before_the_first_step_counts_only_under_trust_operations(phase: Phase) -> None:
    context = SignalContext(phase=phase, requested_by="alice")
    assert isinstance(assess("pause", {"by": "sre"}, context), Rejected)
    trusted = SignalContext(phase=phase, requested_by="alice", trust_operations=True)
    assert isinstance(assess("pause", {"by": "sre"}, trusted), Accepted)


@pytest.mark.parametrize("phase", [Phase.INCONCLUSIVE, Phase.PROMOTING])
def test_trust_operations_does_not_widen_pauses_after_the_steps_begin(phase: Phase) -> None:
    trusted = SignalContext(phase=phase, requested_by="alice", trust_operations=True)
    outcome = assess("pause", {"by": "sre"}, trusted)
    assert isinstance(outcome, Rejected) and outcome.reason.startswith("meaningless")


# ---------------------------------------------------------------- proofs stay within the record's bound


def record() -> DeploymentRecord:
    return DeploymentRecord.model_validate(
        {
            "rollout_id": "r",
            "run_id": "run",
            "service": "svc",
            "requested_by": "alice",
            "stable": {"version": "v1"},
            "candidate": {"version": "v2"},
            "strategy": {},
            "criteria": {},
            "rollback_triggers": {},
            "criteria_sha256": "c",
            "judge": "sequential",
            "started_at": NOW,
        }
    )


def test_proofs_are_kept_until_their_budget_is_spent_then_counted() -> None:
    proof = SignedProof(message="m" * 3000, signature="s" * 4000, allowed_signer="bob k" * 100)
    r = record()
    kept = 0
    while (found := keep_proof(r, proof)) is not None:
        r.approvals.append(approval(0, f"p{kept}", "SHA256:k").model_copy(update={"proof": found}))
        kept += 1
    assert kept == PROOFS_BUDGET_CHARS // proof_size(proof)
    assert r.proofs_omitted == 1
    assert sum(proof_size(a.proof) for a in r.approvals) <= PROOFS_BUDGET_CHARS
    assert keep_proof(r, None) is None and r.proofs_omitted == 1


def test_old_records_without_the_new_fields_still_parse() -> None:
    old = record().model_dump(mode="json")
    for field in ("first_run_id", "signed_operations", "proofs_omitted"):
        old.pop(field)
    old["approvals"] = [{"step": 0, "approver": "bob", "at": NOW.isoformat()}]
    parsed = DeploymentRecord.model_validate(old)
    assert parsed.first_run_id is None and parsed.approvals[0].proof is None and parsed.approvals[0].dropped is None
