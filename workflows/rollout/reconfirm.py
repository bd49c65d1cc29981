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


async def confirm_quorum(run: RolloutRun, index: int) -> bool:
    """True when the step's counted approvals still stand; otherwise drop the revoked ones (recorded) and say so."""
    s = run.state
    if not needs_reconfirmation(s.record.approvals, index):
        return True
    revoked, sha256 = await current_revocations(run, index)
    voided = revoked_approvals(s.record.approvals, index, revoked)
    if not voided:
        return True
    report = s.record.steps[-1]
    for i in voided:
        entry = s.record.approvals[i]
        assert entry.key is not None
        reason = dropped_reason(entry.key, sha256)
        s.record.approvals[i] = entry.model_copy(update={"dropped": reason})
        for j, copy in enumerate(report.approvals):
            if copy.approver == entry.approver and copy.at == entry.at and copy.dropped is None:
                report.approvals[j] = copy.model_copy(update={"dropped": reason})
        if entry.approver in s.approved_by:
            s.approved_by.remove(entry.approver)
        _remember(run, entry.key)
        run.note("approval dropped", f"{entry.approver} (signed {entry.key}): {reason}; waiting for the quorum")
    run.upsert()
    return False


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
    entry = s.record.overrides[i]
    assert entry.key is not None
    reason = dropped_reason(entry.key, sha256)
    s.record.overrides[i] = entry.model_copy(update={"dropped": reason})
    report = s.record.steps[-1]
    report.evidence = "inconclusive" if report.analyses else "none"
    s.awaiting_decision = True
    _remember(run, entry.key)
    run.note("override dropped", f"{entry.approver} (signed {entry.key}): {reason}; the step waits for a decision")
    run.upsert()
    return False


async def confirm_final(run: RolloutRun) -> None:
    """Before the candidate goes to 100%: the spec's own signing key must not have been revoked meanwhile."""
    s = run.state
    key = s.record.policy.spec_signed_by if s.record.policy is not None else None
    if key is None:
        return
    revoked, sha256 = await current_revocations(run, None)
    if key in revoked:
        _remember(run, key)
        raise RollbackNeeded(
            "revoked",
            f"the spec's signing key {key} ({run.spec.requested_by}) was revoked by policy {sha256[:12]}: the "
            "rollout is no longer authorised; sign the spec again with a listed key and start a new rollout",
        )
