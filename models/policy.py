"""Service policies: who may decide what about a service's rollouts, owned by operators, not by requesters.

A policy file is JSON (schema: ``docs/policy.schema.json``) that the worker reads from the path in its settings,
as an operator mounts it (a ConfigMap, a checkout of a config repository). It lists people's SSH public keys in
git's ``allowed_signers`` format and, per service (or a ``default``), who may approve, abort or override, the
quorum, and the floor a spec may not go below. A rollout reads it once, at start, and keeps the part that governs
it (``GoverningPolicy``) with the file's SHA-256 in its state and record: a later edit of the file changes no
running rollout, and the record shows exactly which policy governed it.

``resolve`` is pure (bytes in, model out) so the loader activity and the tests share it. Errors: ``PolicyError``
(a ``ValueError``) names the bad field or line.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sshsig import PublicKey
from sshsig.allowed_signers import AllowedSigner

from models.criteria import Criteria, RollbackTriggers
from models.durations import Duration
from models.schema import document_schema

SIGNATURE_NAMESPACE = "durable-rollouts"
"""The ``ssh-keygen -Y sign -n`` namespace: a signature made for git or for another tool never counts here."""

ANYONE = "*"
"""In ``operators`` or ``approvers``: any name (a lab policy); never widens who may sign."""

MAX_POLICY_BYTES = 256 * 1024
MAX_SIGNERS = 200
MAX_SIGNER_LINE = 2048
"""An RSA-4096 key line is about 750 characters; ed25519 about 100."""
MAX_NAMES = 100
MAX_GROUPS = 50
MAX_SERVICES = 500
MAX_REVOKED = 200
DEFAULT_MAX_PAUSE = timedelta(hours=24)
"""How long a pause may last without a policy saying otherwise: a day, then the rollout rolls back."""

Principal = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s,\"]+$")]
"""A person's name as the allowed_signers file lists it (an email address is usual); ``@group`` for a group."""


class PolicyError(ValueError):
    """The policy file cannot govern anything: unreadable, not JSON, or a field or key line is wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class ServicePolicy(_Model):
    """What governs one service's rollouts; every default is the strict choice."""

    approvers: list[Principal] = Field(
        default_factory=list,
        max_length=MAX_NAMES,
        description="Principals (or @groups) whose approval, rejection and override may count; a spec's "
        'approvers must be among them. "*" lets the spec name anyone (labs only, with allow_unsigned).',
    )
    quorum: int = Field(default=1, ge=1, le=MAX_NAMES, description="Fewest distinct approvers a spec may ask for.")
    overriders: list[Principal] | None = Field(
        default=None,
        max_length=MAX_NAMES,
        description="Who may promote a held step without passing evidence; null: the spec's approvers.",
    )
    operators: list[Principal] = Field(
        default_factory=lambda: [ANYONE],
        max_length=MAX_NAMES,
        description='Who may abort, pause and resume. Default "*": stopping harm must stay fast.',
    )
    signed_operations: bool = Field(
        default=False, description="Abort, pause and resume must be signed too (decisions always are)."
    )
    requester_may_approve: bool = Field(
        default=False, description="Whether the requester's own approval may count (never, by default)."
    )
    allow_unsigned: bool = Field(
        default=False,
        description="Count unsigned approvals and unsigned specs, each marked unverified in the record (a lab, "
        "a demo). A signature that is present is still verified.",
    )
    max_signature_validity: Duration = Field(
        default=timedelta(hours=24), description="Longest a signed decision may stay valid (its expiry from now)."
    )
    criteria: Criteria | None = Field(
        default=None, description="Loosest criteria a spec may set: each limit may only be stricter."
    )
    rollback_triggers: RollbackTriggers | None = Field(
        default=None, description="Loosest rollback triggers a spec may set: each may only be stricter."
    )
    min_observation: Duration | None = Field(
        default=None, description="Shortest total observation (the steps' observe times added up) a spec may have."
    )
    max_pause: Duration = Field(
        default=DEFAULT_MAX_PAUSE,
        description="Longest a rollout may stay paused (a pause keeps the service's lease and its traffic split); "
        "then on_max_pause applies. A spec cannot change it.",
    )
    on_max_pause: Literal["rollback", "hold"] = Field(
        default="rollback",
        description='What a pause that lasts max_pause does: "rollback" puts stable back at 100%; "hold" ends '
        "the pause and holds the step for a person (an alert in the timeline), as an inconclusive step is held, "
        "rolling back after the spec's on_inconclusive.hold_max.",
    )


class PolicyFile(_Model):
    """One policy file: the people's keys, groups of them, and a policy per service."""

    allowed_signers: list[Annotated[str, Field(max_length=MAX_SIGNER_LINE)]] = Field(
        default_factory=list,
        max_length=MAX_SIGNERS,
        description='Lines in git\'s allowed_signers format: principals, optional namespaces="durable-rollouts", '
        "key type, base64 key, comment.",
    )
    groups: dict[Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,63}$")], list[Principal]] = Field(
        default_factory=dict, max_length=MAX_GROUPS, description="Named groups of principals, used as @name."
    )
    services: dict[Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")], ServicePolicy] = Field(
        default_factory=dict, max_length=MAX_SERVICES, description="Policy per service name."
    )
    default: ServicePolicy | None = Field(default=None, description="Policy of a service not listed; null: none.")
    revoked: list[str] = Field(
        default_factory=list,
        max_length=MAX_REVOKED,
        description="Fingerprints (SHA256:... as ssh-keygen -l prints them) of keys that no longer count. Running "
        "rollouts re-read this list before acting on a decision and drop every approval signed by one of them.",
    )

    @model_validator(mode="after")
    def _groups_known(self) -> PolicyFile:
        policies = [("default", self.default), *((f"services.{k}", v) for k, v in self.services.items())]
        for where, policy in policies:
            if policy is None:
                continue
            for field in ("approvers", "overriders", "operators"):
                for name in getattr(policy, field) or ():
                    if name.startswith("@") and name[1:] not in self.groups:
                        raise ValueError(f"{where}.{field}: group {name!r} is not defined in groups")
        return self


class Signer(_Model):
    """One allowed_signers entry that may sign for this service: a principal and its key."""

    principal: str
    key: str = Field(description="The OpenSSH public key, 'type base64'.")
    fingerprint: str = Field(description="SHA256:... as ssh-keygen -l prints it.")


class GoverningPolicy(_Model):
    """The part of a policy file that governs one rollout, resolved (groups expanded), kept in its state."""

    source: str = Field(description="The file the worker read.")
    sha256: str = Field(description="SHA-256 of the file's bytes, as read.")
    service: str
    scope: str = Field(description="Which entry governs: services.<name> or default.")
    policy: ServicePolicy
    signers: list[Signer]
    revoked: list[str] = Field(
        default_factory=list,
        max_length=MAX_REVOKED,
        description="Fingerprints of revoked keys, as the policy file lists them.",
    )


def _expand(names: list[str] | None, groups: dict[str, list[str]]) -> list[str] | None:
    if names is None:
        return None
    out: list[str] = []
    for name in names:
        for member in groups[name[1:]] if name.startswith("@") else [name]:
            if member not in out:
                out.append(member)
    return out


def parse_signers(lines: list[str]) -> list[Signer]:
    """The allowed_signers lines that may sign our namespace, one ``Signer`` per principal and key.

    Options other than ``namespaces`` (certificate authorities, validity windows) are refused, not ignored:
    a policy must never mean less than it says.
    """
    signers: list[Signer] = []
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            entry = AllowedSigner.parse(text)
            options = entry.options or {}
            unsupported = sorted(set(options) - {"namespaces"})
            if unsupported:
                raise ValueError(f"option {', '.join(unsupported)} is not supported")
            namespaces = options.get("namespaces")
            key = PublicKey.from_openssh_str(f"{entry.key_type} {entry.base64_key}")
        except (ValueError, NotImplementedError) as exc:
            raise PolicyError(f"allowed_signers[{number - 1}]: {exc}") from None
        if namespaces is not None and SIGNATURE_NAMESPACE not in namespaces.split(","):
            continue
        for principal in entry.principals.split(","):
            signers.append(Signer(principal=principal, key=key.openssh_str(), fingerprint=key.sha256_str()))
    return signers


def resolve(raw: bytes, *, source: str, service: str) -> GoverningPolicy | None:
    """The policy governing ``service`` in the file ``raw``; None when neither it nor a default is listed."""
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(f"{source}: {len(raw):,} bytes, more than the {MAX_POLICY_BYTES:,} a policy may have")
    try:
        document = PolicyFile.model_validate(json.loads(raw))
    except json.JSONDecodeError as exc:
        raise PolicyError(f"{source}: not JSON: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()[:20])
        raise PolicyError(f"{source}: {problems}") from None
    signers = parse_signers(document.allowed_signers)
    if service in document.services:
        scope, policy = f"services.{service}", document.services[service]
    elif document.default is not None:
        scope, policy = "default", document.default
    else:
        return None
    groups = document.groups
    resolved = policy.model_copy(
        update={
            "approvers": _expand(policy.approvers, groups),
            "overriders": _expand(policy.overriders, groups),
            "operators": _expand(policy.operators, groups),
        }
    )
    return GoverningPolicy(
        source=source,
        sha256=hashlib.sha256(raw).hexdigest(),
        service=service,
        scope=scope,
        policy=resolved,
        signers=signers,
        revoked=list(document.revoked),
    )


class PolicyRequest(_Model):
    """Input of ``load_policy``: the service whose policy governs the rollout."""

    service: str


class LoadedPolicy(_Model):
    """Output of ``load_policy``: the governing policy, or None with why (no path configured, no entry)."""

    policy: GoverningPolicy | None = None
    note: str = ""


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file (``docs/policy.schema.json``)."""
    return document_schema(PolicyFile, "Service policy (durable-rollouts)")


if __name__ == "__main__":
    print(json.dumps(policy_schema(), indent=2, sort_keys=True))
