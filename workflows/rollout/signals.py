"""What an accepted operator signal does to the run, and how a refused one is kept for the audit trail."""

from __future__ import annotations

import json

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.phases import Phase
    from models.record import ApprovalEntry, OverrideEntry, SignalRejection, SignedOperation, evidence_line
    from workflows.approvals import (
        NAME_MAX,
        SIGNAL_NAMES,
        TEXT_MAX,
        Abort,
        Accepted,
        Approve,
        Full,
        Pause,
        Promote,
        Reject,
        Rejected,
        Resume,
        SignalContext,
        Skip,
    )
    from workflows.rollout import moves
    from workflows.rollout.bounds import SIGNED_OPERATIONS_KEPT, count_rejection, keep_proof
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.interrupts import Interrupts, RollbackNeeded
    from workflows.rollout.state import RolloutState

KEPT_PAYLOAD_CHARS = 500
"""A refused signal's payload is kept for the audit trail, but only this much of it: anyone can send a signal,
and the record travels through continue-as-new under Temporal's payload size limit."""


def context_of(run: RolloutRun | None, interrupts: Interrupts) -> SignalContext:
    """What the approval policy needs to judge a signal; before validation every signal meets ``validating``."""
    if run is None:
        return SignalContext(phase=Phase.VALIDATING, requested_by="")
    spec, s = run.spec, run.state
    return SignalContext(
        phase=s.phase,
        requested_by=spec.requested_by,
        approvers=frozenset(spec.approvals.approvers if spec.approvals else ()),
        approved_by=frozenset(s.approved_by),
        paused_by=s.paused_by,
        abort_requested=interrupts.abort is not None,
        awaiting_decision=s.awaiting_decision,
        governed=s.governed,
        policy=s.policy,
        workflow_id=s.record.rollout_id,
        # Under trust-operations the first execution's run id, which `temporal workflow reset` keeps.
        run_id=s.record.first_run_id or s.record.run_id,
        criteria_sha256=s.record.criteria_sha256,
        step=s.step_index + 1,
        now=workflow.now() if s.governed else None,
        requester_keys=frozenset(s.requester_keys),
        approved_keys=frozenset(a.key for a in s.record.approvals if a.step == s.step_index and a.key),
        trust_operations=s.trust_operations,
        revoked=frozenset(s.revoked),
        moves=moves.context(run),
    )


def apply(run: RolloutRun, accepted: Accepted) -> str:
    """Change the run as the signal asks; the answer is what the update returns to its sender."""
    s = run.state
    now = workflow.now()
    run.interrupts.wakeups += 1
    if not isinstance(accepted.signal, Approve | Promote | Skip | Full):  # those keep their proof themselves
        keep_operation(run, accepted)
    match accepted.signal:
        case Approve(approver=approver, comment=comment):
            s.approved_by.append(approver)
            entry = ApprovalEntry(
                step=s.step_index,
                approver=approver,
                at=now,
                comment=comment,
                verified=accepted.verified,
                key=accepted.fingerprint,
            )
            # The proof is kept once, in the record's list; the step's copy names the key only.
            s.record.approvals.append(entry.model_copy(update={"proof": keep_proof(s.record, accepted.proof)}))
            if s.record.steps:
                s.record.steps[-1].approvals.append(entry)
            run.note("approval", f"{approver}{_proof(accepted)}" + (f": {comment}" if comment else ""))
            return f"approved by {approver}"
        case Reject(approver=approver, reason=reason):
            run.interrupts.abort = RollbackNeeded("reject", f"rejected by {approver}: {reason}", by=approver)
            run.note("rejected", f"{approver}{_proof(accepted)}: {reason}")
            return "rollback requested"
        case Abort(by=by, reason=reason):
            run.interrupts.abort = RollbackNeeded("abort", f"aborted by {by}: {reason}", by=by)
            run.note("abort", f"{by}{_proof(accepted)}: {reason}")
            return "rollback requested"
        case Promote(approver=approver, reason=reason) if s.window_wait is not None:
            return _window_override(run, accepted, approver, reason)
        case Promote(approver=approver, reason=reason):
            report = s.record.steps[-1]
            s.record.overrides.append(
                OverrideEntry(
                    step=s.step_index,
                    approver=approver,
                    reason=reason,
                    at=now,
                    evidence=[evidence_line(e) for e in report.final],
                    verified=accepted.verified,
                    key=accepted.fingerprint,
                    proof=keep_proof(s.record, accepted.proof),
                )
            )
            report.evidence = "override"
            s.awaiting_decision = False
            who = f"{approver}{_proof(accepted)}"
            run.note("override", f"{who} moves step {s.step_index + 1} on without passing evidence: {reason}")
            return f"step {s.step_index + 1} promoted by {approver} over {report.analyses} analyses without a pass"
        case Skip() | Full():
            answer = moves.accept(run, accepted)
            run.upsert()
            return answer
        case Pause(by=by, reason=reason):
            s.paused_by, s.paused_at = by, now
            s.clock.stop(now)
            run.note("paused", by + (f": {reason}" if reason else ""))
            run.upsert()
            return f"paused by {by}"
        case Resume(by=by):
            was = s.paused_by
            s.paused_by, s.paused_at = None, None
            if s.phase is Phase.CANARY or s.phase is Phase.AWAITING_APPROVAL:
                s.clock.start(now)
            run.note("resumed", f"{by} (was paused by {was})")
            run.upsert()
            return f"resumed by {by}"
    raise AssertionError(f"unhandled signal {accepted.signal!r}")


def _window_override(run: RolloutRun, accepted: Accepted, approver: str, reason: str) -> str:
    """A signed promote while a forward move waits for its deploy window: it moves on now, recorded."""
    s = run.state
    s.record.overrides.append(
        OverrideEntry(
            step=s.step_index,
            approver=approver,
            reason=reason,
            at=workflow.now(),
            evidence=[f"deploy window: {s.window_wait}"],
            verified=accepted.verified,
            key=accepted.fingerprint,
            proof=keep_proof(s.record, accepted.proof),
        )
    )
    s.window_override, s.awaiting_decision = True, False
    run.note("override", f"{approver}{_proof(accepted)} moves on outside the deploy window: {reason}")
    return f"moved on outside the deploy window by {approver}"


def keep_operation(run: RolloutRun, accepted: Accepted) -> None:
    """A signed reject, abort, pause or resume that counted, with its proof (bounded) for the audit trail."""
    record = run.state.record
    if not accepted.verified or accepted.fingerprint is None:
        return
    if len(record.signed_operations) >= SIGNED_OPERATIONS_KEPT:
        record.proofs_omitted += 1
        return
    signal = accepted.signal
    who = signal.approver if isinstance(signal, Approve | Reject | Promote) else signal.by
    record.signed_operations.append(
        SignedOperation(
            decision=type(signal).__name__.lower(),
            by=who,
            at=workflow.now(),
            key=accepted.fingerprint,
            proof=keep_proof(record, accepted.proof),
        )
    )


def _proof(accepted: Accepted) -> str:
    """How the record shows an accepted decision's proof; nothing for rollouts older than signed approvals."""
    if accepted.verified is None:
        return ""
    return f" (signed {accepted.fingerprint})" if accepted.verified else " (unverified)"


def apply_before_start(interrupts: Interrupts, accepted: Accepted) -> str:
    """A signal that arrived before the spec was validated.

    Only an abort passes the policy then, and it takes effect as soon as the run begins (before anything moves).
    """
    match accepted.signal:
        case Abort(by=by, reason=reason):
            interrupts.abort = RollbackNeeded("abort", f"aborted by {by}: {reason}", by=by)
            interrupts.wakeups += 1
            return "rollback requested"
    raise AssertionError(f"signal {accepted.signal!r} accepted before the rollout started")


def keep_rejection(state: RolloutState | None, name: str, rejected: Rejected, payload: object) -> None:
    """Record a refused signal (bounded) and log it; nothing else changes."""
    if state is None:
        return
    # Past the cap a refusal costs a dictionary increment: a flood of junk stays cheap and small.
    if not count_rejection(state.record, name, SIGNAL_NAMES):
        return
    state.record.rejected_signals.append(
        SignalRejection(
            at=workflow.now(),
            signal=name[:NAME_MAX],
            by=None if rejected.by is None else rejected.by[:NAME_MAX],
            reason=rejected.reason[:TEXT_MAX],
            payload=_kept(payload),
        )
    )
    workflow.logger.info("signal rejected", extra={"signal": name[:NAME_MAX], "reason": rejected.reason[:TEXT_MAX]})


def _kept(payload: object) -> object:
    text = json.dumps(payload, default=str)
    return payload if len(text) <= KEPT_PAYLOAD_CHARS else text[:KEPT_PAYLOAD_CHARS] + "... (truncated)"
