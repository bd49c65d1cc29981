"""Which operator signals count: the approval policy and the phase rules, as one pure function.

The signal handlers and the update validators both call ``assess``, so a CLI caller of an update gets exactly
the rejection that a signal would have recorded. A rejected signal changes nothing but the rollout's list of
rejected signals.

Rollouts governed by a service policy (``SignalContext.governed``, the ``signed-approvals`` patch) also need
each decision (approve, reject, promote) signed by a key the policy lists for the named principal, over a message
bound to this rollout, step and criteria (``workflows.signatures``); abort, pause and resume come from the
policy's operators, signed when the policy says so. Rollouts started before the patch keep the name rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.limits import MAX_SIGNATURE_CHARS
from models.phases import Phase
from models.policy import ANYONE, GoverningPolicy
from models.record import SignedProof
from workflows.moves import MoveContext, move_decision, move_refusal
from workflows.signatures import (
    Binding,
    Refused,
    allowed_signer_line,
    check_expiry,
    decision_message,
    verify_signed,
)

SignalName = Literal["approve", "reject", "pause", "resume", "abort", "promote", "skip", "full"]
SIGNAL_NAMES: tuple[SignalName, ...] = ("approve", "reject", "pause", "resume", "abort", "promote", "skip", "full")


NAME_MAX = 200
TEXT_MAX = 2000
MAX_STEP_NUMBER = 1000
"""Bound on a step number a signal names: far above any plan (the spec's own limits are lower)."""
"""Bounds on what a signal may carry: anyone can send one, and what is accepted lands in the record."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    expires: str | None = Field(
        default=None, max_length=64, description="ISO 8601 instant after which the signature no longer counts."
    )
    signature: str | None = Field(
        default=None,
        max_length=MAX_SIGNATURE_CHARS,
        description="ssh-keygen -Y sign -n durable-rollouts signature over the decision's canonical message.",
    )


class Approve(_Payload):
    """``approve``: one approver's yes for the step waiting on approval."""

    approver: str = Field(min_length=1, max_length=NAME_MAX)
    comment: str | None = Field(default=None, max_length=TEXT_MAX)


class Reject(_Payload):
    """``reject``: an approver's no; the rollout rolls back."""

    approver: str = Field(min_length=1, max_length=NAME_MAX)
    reason: str = Field(min_length=1, max_length=TEXT_MAX)


class Pause(_Payload):
    """``pause``: stop the step clock; analysis keeps running and may still roll back."""

    by: str = Field(min_length=1, max_length=NAME_MAX)
    reason: str | None = Field(default=None, max_length=TEXT_MAX)


class Resume(_Payload):
    """``resume``: restart the step clock."""

    by: str = Field(min_length=1, max_length=NAME_MAX)


class Abort(_Payload):
    """``abort``: roll back now."""

    by: str = Field(min_length=1, max_length=NAME_MAX)
    reason: str = Field(min_length=1, max_length=TEXT_MAX)


class Promote(_Payload):
    """``promote``: an approver moves a step on whose evidence is not ``pass``; the reason is recorded."""

    approver: str = Field(min_length=1, max_length=NAME_MAX)
    reason: str = Field(min_length=1, max_length=TEXT_MAX)


class Skip(_Payload):
    """``skip``: an overrider moves the walk to step ``to`` now; that step still runs in full (ADR: manual moves)."""

    by: str = Field(min_length=1, max_length=NAME_MAX)
    to: int = Field(ge=1, le=MAX_STEP_NUMBER, description="1-based step the walk lands on.")
    reason: str = Field(min_length=1, max_length=TEXT_MAX)


class Full(_Payload):
    """``full``: an overrider sends the candidate to 100% now; a watch the strategy ends with still runs."""

    by: str = Field(min_length=1, max_length=NAME_MAX)
    reason: str = Field(min_length=1, max_length=TEXT_MAX)


OperatorSignal = Approve | Reject | Pause | Resume | Abort | Promote | Skip | Full
PAYLOAD_MODELS: Mapping[SignalName, type[OperatorSignal]] = {
    "promote": Promote,
    "approve": Approve,
    "reject": Reject,
    "pause": Pause,
    "resume": Resume,
    "abort": Abort,
    "skip": Skip,
    "full": Full,
}


@dataclass(frozen=True)
class SignalContext:
    """What the policy needs to know about the rollout at the moment a signal arrives."""

    phase: Phase
    requested_by: str
    approvers: frozenset[str] = frozenset()
    approved_by: frozenset[str] = frozenset()
    paused_by: str | None = None
    abort_requested: bool = False
    awaiting_decision: bool = False
    """The step's observation ended without passing evidence: a ``promote`` override means something now."""
    governed: bool = False
    """The rollout started under the signed-approvals rules: its policy (or its lack) decides."""
    policy: GoverningPolicy | None = None
    workflow_id: str = ""
    run_id: str = ""
    criteria_sha256: str = ""
    step: int | None = None
    """1-based step a decision is about."""
    now: datetime | None = None
    requester_keys: frozenset[str] = frozenset()
    """Fingerprints of the requester's keys: the spec's signer and the keys listed under ``requested_by``."""
    approved_keys: frozenset[str] = frozenset()
    """Fingerprints of the keys whose approvals already count at this step: a key is a person, counted once."""
    trust_operations: bool = False
    """The rollout started under the trust-operations rules: a pause may come before the first step (it holds
    the first step's clock), and keys found revoked since the start no longer count."""
    revoked: frozenset[str] = frozenset()
    """Fingerprints of keys the operators' policy revoked while the rollout ran."""
    moves: MoveContext | None = None
    """What ``skip`` and ``full`` are judged by; None: the rollout started before them (manual-moves patch)."""


@dataclass(frozen=True)
class Accepted:
    """The signal counts; the workflow applies it."""

    signal: OperatorSignal
    verified: bool | None = None
    """True: signed by a key the policy lists for the sender; False: unsigned, counted as the policy allows;
    None: the rollout predates signed approvals."""
    fingerprint: str | None = None
    proof: SignedProof | None = None
    """What proves a verified signal (message, signature, key), for the record."""


@dataclass(frozen=True)
class Rejected:
    """The signal changes nothing; ``reason`` says why, for the sender and the record."""

    reason: str
    by: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


AUDITED = frozenset({"unauthorized", "signature", "expires"})
"""Refusals about who sent a signal or what proves it: under a policy, an update refused for one of these still
reaches the handler, so that the attempt is recorded (a validator may not change state)."""


KEY_ALREADY_COUNTED = "duplicate: the key "
"""The one duplicate that is about identity (one key approving under a second name): audited like a forgery."""


def audited(rejected: Rejected) -> bool:
    """Whether a refusal is about identity or proof (recorded even for updates), not phase or form."""
    return rejected.reason.split(":", 1)[0] in AUDITED or rejected.reason.startswith(KEY_ALREADY_COUNTED)


def parse_payload(name: SignalName, payload: object) -> OperatorSignal | Rejected:
    """Validate a raw signal payload, naming every bad field the way the spec validation does."""
    model = PAYLOAD_MODELS[name]
    if payload is None:
        payload = {}
    if not isinstance(payload, Mapping):
        return Rejected(f"malformed: expected a JSON object such as {_example(name)}, got {type(payload).__name__}")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(payload)'}: "
            + ("missing" if error["type"] == "missing" else str(error["msg"]))
            for error in exc.errors()
        )
        who = payload.get("approver") or payload.get("by")
        return Rejected(f"malformed: {problems}", by=who if isinstance(who, str) else None)


def _example(name: SignalName) -> str:
    return {
        "approve": '{"approver": "ml-lead"}',
        "reject": '{"approver": "ml-lead", "reason": "..."}',
        "pause": '{"by": "sre-oncall"}',
        "resume": '{"by": "sre-oncall"}',
        "abort": '{"by": "sre-oncall", "reason": "..."}',
        "promote": '{"approver": "ml-lead", "reason": "..."}',
        "skip": '{"by": "ml-lead", "to": 3, "reason": "..."}',
        "full": '{"by": "ml-lead", "reason": "..."}',
    }[name]


WHO_MAY_NAMES = 10
"""Names quoted in a refusal that says who may decide: enough for any real quorum, bounded for the record."""


def _who_may(approvers: frozenset[str]) -> str:
    """The refusal names who may decide, so the person refused knows whom to ask."""
    names = sorted(approvers)
    if not names:
        return "this rollout names no approvers"
    shown = ", ".join(names[:WHO_MAY_NAMES])
    more = f" and {len(names) - WHO_MAY_NAMES} more" if len(names) > WHO_MAY_NAMES else ""
    return f"approvers: {shown}{more}"


def _not_an_approver(approver: str, approvers: frozenset[str]) -> Rejected:
    return Rejected(f"unauthorized: {approver!r} is not an approver ({_who_may(approvers)})", by=approver)


def assess(name: SignalName, payload: object, ctx: SignalContext) -> Accepted | Rejected:
    """Decide whether a signal counts, and if not, why; never raises."""
    parsed = parse_payload(name, payload)
    if isinstance(parsed, Rejected):
        return parsed
    if ctx.phase.is_final:
        return Rejected(f"meaningless: the rollout is already {ctx.phase.value}", by=_who(parsed))
    if ctx.phase is Phase.ROLLING_BACK:
        return Rejected("meaningless: the rollout is already rolling back", by=_who(parsed))
    if isinstance(parsed, Abort | Reject) and not ctx.phase.can_roll_back:
        return Rejected(
            f"meaningless: the candidate is being promoted (phase {ctx.phase.value}); roll back with a new rollout",
            by=_who(parsed),
        )
    match parsed:
        case Approve(approver=approver):
            if ctx.phase is not Phase.AWAITING_APPROVAL:
                return Rejected(f"meaningless: no step is waiting for approval (phase {ctx.phase.value})", by=approver)
            if approver == ctx.requested_by and not _requester_may_approve(ctx):
                return Rejected(f"unauthorized: {approver!r} requested this rollout and cannot approve it", by=approver)
            if approver not in ctx.approvers:
                return _not_an_approver(approver, ctx.approvers)
            if approver in ctx.approved_by:
                return Rejected(f"duplicate: {approver!r} already approved this step", by=approver)
        case Promote(approver=approver):
            if not ctx.awaiting_decision:
                return Rejected(
                    f"meaningless: no step is waiting on inconclusive evidence (phase {ctx.phase.value}); "
                    "promote overrides only a step whose observation ended without every criterion passing",
                    by=approver,
                )
            if (who_refused := _overrider_refusal(approver, ctx, "override")) is not None:
                return who_refused
        case Reject(approver=approver):
            if approver == ctx.requested_by and not _requester_may_approve(ctx):
                return Rejected(f"unauthorized: {approver!r} requested this rollout and cannot reject it", by=approver)
            if approver not in ctx.approvers:
                return _not_an_approver(approver, ctx.approvers)
            if ctx.abort_requested:
                return Rejected("duplicate: a rollback is already requested", by=approver)
        case Pause(by=by):
            if ctx.phase not in (_PAUSABLE_EARLY if ctx.trust_operations else _PAUSABLE):
                return Rejected(f"meaningless: only a canary step can be paused (phase {ctx.phase.value})", by=by)
            if ctx.paused_by is not None:
                return Rejected(f"duplicate: already paused by {ctx.paused_by!r}", by=by)
        case Resume(by=by):
            if ctx.paused_by is None:
                return Rejected("meaningless: the rollout is not paused", by=by)
        case Abort(by=by):
            if ctx.abort_requested:
                return Rejected("duplicate: a rollback is already requested", by=by)
        case Skip(by=by) | Full(by=by):
            if ctx.moves is None:
                return Rejected(
                    f"meaningless: this rollout started before skip and full existed (known: {_KNOWN_BEFORE_MOVES})",
                    by=by,
                )
            refusal = move_refusal(parsed.to if isinstance(parsed, Skip) else None, ctx.moves)
            if refusal is not None:
                return Rejected(refusal, by=by)
            if (who_refused := _overrider_refusal(by, ctx, "skip or go to 100%")) is not None:
                return who_refused
    if not ctx.governed:
        return Accepted(parsed)
    return _authorize(name, parsed, ctx)


_DECISIONS = frozenset({"approve", "reject", "promote", "skip", "full"})
_PAUSABLE = frozenset({Phase.CANARY, Phase.AWAITING_APPROVAL})
_PAUSABLE_EARLY = _PAUSABLE | {Phase.VALIDATING, Phase.PREFLIGHT, Phase.SHADOW}
"""Under trust-operations a pause may also come before the first step: the step's weight is set, its clock waits
for ``resume`` (and ``max_pause`` bounds the wait)."""


def _requester_may_approve(ctx: SignalContext) -> bool:
    return ctx.governed and ctx.policy is not None and ctx.policy.policy.requester_may_approve


def _overrider_refusal(who: str, ctx: SignalContext, verb: str) -> Rejected | None:
    """Promote's authority, shared by skip and full: not the requester (unless the policy allows), an overrider."""
    if who == ctx.requested_by and not _requester_may_approve(ctx):
        return Rejected(f"unauthorized: {who!r} requested this rollout and cannot {verb}", by=who)
    overriders = _overriders(ctx)
    if who not in overriders and overriders is ctx.approvers:
        return _not_an_approver(who, ctx.approvers)
    if who not in overriders:
        return Rejected(
            f"unauthorized: {who!r} may not override (may: {', '.join(sorted(overriders)) or 'nobody'})", by=who
        )
    return None


_KNOWN_BEFORE_MOVES = "approve, reject, pause, resume, abort, promote"


def _overriders(ctx: SignalContext) -> frozenset[str]:
    if ctx.governed and ctx.policy is not None and ctx.policy.policy.overriders is not None:
        return frozenset(ctx.policy.policy.overriders)
    return ctx.approvers


def _authorize(name: SignalName, signal: OperatorSignal, ctx: SignalContext) -> Accepted | Rejected:
    """The signed-approvals rules: who may send it under the policy, and whether its signature proves it."""
    who = _who(signal)
    policy = ctx.policy
    decision = name in _DECISIONS
    if policy is None:
        if decision:
            return Rejected(
                f"unauthorized: no policy governs this rollout, so no {name} by {who!r} can be verified", by=who
            )
        return Accepted(signal, verified=False)  # no keys to check a signature against: stopping harm stays fast
    rules = policy.policy
    if not decision and ANYONE not in rules.operators and who not in rules.operators:
        return Rejected(
            f"unauthorized: {who!r} is not an operator of {policy.scope} (may {name}: {', '.join(rules.operators)})",
            by=who,
        )
    if signal.signature is None:
        if decision and not rules.allow_unsigned:
            return Rejected(
                f"signature: missing; policy {policy.scope} ({policy.sha256[:12]}) counts only signed decisions "
                f"(rollouts {name} {ctx.workflow_id} --key <your key>)",
                by=who,
            )
        if not decision and rules.signed_operations:
            return Rejected(f"signature: missing; policy {policy.scope} requires signed {name}", by=who)
        return Accepted(signal, verified=False)
    verified = _verify(name, signal, ctx, policy)
    if isinstance(verified, Rejected) and not decision and not rules.signed_operations:
        return Accepted(signal, verified=False)  # an operation that needs no signature is not slowed by a bad one
    if isinstance(verified, Rejected):
        return verified
    proof, evidence = verified
    if proof in ctx.revoked:
        return Rejected(
            f"signature: key {proof} was revoked by the operators' policy; sign with another key listed for {who!r}",
            by=who,
        )
    if decision and proof in ctx.requester_keys and not rules.requester_may_approve:
        return Rejected(
            f"unauthorized: signed with the requester's key ({proof}); the requester cannot {name}",
            by=who,
        )
    if name == "approve" and proof in ctx.approved_keys:
        return Rejected(
            f"{KEY_ALREADY_COUNTED}{proof} already approved this step under another name; "
            "one person, one approval (each approver signs with their own key)",
            by=who,
        )
    return Accepted(signal, verified=True, fingerprint=proof, proof=evidence)


def _verify(
    name: SignalName, signal: OperatorSignal, ctx: SignalContext, policy: GoverningPolicy
) -> tuple[str, SignedProof] | Rejected:
    """The fingerprint of the key that signed ``signal`` for this rollout, or why it does not prove anything."""
    who = _who(signal)
    if signal.expires is None:
        return Rejected("expires: missing; a signed decision carries the expiry it was signed with", by=who)
    if ctx.now is not None and (late := check_expiry(signal.expires, ctx.now, policy)) is not None:
        return Rejected(late.reason, by=who)
    binding = Binding(
        workflow_id=ctx.workflow_id,
        run_id=ctx.run_id,
        decision=move_decision(signal.to) if isinstance(signal, Skip) else name,
        step=ctx.step if name in {"approve", "promote", "skip", "full"} else None,
        criteria_sha256=ctx.criteria_sha256,
    )
    message = decision_message(binding, principal=who, text=_text(signal), expires=signal.expires)
    verdict = verify_signed(message, signal.signature or "", principal=who, policy=policy)
    if isinstance(verdict, Refused):
        return Rejected(verdict.reason, by=who)
    proof = SignedProof(
        message=message.decode(), signature=signal.signature or "", allowed_signer=allowed_signer_line(who, verdict.key)
    )
    return verdict.fingerprint, proof


def _text(signal: OperatorSignal) -> str | None:
    match signal:
        case Approve(comment=comment):
            return comment
        case Reject(reason=reason) | Promote(reason=reason) | Abort(reason=reason) | Skip(reason=reason):
            return reason
        case Full(reason=reason):
            return reason
        case Pause(reason=reason):
            return reason
    return None


def _who(signal: OperatorSignal) -> str:
    return signal.approver if isinstance(signal, Approve | Reject | Promote) else signal.by


def quorum_reached(approved_by: frozenset[str], quorum: int) -> bool:
    """Whether ``quorum`` distinct people approved: each name in ``approved_by`` is a different person.

    ``assess`` made it so: it refused a second approval by the same name, a signed approval whose key already
    counted under another name at this step (``SignalContext.approved_keys``), non-approvers and the requester;
    and the policy refuses at load a key listed for two principals who may approve.
    """
    return len(approved_by) >= quorum
