"""Signed decisions and the service policy: real ssh-keygen signatures, verified by the pure workflow code."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from models.phases import Phase
from models.policy import GoverningPolicy, PolicyError, resolve
from models.validation import validate_spec
from tests.signing import Person, make_person
from workflows.approvals import Accepted, Rejected, SignalContext, SignalName, assess
from workflows.policy import conflicts, requester_fingerprints, verify_spec_signature
from workflows.signatures import Binding, Refused, canonical_spec, decision_message, verify_signed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EXPIRES = "2026-11-30T13:00:00Z"
BINDING = Binding(workflow_id="rollout-a", run_id="run-1", decision="approve", step=1, criteria_sha256="c" * 64)


@dataclass(frozen=True)
class Cast:
    """The people of these tests: a requester, two approvers, someone the policy does not list, an RSA user."""

    alice: Person
    bob: Person
    carol: Person
    mallory: Person
    rsa: Person


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> Cast:
    directory = tmp_path_factory.mktemp("keys")
    return Cast(
        alice=make_person(directory, "alice@example.com"),
        bob=make_person(directory, "bob@example.com"),
        carol=make_person(directory, "carol@example.com"),
        mallory=make_person(directory, "mallory@elsewhere"),
        rsa=make_person(directory, "rita@example.com", kind="rsa"),
    )


def policy_document(cast: Cast, **service: Any) -> dict[str, Any]:
    return {
        "allowed_signers": [
            cast.alice.allowed(),
            cast.bob.allowed(),
            cast.carol.allowed(),
            cast.rsa.allowed(),
            "# a comment, and a key for git only, which must not count here:",
            f'bob@example.com namespaces="git" {cast.mallory.public}',
        ],
        "groups": {"ml-leads": ["bob@example.com", "carol@example.com"]},
        "services": {"support-assistant": {"approvers": ["@ml-leads", "rita@example.com"], **service}},
    }


def governing(cast: Cast, **service: Any) -> GoverningPolicy:
    found = resolve(json.dumps(policy_document(cast, **service)).encode(), source="p.json", service="support-assistant")
    assert found is not None
    return found


# ---------------------------------------------------------------- the policy file


def test_resolve_expands_groups_and_keeps_only_our_namespace(cast: Cast) -> None:
    policy = governing(cast)
    assert policy.scope == "services.support-assistant"
    assert policy.policy.approvers == ["bob@example.com", "carol@example.com", "rita@example.com"]
    assert cast.mallory.public not in {s.key for s in policy.signers}
    assert len(policy.sha256) == 64


def test_resolve_falls_back_to_default_and_to_none(cast: Cast) -> None:
    document = policy_document(cast)
    assert resolve(json.dumps(document).encode(), source="p", service="other") is None
    document["default"] = {"allow_unsigned": True, "approvers": ["*"]}
    found = resolve(json.dumps(document).encode(), source="p", service="other")
    assert found is not None and found.scope == "default" and found.policy.allow_unsigned


def test_sha256_changes_with_any_edit(cast: Cast) -> None:
    raw = json.dumps(policy_document(cast)).encode()
    first = resolve(raw, source="p", service="support-assistant")
    second = resolve(raw + b"\n", source="p", service="support-assistant")
    assert first is not None and second is not None and first.sha256 != second.sha256


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda d: d["services"]["support-assistant"].update(approvers=["@nobody"]), "group '@nobody'"),
        (lambda d: d["services"]["support-assistant"].update(quorum=0), "quorum"),
        (lambda d: d.update(allowed_signers=["bob cert-authority ssh-ed25519 AAAA"]), "allowed_signers[0]"),
        (lambda d: d.update(allowed_signers=['bob valid-before="20300101" ssh-ed25519 AAAA']), "allowed_signers[0]"),
        (lambda d: d.update(allowed_signers=["bob ssh-ed25519 not-base64!"]), "allowed_signers[0]"),
        (lambda d: d.update(unknown=1), "unknown"),
    ],
)
def test_invalid_policy_names_the_field(cast: Cast, mutate: Any, named: str) -> None:
    document = policy_document(cast)
    mutate(document)
    with pytest.raises(PolicyError, match=named.replace("[", r"\[").replace("]", r"\]")):
        resolve(json.dumps(document).encode(), source="p", service="support-assistant")


def test_not_json_is_a_policy_error() -> None:
    with pytest.raises(PolicyError, match="not JSON"):
        resolve(b"approvers: [bob]", source="p.yaml", service="x")


# ---------------------------------------------------------------- one signature


def sign(person: Person, binding: Binding = BINDING, *, text: str | None = None, expires: str = EXPIRES) -> str:
    return person.sign(decision_message(binding, principal=person.principal, text=text, expires=expires))


def test_valid_signature_by_a_listed_key_verifies(cast: Cast) -> None:
    message = decision_message(BINDING, principal="bob@example.com", text=None, expires=EXPIRES)
    verdict = verify_signed(message, sign(cast.bob), principal="bob@example.com", policy=governing(cast))
    assert not isinstance(verdict, Refused)
    assert verdict.fingerprint.startswith("SHA256:")


def test_rsa_keys_verify_too(cast: Cast) -> None:
    message = decision_message(BINDING, principal="rita@example.com", text=None, expires=EXPIRES)
    verdict = verify_signed(message, sign(cast.rsa), principal="rita@example.com", policy=governing(cast))
    assert not isinstance(verdict, Refused)


@pytest.mark.parametrize(
    "other",
    [
        Binding("rollout-b", "run-1", "approve", 1, "c" * 64),
        Binding("rollout-a", "run-2", "approve", 1, "c" * 64),
        Binding("rollout-a", "run-1", "approve", 2, "c" * 64),
        Binding("rollout-a", "run-1", "promote", 1, "c" * 64),
        Binding("rollout-a", "run-1", "approve", 1, "d" * 64),
    ],
    ids=["other-rollout", "other-run", "other-step", "other-decision", "other-criteria"],
)
def test_signature_replayed_elsewhere_does_not_verify(cast: Cast, other: Binding) -> None:
    message = decision_message(other, principal="bob@example.com", text=None, expires=EXPIRES)
    verdict = verify_signed(message, sign(cast.bob), principal="bob@example.com", policy=governing(cast))
    assert isinstance(verdict, Refused) and "does not verify" in verdict.reason


def test_changed_text_or_expiry_does_not_verify(cast: Cast) -> None:
    signature = sign(cast.bob, text="looks fine")
    for text, expires in (("looks great", EXPIRES), ("looks fine", "2026-11-30T14:00:00Z")):
        message = decision_message(BINDING, principal="bob@example.com", text=text, expires=expires)
        assert isinstance(
            verify_signed(message, signature, principal="bob@example.com", policy=governing(cast)), Refused
        )


def test_unknown_key_and_wrong_principal_are_refused(cast: Cast) -> None:
    policy = governing(cast)
    forged = decision_message(BINDING, principal="bob@example.com", text=None, expires=EXPIRES)
    unknown = verify_signed(forged, cast.mallory.sign(forged), principal="bob@example.com", policy=policy)
    assert isinstance(unknown, Refused) and "not in the allowed_signers" in unknown.reason
    claims = verify_signed(forged, cast.carol.sign(forged), principal="bob@example.com", policy=policy)
    assert isinstance(claims, Refused) and "listed for carol@example.com" in claims.reason


def test_signature_for_another_namespace_is_refused(cast: Cast) -> None:
    message = decision_message(BINDING, principal="bob@example.com", text=None, expires=EXPIRES)
    done = subprocess.run(
        ["ssh-keygen", "-Y", "sign", "-q", "-n", "git", "-f", str(cast.bob.key)],
        input=message,
        capture_output=True,
        check=True,
    )
    verdict = verify_signed(message, done.stdout.decode(), principal="bob@example.com", policy=governing(cast))
    assert isinstance(verdict, Refused)


@pytest.mark.parametrize(
    "junk", ["", "not a signature", "-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----", "x" * 5000]
)
def test_malformed_signatures_are_refused_never_raised(cast: Cast, junk: str) -> None:
    message = decision_message(BINDING, principal="bob@example.com", text=None, expires=EXPIRES)
    assert isinstance(verify_signed(message, junk, principal="bob@example.com", policy=governing(cast)), Refused)


# ---------------------------------------------------------------- assess under a policy


def governed(cast: Cast, *, requester_keys: frozenset[str] = frozenset(), **service: Any) -> SignalContext:
    return SignalContext(
        phase=Phase.AWAITING_APPROVAL,
        requested_by="alice@example.com",
        approvers=frozenset({"bob@example.com", "carol@example.com"}),
        governed=True,
        policy=governing(cast, **service),
        workflow_id=BINDING.workflow_id,
        run_id=BINDING.run_id,
        criteria_sha256=BINDING.criteria_sha256,
        step=1,
        now=NOW,
        requester_keys=requester_keys,
    )


def signed(person: Person, name: SignalName = "approve", **fields: Any) -> dict[str, Any]:
    binding = Binding(
        BINDING.workflow_id, BINDING.run_id, name, 1 if name in {"approve", "promote"} else None, "c" * 64
    )
    text = fields.get("comment") or fields.get("reason")
    key = "approver" if name in {"approve", "reject", "promote"} else "by"
    return {key: person.principal, **fields, "expires": EXPIRES, "signature": sign(person, binding, text=text)}


def test_the_forged_name_only_approval_is_refused(cast: Cast) -> None:
    outcome = assess("approve", {"approver": "bob@example.com"}, governed(cast))
    assert isinstance(outcome, Rejected) and outcome.reason.startswith("signature: missing")


def test_signed_approval_is_accepted_and_verified(cast: Cast) -> None:
    outcome = assess("approve", signed(cast.bob, comment="ok"), governed(cast))
    assert isinstance(outcome, Accepted) and outcome.verified is True and outcome.fingerprint


def test_unsigned_approval_counts_unverified_only_where_the_policy_allows(cast: Cast) -> None:
    outcome = assess("approve", {"approver": "bob@example.com"}, governed(cast, allow_unsigned=True))
    assert isinstance(outcome, Accepted) and outcome.verified is False


def test_expired_and_too_long_lived_signatures_are_refused(cast: Cast) -> None:
    late = governed(cast)
    late = SignalContext(**{**late.__dict__, "now": NOW + timedelta(hours=2)})
    outcome = assess("approve", signed(cast.bob), late)
    assert isinstance(outcome, Rejected) and "expired" in outcome.reason
    outcome = assess("approve", signed(cast.bob), governed(cast, max_signature_validity="30m"))
    assert isinstance(outcome, Rejected) and "max_signature_validity" in outcome.reason


def test_requester_key_cannot_approve_under_another_listed_principal(cast: Cast) -> None:
    fingerprint = governing(cast).signers[0].fingerprint  # alice's
    document = policy_document(cast)
    document["allowed_signers"].append(f'carol@example.com namespaces="durable-rollouts" {cast.alice.public}')
    policy = resolve(json.dumps(document).encode(), source="p", service="support-assistant")
    context = SignalContext(**{**governed(cast).__dict__, "policy": policy, "requester_keys": frozenset({fingerprint})})
    payload = signed(Person("carol@example.com", cast.alice.key))
    outcome = assess("approve", payload, context)
    assert isinstance(outcome, Rejected) and "requester's key" in outcome.reason


def test_operators_list_limits_abort(cast: Cast) -> None:
    context = governed(cast, operators=["sre@example.com"])
    outcome = assess(
        "abort", {"by": "bob@example.com", "reason": "x"}, SignalContext(**{**context.__dict__, "phase": Phase.CANARY})
    )
    assert isinstance(outcome, Rejected) and "not an operator" in outcome.reason
    outcome = assess(
        "abort", {"by": "sre@example.com", "reason": "x"}, SignalContext(**{**context.__dict__, "phase": Phase.CANARY})
    )
    assert isinstance(outcome, Accepted) and outcome.verified is False


def test_no_policy_refuses_decisions_but_not_abort(cast: Cast) -> None:
    context = SignalContext(**{**governed(cast).__dict__, "policy": None})
    assert isinstance(assess("approve", signed(cast.bob), context), Rejected)
    assert isinstance(assess("abort", {"by": "anyone", "reason": "harm"}, context), Accepted)


# ---------------------------------------------------------------- the spec against its policy


def spec(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "service": "support-assistant",
        "requested_by": "alice@example.com",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "http", "url": "http://127.0.0.1:9100/routes/x"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/x"},
        "steps": [{"weight": 10, "observe": "1h", "approval": True}],
        "approvals": {"approvers": ["bob@example.com", "carol@example.com"], "quorum": 2},
    }
    document.update(overrides)
    return document


def test_spec_within_its_policy_has_no_conflicts(cast: Cast) -> None:
    assert conflicts(validate_spec(spec()), governing(cast, quorum=2, criteria={"min_requests": 500})) == []


def test_each_loosening_is_named(cast: Cast) -> None:
    loose = spec(
        criteria={"error_rate_ratio_max": 1.5, "min_requests": 100},
        rollback_triggers={"error_rate_ratio": 3.0},
        approvals={"approvers": ["bob@example.com", "mallory@elsewhere"], "quorum": 1},
    )
    policy = governing(
        cast,
        quorum=2,
        criteria={"error_rate_ratio_max": 1.2, "min_requests": 500},
        rollback_triggers={"error_rate_ratio": 2.0},
        min_observation="2h",
    )
    problems = "\n".join(conflicts(validate_spec(loose), policy))
    for field in (
        "criteria.error_rate_ratio_max",
        "criteria.min_requests",
        "rollback_triggers.error_rate_ratio",
        "approvals.quorum",
        "approvals.approvers: 'mallory@elsewhere'",
        "steps:",
    ):
        assert field in problems


def test_approvals_without_a_policy_fail_at_start() -> None:
    (problem,) = conflicts(validate_spec(spec()), None)
    assert "no unsigned approval counts" in problem
    assert conflicts(validate_spec(spec(steps=[{"weight": 10, "observe": "1h"}], approvals=None)), None) == []


def test_spec_signature_identifies_the_requester(cast: Cast) -> None:
    raw = spec()
    raw["signature"] = cast.alice.sign(canonical_spec(raw))
    policy = governing(cast)
    fingerprint = verify_spec_signature(raw, validate_spec(raw), policy)
    assert isinstance(fingerprint, str)
    assert requester_fingerprints(validate_spec(raw), policy, fingerprint) == [fingerprint]
    tampered = {**raw, "criteria": {"min_requests": 1}}
    assert isinstance(verify_spec_signature(tampered, validate_spec(tampered), policy), Refused)
    unsigned = spec()
    assert isinstance(verify_spec_signature(unsigned, validate_spec(unsigned), policy), Refused)
    assert verify_spec_signature(unsigned, validate_spec(unsigned), governing(cast, allow_unsigned=True)) is None


def test_badly_signed_abort_still_stops_unless_the_policy_requires_signed_operations(cast: Cast) -> None:
    forged = {"by": "sre", "reason": "harm", "expires": EXPIRES, "signature": "junk"}
    context = SignalContext(**{**governed(cast).__dict__, "phase": Phase.CANARY})
    outcome = assess("abort", forged, context)
    assert isinstance(outcome, Accepted) and outcome.verified is False
    strict = SignalContext(**{**governed(cast, signed_operations=True).__dict__, "phase": Phase.CANARY})
    refused = assess("abort", forged, strict)
    assert isinstance(refused, Rejected) and refused.reason.startswith("signature:")
    assert isinstance(assess("abort", {"by": "sre", "reason": "harm"}, strict), Rejected)
    signed_abort = signed(cast.bob, "abort", reason="harm")
    accepted = assess("abort", signed_abort, strict)
    assert isinstance(accepted, Accepted) and accepted.verified is True


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    name=st.sampled_from(["approve", "reject", "promote", "abort", "pause", "resume"]),
    signature=st.one_of(st.none(), st.text(max_size=300), st.binary(max_size=200).map(lambda b: b.hex())),
    expires=st.one_of(st.none(), st.text(max_size=40), st.just(EXPIRES)),
)
def test_assess_under_a_policy_never_raises(
    cast: Cast, name: SignalName, signature: str | None, expires: str | None
) -> None:
    payload: dict[str, Any] = {"approver" if name in {"approve", "reject", "promote"} else "by": "bob@example.com"}
    if name in {"reject", "promote", "abort"}:
        payload["reason"] = "r"
    payload |= {"signature": signature, "expires": expires}
    outcome = assess(name, payload, governed(cast))
    assert isinstance(outcome, Accepted | Rejected)
    if name in {"approve", "reject", "promote"}:
        assert isinstance(outcome, Rejected), "no junk signature counts as a decision"
