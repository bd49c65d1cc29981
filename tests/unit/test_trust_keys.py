"""The trust boundary's keys: one person is one key, weak keys and hashes are refused, revoked keys do not count.

Real keys from ssh-keygen; a signature with a weak hash, which ssh-keygen will not make, is built by hand from a
real one with ``cryptography``.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import load_ssh_private_key
from pydantic import ValidationError
from sshsig import check_signature
from sshsig.binary_io import SshWriter
from sshsig.sshsig import SshsigSignature, SshsigWrapper

import workflows.signatures
from models.phases import Phase
from models.policy import GoverningPolicy, PolicyError, PolicyFile, Signer, is_revoked, parse_signers, resolve
from tests.signing import Person, make_person
from workflows.approvals import Accepted, Rejected, SignalContext, assess, audited
from workflows.signatures import Binding, Refused, decision_message, read_envelope, verify_signed

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
EXPIRES = "2026-11-30T13:00:00Z"
BINDING = Binding(workflow_id="rollout-a", run_id="run-1", decision="approve", step=1, criteria_sha256="c" * 64)
MESSAGE = decision_message(BINDING, principal="carol", text=None, expires=EXPIRES)


@dataclass(frozen=True)
class Cast:
    """A requester, three approvers, someone unlisted, and an RSA-2048 key that is too short."""

    alice: Person
    bob: Person
    carol: Person
    erin: Person
    mallory: Person
    short_rsa: Person


@pytest.fixture(scope="module")
def cast(tmp_path_factory: pytest.TempPathFactory) -> Cast:
    directory = tmp_path_factory.mktemp("keys")
    return Cast(
        alice=make_person(directory, "alice"),
        bob=make_person(directory, "bob"),
        carol=make_person(directory, "carol"),
        erin=make_person(directory, "erin"),
        mallory=make_person(directory, "mallory"),
        short_rsa=make_person(directory, "rita", kind="rsa", bits=2048),
    )


def load(signers: list[str], service: dict[str, Any] | None = None, **top: Any) -> GoverningPolicy:
    document = {
        "allowed_signers": signers,
        "groups": {"leads": ["carol", "erin"]},
        "services": {"x": service if service is not None else {"approvers": ["carol", "erin"], "quorum": 2}},
        **top,
    }
    found = resolve(json.dumps(document).encode(), source="p.json", service="x")
    assert found is not None
    return found


def fingerprint(person: Person) -> str:
    (signer,) = parse_signers([person.allowed()])
    return signer.fingerprint


# ---------------------------------------------------------------- a person is a key (policy load)


def test_one_line_listing_a_key_for_two_approvers_is_refused(cast: Cast) -> None:
    with pytest.raises(PolicyError) as refused:
        load([cast.alice.allowed(), cast.carol.allowed(principals="carol,erin")])
    message = str(refused.value)
    assert message.startswith(f"allowed_signers[1]: one key ({fingerprint(cast.carol)}) is listed for carol and erin")
    assert "who may both approve services.x: one person, one name" in message


def test_the_same_key_on_two_lines_is_refused_naming_both_lines(cast: Cast) -> None:
    lines = [cast.carol.allowed(), cast.bob.allowed(), cast.carol.allowed(principals="erin")]
    with pytest.raises(PolicyError, match=r"^allowed_signers\[0\], allowed_signers\[2\]: one key .* carol and erin"):
        load(lines)


@pytest.mark.parametrize(
    ("service", "scope"),
    [
        ({"approvers": ["@leads"]}, "services.x"),
        ({"approvers": ["carol"], "overriders": ["erin"]}, "services.x"),
        ({"approvers": ["*"], "allow_unsigned": True}, "services.x"),
    ],
    ids=["group", "overrider", "anyone"],
)
def test_who_may_approve_counts_groups_overriders_and_anyone(cast: Cast, service: dict[str, Any], scope: str) -> None:
    with pytest.raises(PolicyError, match=f"who may both approve {scope}"):
        load([cast.carol.allowed(principals="carol,erin")], service)


def test_the_default_entry_is_checked_too(cast: Cast) -> None:
    with pytest.raises(PolicyError, match="who may both approve default"):
        load([cast.carol.allowed(principals="carol,erin")], {"approvers": ["bob"]}, default={"approvers": ["@leads"]})


def test_a_shared_key_is_fine_when_at_most_one_of_its_names_may_approve(cast: Cast) -> None:
    # alice requests, carol approves: one of the two names cannot approve, so the key counts once at most.
    policy = load([cast.carol.allowed(principals="alice,carol")], {"approvers": ["carol"]})
    assert [s.principal for s in policy.signers] == ["alice", "carol"]
    # A key listed for git only never signs here.
    load([f'carol,erin namespaces="git" {cast.carol.public}', cast.carol.allowed(), cast.erin.allowed()])


# ---------------------------------------------------------------- a person is a key (quorum)


def context(policy: GoverningPolicy, approved_keys: frozenset[str] = frozenset()) -> SignalContext:
    return SignalContext(
        phase=Phase.AWAITING_APPROVAL,
        requested_by="alice",
        approvers=frozenset({"carol", "erin"}),
        approved_by=frozenset({"carol"}),
        governed=True,
        policy=policy,
        workflow_id=BINDING.workflow_id,
        run_id=BINDING.run_id,
        criteria_sha256=BINDING.criteria_sha256,
        step=1,
        now=NOW,
        approved_keys=approved_keys,
    )


def test_a_key_that_already_counted_cannot_approve_again_under_another_name(cast: Cast) -> None:
    # A policy recorded before the load-time check: carol's key also listed for erin.
    policy = load([cast.carol.allowed(), cast.erin.allowed()])
    twice = policy.model_copy(
        update={
            "signers": [
                *policy.signers,
                Signer(principal="erin", key=cast.carol.public, fingerprint=fingerprint(cast.carol)),
            ]
        }
    )
    as_erin = Person("erin", cast.carol.key)
    payload = {
        "approver": "erin",
        "expires": EXPIRES,
        "signature": as_erin.sign(decision_message(BINDING, principal="erin", text=None, expires=EXPIRES)),
    }
    assert isinstance(assess("approve", payload, context(twice)), Accepted), "the test's signature is good"
    outcome = assess("approve", payload, context(twice, frozenset({fingerprint(cast.carol)})))
    assert isinstance(outcome, Rejected)
    assert outcome.reason.startswith(f"duplicate: the key {fingerprint(cast.carol)} already approved this step")
    assert outcome.by == "erin" and audited(outcome), "recorded even when sent as an update"
    assert not audited(Rejected("duplicate: 'carol' already approved this step")), "a repeat by name is not"


def test_erin_with_her_own_key_still_counts(cast: Cast) -> None:
    policy = load([cast.carol.allowed(), cast.erin.allowed()])
    payload = {
        "approver": "erin",
        "expires": EXPIRES,
        "signature": cast.erin.sign(decision_message(BINDING, principal="erin", text=None, expires=EXPIRES)),
    }
    outcome = assess("approve", payload, context(policy, frozenset({fingerprint(cast.carol)})))
    assert isinstance(outcome, Accepted) and outcome.fingerprint == fingerprint(cast.erin)


# ---------------------------------------------------------------- keys and costs


def test_short_rsa_key_is_refused_at_load_naming_the_line(cast: Cast) -> None:
    with pytest.raises(PolicyError, match=r"^allowed_signers\[1\]: RSA key of 2048 bits; at least 3072"):
        load([cast.carol.allowed(), cast.short_rsa.allowed()])


def test_short_rsa_signature_is_refused_even_under_an_older_policy(cast: Cast) -> None:
    policy = load([cast.carol.allowed()])
    old = policy.model_copy(
        update={"signers": [Signer(principal="rita", key=cast.short_rsa.public, fingerprint="SHA256:x")]}
    )
    verdict = verify_signed(MESSAGE, cast.short_rsa.sign(MESSAGE), principal="rita", policy=old)
    assert isinstance(verdict, Refused) and "RSA key of 2048 bits" in verdict.reason


def test_rsa_of_3072_bits_and_more_is_accepted(tmp_path: Any) -> None:
    rita = make_person(tmp_path, "rita", kind="rsa", bits=3072)
    policy = load([rita.allowed()], {"approvers": ["rita"]})
    message = decision_message(BINDING, principal="rita", text=None, expires=EXPIRES)
    assert not isinstance(verify_signed(message, rita.sign(message), principal="rita", policy=policy), Refused)


def weak_hash_signature(person: Person, message: bytes, algorithm: str) -> str:
    """A well-formed SSHSIG by ``person`` whose hash is ``algorithm``: ssh-keygen offers only sha256 and sha512."""
    blob = SshsigSignature.from_armored(person.sign(message))
    private = load_ssh_private_key(person.key.read_bytes(), password=None)
    assert isinstance(private, ed25519.Ed25519PrivateKey)
    wrapped = SshsigWrapper(
        namespace=b"durable-rollouts", hash_algo=algorithm.encode(), hash=hashlib.new(algorithm, message).digest()
    )
    out = SshWriter(io.BytesIO())
    out.write_string(b"ssh-ed25519")
    out.write_string(private.sign(bytes(wrapped)))
    blob.hash_algo, blob.signature = algorithm.encode(), out.output_fh.getvalue()
    return blob.to_armored()


@pytest.mark.parametrize("algorithm", ["md5", "sha1"])
def test_weak_hash_signature_is_refused(cast: Cast, algorithm: str) -> None:
    forged = weak_hash_signature(cast.carol, MESSAGE, algorithm)
    check_signature(MESSAGE, forged, namespace="durable-rollouts")  # the library alone would accept it
    verdict = verify_signed(MESSAGE, forged, principal="carol", policy=load([cast.carol.allowed()]))
    assert isinstance(verdict, Refused)
    assert verdict.reason == f"signature: hash algorithm '{algorithm}' is not accepted (sha256 or sha512)"


def test_unknown_key_is_refused_without_verifying(cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def counting(message: bytes, signature: str, namespace: str) -> Any:
        calls.append(message)
        return check_signature(message, signature, namespace=namespace)

    monkeypatch.setattr(workflows.signatures, "check_signature", counting)
    policy = load([cast.carol.allowed(), cast.erin.allowed()])
    verdict = verify_signed(MESSAGE, cast.mallory.sign(MESSAGE), principal="carol", policy=policy)
    assert isinstance(verdict, Refused) and "not in the allowed_signers" in verdict.reason
    assert calls == []
    claims = verify_signed(MESSAGE, cast.erin.sign(MESSAGE), principal="carol", policy=policy)
    assert isinstance(claims, Refused) and "listed for erin" in claims.reason and calls == []
    good = verify_signed(MESSAGE, cast.carol.sign(MESSAGE), principal="carol", policy=policy)
    assert not isinstance(good, Refused) and calls == [MESSAGE]


def test_envelope_names_key_and_hash_without_the_message(cast: Cast) -> None:
    envelope = read_envelope(cast.carol.sign(b"anything"))
    assert not isinstance(envelope, Refused)
    assert (envelope.key, envelope.fingerprint, envelope.hash_algorithm) == (
        cast.carol.public,
        fingerprint(cast.carol),
        "sha512",
    )


# ---------------------------------------------------------------- revoked keys


def test_revoked_key_is_left_out_and_kept_for_later_checks(cast: Cast) -> None:
    gone = fingerprint(cast.erin)
    policy = load([cast.carol.allowed(), cast.erin.allowed()], revoked=[gone])
    assert [s.principal for s in policy.signers] == ["carol"]
    assert policy.revoked == [gone]
    assert is_revoked(gone, policy) and not is_revoked(fingerprint(cast.carol), policy)
    verdict = verify_signed(MESSAGE, cast.erin.sign(MESSAGE), principal="erin", policy=policy)
    assert isinstance(verdict, Refused) and "not in the allowed_signers" in verdict.reason


def test_a_revoked_shared_key_no_longer_makes_one_person_two(cast: Cast) -> None:
    line = cast.carol.allowed(principals="carol,erin")
    policy = load([line, cast.erin.allowed()], revoked=[fingerprint(cast.carol)])
    assert [s.principal for s in policy.signers] == ["erin"]


@pytest.mark.parametrize("bad", ["SHA256:short", "MD5:aa:bb", "ssh-ed25519 AAAA", "SHA256:" + "A" * 43 + "="])
def test_revoked_entries_must_be_fingerprints(bad: str) -> None:
    with pytest.raises(PolicyError, match=r"revoked\.0"):
        resolve(json.dumps({"revoked": [bad], "default": {}}).encode(), source="p", service="x")


def test_states_recorded_before_revocations_still_validate(cast: Cast) -> None:
    dumped = load([cast.carol.allowed()]).model_dump(mode="json")
    del dumped["revoked"]
    assert GoverningPolicy.model_validate(dumped).revoked == []


def test_revoked_list_is_bounded() -> None:
    with pytest.raises(ValidationError, match="revoked"):
        PolicyFile.model_validate({"revoked": ["SHA256:" + "A" * 43] * 1001})
