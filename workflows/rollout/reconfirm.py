"""Before acting on a decision, read the policy again: a key revoked since the start no longer counts.

Acting on a decision means: a step's approval quorum reached, a promote override of a held step, the final
promotion (for the spec's own signature). Of the policy file read again only its ``revoked`` list is taken: a
policy change may only tighten a running rollout (no new keys, no looser rules). A read that fails never counts
as a pass: the decision waits and the read is tried again, analyses go on and an abort still works.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from activities.policy import PolicyActivities
    from models.durations import format_duration
    from models.policy import MAX_REVOKED, PolicyRequest
    from workflows.rollout.analysis import watch
    from workflows.rollout.context import RolloutRun, cause
    from workflows.rollout.governance import LOAD_POLICY_RETRY
    from workflows.rollout.interrupts import RollbackNeeded
    from workflows.trust import dropped_reason, needs_reconfirmation, revoked_approvals, revoked_override

REREAD_BACKOFF_FIRST = timedelta(seconds=5)
REREAD_BACKOFF_MAX = timedelta(minutes=1)
"""Between reads of a policy that could not be read: a person fixing the file sees the rollout go on soon after."""


async def current_revocations(run: RolloutRun, index: int | None) -> tuple[frozenset[str], str]:
    """The fingerprints the policy file revokes now, and the file's SHA-256; retried until the file can be read.

    ``index`` is the step being decided (its analyses go on while a failed read waits), None after the last step.
    """
    failures = 0
    while True:
        run.raise_if_aborted()
        try:
            loaded = await run.interruptible(
                workflow.execute_activity_method(
                    PolicyActivities.load_policy,
                    PolicyRequest(service=run.spec.service),
                    start_to_close_timeout=timedelta(seconds=30),
                    retry_policy=LOAD_POLICY_RETRY,
                    summary=f"policy of {run.spec.service} again: revoked keys",
                )
            )
        except ActivityError as exc:
            problem = cause(exc)
        else:
            if loaded.policy is not None:
                return frozenset(loaded.policy.revoked), loaded.policy.sha256
            problem = loaded.note or "the policy no longer governs this service"
        failures += 1
        wait = min(REREAD_BACKOFF_FIRST * 2 ** min(failures - 1, 8), REREAD_BACKOFF_MAX)
        run.note(
            "policy not re-read",
            f"{problem}; the decision cannot be confirmed and waits (next read in {format_duration(wait)})",
        )
        await _pause_between_reads(run, index, wait)


async def _pause_between_reads(run: RolloutRun, index: int | None, wait: timedelta) -> None:
    until = workflow.now() + wait
    if index is not None and run.state.record.steps:
        await watch(run, index, done=lambda: False, wake_at=lambda: until, deadline=until, summary="re-read policy")
        return
    with contextlib.suppress(TimeoutError):
        await workflow.wait_condition(
            lambda: run.interrupts.abort is not None, timeout=wait, timeout_summary="re-read policy"
        )
    run.raise_if_aborted()


def _remember(run: RolloutRun, key: str) -> None:
    """Refuse the key's later signatures too (bounded like the policy's own list)."""
    revoked = run.state.revoked
    if key not in revoked and len(revoked) < MAX_REVOKED:
        revoked.append(key)


def _drop_approval(run: RolloutRun, i: int, sha256: str) -> str:
    """Mark approval ``i`` of the record (and its step's copy) as no longer counting; returns who approved."""
    s = run.state
    entry = s.record.approvals[i]
    assert entry.key is not None
    reason = dropped_reason(entry.key, sha256)
    s.record.approvals[i] = entry.model_copy(update={"dropped": reason})
    for report in s.record.steps:
        if report.index != entry.step:
            continue
        for j, copy in enumerate(report.approvals):
            if copy.approver == entry.approver and copy.at == entry.at and copy.dropped is None:
                report.approvals[j] = copy.model_copy(update={"dropped": reason})
    if entry.step == s.step_index and entry.approver in s.approved_by:
        s.approved_by.remove(entry.approver)
    _remember(run, entry.key)
    run.note("approval dropped", f"{entry.approver} (signed {entry.key}) for step {entry.step + 1}: {reason}")
    return entry.approver


def _drop_override(run: RolloutRun, i: int, sha256: str) -> str:
    s = run.state
    entry = s.record.overrides[i]
    assert entry.key is not None
    reason = dropped_reason(entry.key, sha256)
    s.record.overrides[i] = entry.model_copy(update={"dropped": reason})
    _remember(run, entry.key)
    run.note("override dropped", f"{entry.approver} (signed {entry.key}) for step {entry.step + 1}: {reason}")
    return entry.approver


async def confirm_quorum(run: RolloutRun, index: int) -> bool:
    """True when the step's counted approvals still stand; else the revoked ones are dropped (and recorded).

    The caller then keeps waiting for the quorum.
    """
    s = run.state
    if not needs_reconfirmation(s.record.approvals, index):
        return True
    revoked, sha256 = await current_revocations(run, index)
    voided = revoked_approvals(s.record.approvals, index, revoked)
    for i in voided:
        _drop_approval(run, i, sha256)
    if voided:
        run.upsert()
    return not voided


async def confirm_override(run: RolloutRun, index: int) -> bool:
    """True when the step's override still stands; otherwise drop it (recorded) and put the step back on hold."""
    s = run.state
    counted = [o for o in s.record.overrides if o.step == index and o.dropped is None]
    if not counted or counted[-1].key is None:
        return True
    revoked, sha256 = await current_revocations(run, index)
    i = revoked_override(s.record.overrides, index, revoked)
    if i is None:
        return True
    _drop_override(run, i, sha256)
    report = s.record.steps[-1]
    report.evidence = "inconclusive" if report.analyses else "none"
    s.awaiting_decision = True
    run.upsert()
    return False


async def confirm_final(run: RolloutRun) -> None:
    """Before the candidate goes to 100%: every signed decision it rests on must still stand.

    The spec's own signature, each step's approval quorum, each override. An earlier step cannot be decided
    again, so a revocation that leaves one short rolls back (the tighter choice) instead of promoting.
    """
    record = run.state.record
    spec_key = record.policy.spec_signed_by if record.policy is not None else None
    signed = [a for a in record.approvals if a.dropped is None and a.key is not None]
    signed_overrides = [o for o in record.overrides if o.dropped is None and o.key is not None]
    if spec_key is None and not signed and not signed_overrides:
        return
    revoked, sha256 = await current_revocations(run, None)
    short: list[str] = []
    if spec_key is not None and spec_key in revoked:
        _remember(run, spec_key)
        short.append(f"the spec's signature ({run.spec.requested_by}, {spec_key})")
    quorum = run.spec.approvals.quorum if run.spec.approvals is not None else 0
    for step in sorted({a.step for a in signed}):
        voided = revoked_approvals(record.approvals, step, revoked)
        who = [_drop_approval(run, i, sha256) for i in voided]
        standing = {a.approver for a in record.approvals if a.step == step and a.dropped is None}
        if who and len(standing) < quorum:
            short.append(f"step {step + 1}'s quorum {quorum} (dropped: {', '.join(who)})")
    for i, o in enumerate(record.overrides):
        if o.dropped is None and o.key is not None and o.key in revoked:
            short.append(f"the override of step {o.step + 1} by {_drop_override(run, i, sha256)}")
    if short:
        raise RollbackNeeded(
            "revoked",
            f"keys revoked by policy {sha256[:12]} before the promotion void {'; '.join(short)}: the candidate is "
            "not promoted on them; start a new rollout once the decisions are signed with listed keys",
        )
