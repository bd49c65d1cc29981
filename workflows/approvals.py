"""Which operator signals count: the approval policy and the phase rules, as one pure function.

The signal handlers and the update validators both call ``assess``, so a CLI caller of an update gets exactly
the rejection that a signal would have recorded. A rejected signal changes nothing but the rollout's list of
rejected signals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.phases import Phase

SignalName = Literal["approve", "reject", "pause", "resume", "abort", "promote"]
SIGNAL_NAMES: tuple[SignalName, ...] = ("approve", "reject", "pause", "resume", "abort", "promote")


NAME_MAX = 200
TEXT_MAX = 2000
"""Bounds on what a signal may carry: anyone can send one, and what is accepted lands in the record."""


class _Payload(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


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


OperatorSignal = Approve | Reject | Pause | Resume | Abort | Promote
PAYLOAD_MODELS: Mapping[SignalName, type[OperatorSignal]] = {
    "promote": Promote,
    "approve": Approve,
    "reject": Reject,
    "pause": Pause,
    "resume": Resume,
    "abort": Abort,
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


@dataclass(frozen=True)
class Accepted:
    """The signal counts; the workflow applies it."""

    signal: OperatorSignal


@dataclass(frozen=True)
class Rejected:
    """The signal changes nothing; ``reason`` says why, for the sender and the record."""

    reason: str
    by: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


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
    }[name]


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
            if approver == ctx.requested_by:
                return Rejected(f"unauthorized: {approver!r} requested this rollout and cannot approve it", by=approver)
            if approver not in ctx.approvers:
                return Rejected(f"unauthorized: {approver!r} is not an approver", by=approver)
            if approver in ctx.approved_by:
                return Rejected(f"duplicate: {approver!r} already approved this step", by=approver)
        case Promote(approver=approver):
            if not ctx.awaiting_decision:
                return Rejected(
                    f"meaningless: no step is waiting on inconclusive evidence (phase {ctx.phase.value}); "
                    "promote overrides only a step whose observation ended without every criterion passing",
                    by=approver,
                )
            if approver == ctx.requested_by:
                return Rejected(f"unauthorized: {approver!r} requested this rollout and cannot override", by=approver)
            if approver not in ctx.approvers:
                return Rejected(f"unauthorized: {approver!r} is not an approver", by=approver)
        case Reject(approver=approver):
            if approver == ctx.requested_by:
                return Rejected(f"unauthorized: {approver!r} requested this rollout and cannot reject it", by=approver)
            if approver not in ctx.approvers:
                return Rejected(f"unauthorized: {approver!r} is not an approver", by=approver)
            if ctx.abort_requested:
                return Rejected("duplicate: a rollback is already requested", by=approver)
        case Pause(by=by):
            if ctx.phase not in {Phase.CANARY, Phase.AWAITING_APPROVAL}:
                return Rejected(f"meaningless: only a canary step can be paused (phase {ctx.phase.value})", by=by)
            if ctx.paused_by is not None:
                return Rejected(f"duplicate: already paused by {ctx.paused_by!r}", by=by)
        case Resume(by=by):
            if ctx.paused_by is None:
                return Rejected("meaningless: the rollout is not paused", by=by)
        case Abort(by=by):
            if ctx.abort_requested:
                return Rejected("duplicate: a rollback is already requested", by=by)
    return Accepted(parsed)


def _who(signal: OperatorSignal) -> str:
    return signal.approver if isinstance(signal, Approve | Reject | Promote) else signal.by


def quorum_reached(approved_by: frozenset[str], quorum: int) -> bool:
    """Distinct approvers only: ``assess`` already refused duplicates, non-approvers and the requester."""
    return len(approved_by) >= quorum
