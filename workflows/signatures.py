"""Signed decisions: the canonical messages people sign with ``ssh-keygen -Y sign``, and their verification.

Pure and deterministic (``sshsig`` over ``cryptography``, no subprocess, no clock: the caller passes ``now``), so
the update validator and the signal handler reach the same verdict on every worker and on every replay.

A decision's message binds it to one rollout (workflow id and the first run's id), one decision and step, the
pre-registered criteria (their SHA-256), the principal, the text (comment or reason) and an expiry: replayed on
another rollout, another step, another run, after its expiry or with changed text, it no longer verifies.

Verifying costs: an RSA-16384 signature takes tens of milliseconds, and anyone may send one. So the blob is read
first (``read_envelope``: its key, namespace and hash algorithm, no cryptography) and refused when its hash is
weak, its RSA key too short or its key not listed in the policy; only a listed key's signature is verified.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime

from sshsig import InvalidSignature, PublicKey, check_signature
from sshsig.sshsig import SshsigSignature

from models.limits import MAX_SIGNATURE_CHARS
from models.policy import MIN_RSA_BITS, SIGNATURE_NAMESPACE, GoverningPolicy, rsa_bits

ACCEPTED_HASHES = ("sha256", "sha512")
"""The SSHSIG hash algorithms ssh-keygen offers; the blob names its own, and MD5 or SHA-1 would let a collision
stand in for a decision that was never signed."""

DECISION_HEADER = "durable-rollouts decision v1"
SPEC_HEADER = "durable-rollouts spec v1"


@dataclass(frozen=True)
class Binding:
    """What a decision is about: the rollout as it is when the decision arrives."""

    workflow_id: str
    run_id: str
    decision: str
    step: int | None
    """1-based step for approve, reject and promote; None for operations that are about the whole rollout."""
    criteria_sha256: str


def decision_message(binding: Binding, *, principal: str, text: str | None, expires: str) -> bytes:
    """The exact bytes a person signs for one decision; the CLI and the workflow both build them here."""
    lines = [
        DECISION_HEADER,
        f"workflow: {binding.workflow_id}",
        f"run: {binding.run_id}",
        f"decision: {binding.decision}",
        f"step: {'-' if binding.step is None else binding.step}",
        f"criteria-sha256: {binding.criteria_sha256}",
        f"principal: {principal}",
        f"expires: {expires}",
        f"text: {json.dumps(text or '', ensure_ascii=False)}",
    ]
    return ("\n".join(lines) + "\n").encode()


def canonical_spec(raw: object) -> bytes:
    """The bytes a requester signs for a spec: its JSON without ``signature``, keys sorted, no spaces."""
    document = json.loads(raw) if isinstance(raw, str | bytes) else raw
    if not isinstance(document, dict):
        raise ValueError("a spec is a JSON object")
    body = {k: v for k, v in document.items() if k != "signature"}
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{SPEC_HEADER}\n{text}\n".encode()


def parse_expiry(expires: str) -> datetime:
    """An ISO 8601 instant with its offset; a naive time would mean different things on different machines."""
    at = datetime.fromisoformat(expires.replace("Z", "+00:00"))
    if at.tzinfo is None:
        raise ValueError("expires must carry a time zone, e.g. 2026-01-31T12:00:00Z")
    return at


@dataclass(frozen=True)
class Verified:
    """The signature is good and its key is listed for the principal."""

    principal: str
    fingerprint: str
    key: str = ""
    """The OpenSSH public key, 'type base64': what an allowed_signers line for the record needs."""


@dataclass(frozen=True)
class Refused:
    """Why a signature does not count, in words for the sender and the record."""

    reason: str


@dataclass(frozen=True)
class Envelope:
    """What a signature blob says about itself, read without verifying it: the claimed key and hash."""

    key: str
    """The OpenSSH public key, 'type base64', as ``Signer.key`` holds it."""
    fingerprint: str
    hash_algorithm: str


def read_envelope(signature: str) -> Envelope | Refused:
    """The key, namespace and hash algorithm of an armored SSHSIG signature, or why it cannot count.

    Cheap (base64 and length-prefixed fields, no cryptography), so that a refusal costs little whatever is sent.
    """
    if len(signature) > MAX_SIGNATURE_CHARS:
        return Refused(f"signature: longer than {MAX_SIGNATURE_CHARS} characters")
    try:
        blob = SshsigSignature.from_armored(signature)
        key = PublicKey.from_ssh_encoding(blob.public_key)
        namespace = blob.namespace.decode("ascii")
        algorithm = blob.hash_algo.decode("ascii")
    except Exception as exc:  # a malformed blob must never fail the workflow task
        return Refused(f"signature: malformed; paste the whole ssh-keygen -Y sign output ({type(exc).__name__})")
    if namespace != SIGNATURE_NAMESPACE:
        return Refused(f"signature: made for namespace {namespace[:40]!r}, not {SIGNATURE_NAMESPACE!r} (-n)")
    if algorithm not in ACCEPTED_HASHES:
        return Refused(f"signature: hash algorithm {algorithm[:20]!r} is not accepted ({' or '.join(ACCEPTED_HASHES)})")
    bits = rsa_bits(key)
    if bits is not None and bits < MIN_RSA_BITS:
        return Refused(f"signature: RSA key of {bits} bits; at least {MIN_RSA_BITS} are needed (use an ed25519 key)")
    return Envelope(key=key.openssh_str(), fingerprint=key.sha256_str(), hash_algorithm=algorithm)


def signing_key(message: bytes, signature: str) -> str | Refused:
    """The OpenSSH key that made ``signature`` over ``message`` in our namespace, or why not."""
    envelope = read_envelope(signature)
    if isinstance(envelope, Refused):
        return envelope
    return _checked(message, signature, envelope)


def _checked(message: bytes, signature: str, envelope: Envelope) -> str | Refused:
    """The expensive part: the signature's cryptography over ``message``."""
    try:
        key = check_signature(message, signature, namespace=SIGNATURE_NAMESPACE)
    except (InvalidSignature, ValueError, NotImplementedError, UnicodeError) as exc:
        return Refused(f"signature: does not verify over this rollout's message ({exc or type(exc).__name__})")
    except Exception as exc:  # a malformed blob must never fail the workflow task
        return Refused(f"signature: malformed ({type(exc).__name__})")
    if key.openssh_str() != envelope.key:  # the same blob, parsed twice: never differs
        return Refused("signature: the key verified is not the key the signature names")
    return envelope.key


def verify_signed(message: bytes, signature: str, *, principal: str, policy: GoverningPolicy) -> Verified | Refused:
    """Check that the policy lists the signature's key for ``principal``, then the signature over ``message``.

    The key is looked up before any cryptography: a key the policy does not list is refused at the cost of a
    parse, whatever its size.
    """
    envelope = read_envelope(signature)
    if isinstance(envelope, Refused):
        return envelope
    listed = [s for s in policy.signers if s.key == envelope.key]
    if not listed:
        return Refused(f"signature: key is not in the allowed_signers of policy {policy.sha256[:12]}")
    match = next((s for s in listed if s.principal == principal), None)
    if match is None:
        owners = ", ".join(sorted({s.principal for s in listed}))
        return Refused(f"signature: the key is listed for {owners}, not for {principal!r}")
    verified = _checked(message, signature, envelope)
    if isinstance(verified, Refused):
        return verified
    return Verified(principal=principal, fingerprint=match.fingerprint, key=match.key)


def check_expiry(expires: str, now: datetime, policy: GoverningPolicy) -> Refused | None:
    """A signed decision is good until its expiry, which may be at most the policy's validity from ``now``."""
    try:
        at = parse_expiry(expires)
    except ValueError as exc:
        return Refused(f"expires: {exc}")
    if at <= now:
        return Refused(f"expires: the signature expired at {expires}")
    if at - now > policy.policy.max_signature_validity:
        return Refused(
            f"expires: {expires} is further than the policy's max_signature_validity "
            f"({policy.policy.max_signature_validity}) from now"
        )
    return None


def allowed_signer_line(principal: str, key: str) -> str:
    """The signer's line in allowed_signers form, so ``ssh-keygen -Y verify -f`` can check a kept signature."""
    return f'{principal} namespaces="{SIGNATURE_NAMESPACE}" {key}'
