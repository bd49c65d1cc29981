"""Service policies: who may decide what about a service's rollouts, owned by operators, not by requesters.

A policy file is JSON (schema: ``docs/policy.schema.json``) that the worker reads from the path in its settings,
as an operator mounts it (a ConfigMap, a checkout of a config repository). It lists people's SSH public keys in
git's ``allowed_signers`` format and, per service (or a ``default``), who may approve, abort or override, the
quorum, and the floor a spec may not go below. A rollout reads it once, at start, and keeps the part that governs
it (``GoverningPolicy``) with the file's SHA-256 in its state and record: a later edit of the file changes no
running rollout, and the record shows exactly which policy governed it.

``resolve`` is pure (bytes in, model out) so the loader activity and the tests share it. Errors: ``PolicyError``
(a ``ValueError``) names the bad field or line.

A person is a key: one key listed for two principals who may both approve would let one person count twice
towards a quorum, so ``resolve`` refuses it; RSA keys shorter than ``MIN_RSA_BITS`` are refused as too weak to
stand for a person; keys in ``revoked`` are left out of the signers (and kept in ``GoverningPolicy.revoked``, so
a running rollout can check a key against a newer policy's revocations with ``is_revoked``).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sshsig import PublicKey
from sshsig.allowed_signers import AllowedSigner

from models.criteria import MAX_RATIO, Criteria, RollbackTriggers
from models.drill import DrillPolicy
from models.durations import Duration
from models.notifications import MAX_WEBHOOKS, Webhook
from models.schema import document_schema
from models.spec import AnalysisFailurePolicy, InconclusivePolicy, RouterSpec
from models.targets import MAX_TARGETS, Target, TargetName, for_service
from models.windows import ALL_TARGETS, DeployWindows

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
MAX_REVOKED = 1000
"""Revoked keys accumulate over years (every lost laptop); a thousand is far beyond a team's history."""
MIN_RSA_BITS = 3072
"""Shortest RSA modulus accepted: NIST SP 800-57 rates 2048 bits good only until 2030; 3072 for beyond."""

Fingerprint = Annotated[str, Field(pattern=r"^SHA256:[A-Za-z0-9+/]{43}$")]
"""A key's SHA-256 fingerprint as ``ssh-keygen -l`` prints it (unpadded base64 of the digest)."""
DEFAULT_MAX_PAUSE = timedelta(hours=24)
"""How long a pause may last without a policy saying otherwise: a day, then the rollout rolls back."""

Principal = Annotated[str, Field(min_length=1, max_length=200, pattern=r"^[^\s,\"]+$")]
"""A person's name as the allowed_signers file lists it (an email address is usual); ``@group`` for a group."""


class PolicyError(ValueError):
    """The policy file cannot govern anything: unreadable, not JSON, or a field or key line is wrong."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class RequiredApprovals(_Model):
    """Approvals the policy requires whatever the spec says: a spec that asks for fewer fails at start."""

    before_promotion: bool = Field(
        default=True, description="The last step waits for the quorum before the candidate goes to 100%."
    )
    from_weight: float | None = Field(
        default=None,
        gt=0,
        lt=100,
        description="Every step at or above this candidate weight (percent) waits for the quorum too; null: none.",
    )


MAX_RECOVERY_WATCH = timedelta(hours=1)
"""Longest recovery watch: the service's lease is held meanwhile, so the next rollout waits for it."""


class RecoveryPolicy(_Model):
    """After a rollback: how long to watch stable, and how close to its pre-rollout baseline it must come.

    The rule (docs/rollouts.md, "Verified recovery") is one-sided: stable recovered when, over the traffic it
    served since it was back at 100%, its error rate is at most ``baseline x error_rate_ratio +
    error_rate_margin`` and its p95 at most ``baseline x latency_p95_ratio``, on at least ``min_requests``.
    """

    watch: Duration = Field(
        default=timedelta(minutes=5),
        description="How long stable is watched after the rollback (at most 1h; the lease is held meanwhile). "
        "It ends early at the first reading that meets the rule.",
    )
    error_rate_ratio: float = Field(
        default=1.5, ge=1, le=10, description="Stable's error rate may be this many times its baseline."
    )
    error_rate_margin: float = Field(
        default=0.002,
        ge=0,
        le=0.1,
        description="Absolute slack on the error rate (0.002 = 0.2 points), so a near-zero baseline is reachable.",
    )
    latency_p95_ratio: float = Field(
        default=1.2, ge=1, le=10, description="Stable's p95 latency may be this many times its baseline."
    )
    min_requests: int = Field(
        default=100, ge=1, le=10_000_000, description="Fewest requests stable must serve before a verdict."
    )

    @model_validator(mode="after")
    def _bounded_watch(self) -> RecoveryPolicy:
        if self.watch > MAX_RECOVERY_WATCH or self.watch <= timedelta(0):
            raise ValueError("watch: between 1s and 1h")
        return self


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
    min_weighted_observation: Duration | None = Field(
        default=None,
        description="Shortest observation weighted by exposure: each step's observe time times its weight over "
        "the largest step's weight, added up (4h at 1% then 24h at 50% counts 24h05m). Front-loading (59m at 1%, "
        "1m at 99%) cannot meet it.",
    )
    max_analysis_interval: Duration | None = Field(
        default=None, description="Longest time between analyses a spec may set; null: any."
    )
    accept_untestable: list[Literal["latency_p95", "quality"]] | None = Field(
        default=None,
        max_length=2,
        description="Criteria a spec may accept as untestable; a spec may list only these. Null: any.",
    )
    accept_untestable_ratio_max: float | None = Field(
        default=None,
        gt=1.0,
        le=MAX_RATIO,
        exclude_if=lambda value: value is None,  # absent from older policies' JSON and the states that keep them
        description="Largest accept_untestable_ratio_max a spec may set (its default included). Null: any.",
    )
    analysis_failures: AnalysisFailurePolicy | None = Field(
        default=None,
        description="Loosest handling of unreadable metrics: a spec may allow no more failures in a row, and "
        "must roll back where this says rollback. Null: any.",
    )
    on_inconclusive: InconclusivePolicy | None = Field(
        default=None,
        description="Loosest handling of inconclusive evidence: no more extensions, no longer hold, and rollback "
        "where this says rollback. Null: any.",
    )
    min_shadow_agreement: float | None = Field(
        default=None, gt=0, le=1, description="Lowest shadow.min_agreement a spec may set; null: any."
    )
    max_preflight_tolerance: float | None = Field(
        default=None, ge=0, description="Largest preflight.tolerance a spec may set; null: any."
    )
    require_approvals: RequiredApprovals | None = Field(
        default=None,
        description="Approvals every rollout of the service needs (at quorum), whatever its spec asks; null: "
        "only those the spec asks for.",
    )
    targets: dict[TargetName, Target] = Field(
        default_factory=dict,
        max_length=MAX_TARGETS,
        description="The service's targets by name (staging, production...): router, metrics, URL prefixes and "
        "replay files. A spec names one; {service} in any string becomes the service name.",
    )
    allow_inline_targets: bool = Field(
        default=False,
        description="Let a spec carry its own router and metrics instead of naming a target (labs and tests "
        "only: the spec then chooses what the worker touches). Recorded in the record.",
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
    notifications: list[Webhook] = Field(
        default_factory=list,
        max_length=MAX_WEBHOOKS,
        description="Webhooks told about the service's rollouts (docs/notifications.md): phase changes, approval "
        "requests, holds, rollbacks, recovery. A spec cannot add or change them; a failed delivery never slows "
        "or fails a rollout.",
    )
    recovery: RecoveryPolicy | None = Field(
        default=None,
        description="Verify stable's recovery after a rollback (docs/rollouts.md); null: no verification, the "
        "rollout ends once the router reads stable back at 100%.",
    )
    deploy_windows: dict[Annotated[str, Field(pattern=r"^(?:\*|[a-z0-9][a-z0-9-]{0,62})$")], DeployWindows] = Field(
        default_factory=dict,
        max_length=MAX_TARGETS + 1,
        description=f"When forward moves may start, per target name ({ALL_TARGETS!r}: every target without its own "
        "entry): weekly windows in a time zone and freezes. A step or promotion outside waits for the next window "
        "(docs/pipelines.md); rollback and abort never wait. Empty: any time.",
    )
    drill: DrillPolicy | None = Field(
        default=None,
        description="How rollback drills of the service run (docs/drills.md): the target drilled by default, the "
        "time to verified stable it must meet, the weight moved. Null: drills run with the defaults and must "
        "name their target.",
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
    revoked: list[Fingerprint] = Field(
        default_factory=list,
        max_length=MAX_REVOKED,
        description="Fingerprints of keys that no longer count (a lost or leaked key), as ssh-keygen -l prints "
        "them: SHA256:... A signer line with a revoked key is left out; a running rollout refuses the key too.",
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
        default_factory=list, description="The file's revoked fingerprints (empty in states recorded before)."
    )


def is_revoked(fingerprint: str, policy: GoverningPolicy) -> bool:
    """Whether ``policy`` (possibly newer than the one a rollout started with) revokes the key ``fingerprint``."""
    return fingerprint in policy.revoked


def _expand(names: list[str] | None, groups: dict[str, list[str]]) -> list[str] | None:
    if names is None:
        return None
    out: list[str] = []
    for name in names:
        for member in groups[name[1:]] if name.startswith("@") else [name]:
            if member not in out:
                out.append(member)
    return out


def parse_signers(lines: list[str], *, revoked: frozenset[str] = frozenset()) -> list[Signer]:
    """The allowed_signers lines that may sign our namespace, one ``Signer`` per principal and key.

    Options other than ``namespaces`` (certificate authorities, validity windows) are refused, not ignored:
    a policy must never mean less than it says. Keys whose fingerprint is in ``revoked`` are left out.
    """
    return [signer for _, signer in _numbered_signers(lines, revoked)]


def _numbered_signers(lines: list[str], revoked: frozenset[str]) -> list[tuple[int, Signer]]:
    """``parse_signers`` with each signer's 0-based line, so a later check can name the line to fix."""
    signers: list[tuple[int, Signer]] = []
    for index, line in enumerate(lines):
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
            raise PolicyError(f"allowed_signers[{index}]: {exc}") from None
        if (bits := rsa_bits(key)) is not None and bits < MIN_RSA_BITS:
            raise PolicyError(
                f"allowed_signers[{index}]: RSA key of {bits} bits; at least {MIN_RSA_BITS} are needed "
                "(ssh-keygen -t ed25519, or -t rsa -b 4096)"
            )
        if namespaces is not None and SIGNATURE_NAMESPACE not in namespaces.split(","):
            continue
        if key.sha256_str() in revoked:
            continue
        for principal in entry.principals.split(","):
            signer = Signer(principal=principal, key=key.openssh_str(), fingerprint=key.sha256_str())
            signers.append((index, signer))
    return signers


def rsa_bits(key: PublicKey) -> int | None:
    """The modulus size of an RSA key; None for other kinds (ed25519 has one fixed, strong size)."""
    if key.algo_name != "ssh-rsa":
        return None
    loaded = load_ssh_public_key(key.openssh_str().encode())
    return loaded.key_size if isinstance(loaded, rsa.RSAPublicKey) else None


def _may_approve(policy: ServicePolicy, groups: dict[str, list[str]]) -> frozenset[str] | None:
    """Everyone whose decision may count under ``policy``; None when ``*`` lets the spec name anyone."""
    names = [*(policy.approvers or ()), *(policy.overriders or ())]
    if ANYONE in names:
        return None
    return frozenset(_expand(names, groups) or ())


def _one_person_one_name(document: PolicyFile, signers: list[tuple[int, Signer]]) -> None:
    """Refuse a key listed for two principals who may both approve in one service policy.

    Whoever holds that key could otherwise approve under both names, and count twice towards a quorum.
    """
    policies = [("default", document.default), *((f"services.{k}", v) for k, v in document.services.items())]
    for where, policy in policies:
        if policy is None:
            continue
        deciders = _may_approve(policy, document.groups)
        by_key: dict[str, list[tuple[int, str]]] = {}
        for index, signer in signers:
            if deciders is None or signer.principal in deciders:
                named = by_key.setdefault(signer.fingerprint, [])
                if all(signer.principal != p for _, p in named):
                    named.append((index, signer.principal))
        for fingerprint, named in by_key.items():
            if len(named) < 2:
                continue
            lines = ", ".join(f"allowed_signers[{i}]" for i in sorted({i for i, _ in named}))
            people = [p for _, p in named]
            raise PolicyError(
                f"{lines}: one key ({fingerprint}) is listed for {', '.join(people[:-1])} and {people[-1]}, "
                f"who may both approve {where}: one person, one name (give each person their own key)"
            )


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
    numbered = _numbered_signers(document.allowed_signers, frozenset(document.revoked))
    _one_person_one_name(document, numbered)
    signers = [signer for _, signer in numbered]
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
            "targets": {name: for_service(target, service) for name, target in policy.targets.items()},
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


def router_allowed(router: RouterSpec, service: str, governing: GoverningPolicy | None, *, lab_mode: bool) -> bool:
    """Whether the operators would let ``router`` move ``service``'s traffic.

    Yes for one of the service's targets' routers, or any router where inline targets are allowed (the policy says
    so, or lab mode without a policy). The lease's watcher asks before it puts stable back on the router a lease
    request named: anyone who can signal the lease workflow can write that request, so it is not trusted alone.
    """
    if governing is None:
        return lab_mode
    if governing.policy.allow_inline_targets:
        return True
    return any(target.router == router for target in governing.policy.targets.values())


class RouterCheck(_Model):
    """Input of ``check_router``: a router someone asks the worker to move ``service``'s traffic on."""

    service: str
    router: RouterSpec


class RouterVerdict(_Model):
    """Output of ``check_router``: whether the operators define (or allow) that router, and why not."""

    allowed: bool
    note: str = ""


class LoadedPolicy(_Model):
    """Output of ``load_policy``: the governing policy, or None with why (no path configured, no entry)."""

    policy: GoverningPolicy | None = None
    note: str = ""
    lab_mode: bool = Field(
        default=False,
        description="The worker's operator started it in lab mode (ROLLOUTS_LAB_MODE): with no policy, a spec's "
        "inline target may run.",
    )


def policy_schema() -> dict[str, Any]:
    """The JSON Schema of a policy file (``docs/policy.schema.json``)."""
    return document_schema(PolicyFile, "Service policy (durable-rollouts)")


if __name__ == "__main__":
    print(json.dumps(policy_schema(), indent=2, sort_keys=True))
