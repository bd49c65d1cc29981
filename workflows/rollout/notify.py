"""Notifications from a rollout: build the event, start one delivery per webhook, count how they ended.

Never on the rollout's path. A delivery is an activity that the workflow *starts* and does not await: its
handle's done-callback (run by the workflow's own event loop, from the completion event in history, so replay
sees the same count) adds one to ``notifications_sent`` or ``notifications_failed``. Nothing the rollout decides
waits for a receiver, and a receiver's failure raises nowhere.

Two places wait for deliveries still in flight, both after every decision is taken, because a workflow that
closes (or continues as new) abandons its running activities and their outcome would be lost: the end of the
rollout, after the lease is released (so the next rollout of the service is not kept waiting), and just before
continue-as-new. Each delivery is bounded by ``calls.NOTIFY_SCHEDULE_TO_CLOSE``, so neither wait is longer.

The webhooks are the operators' (``ServicePolicy.notifications``, read at start and kept in the state); a spec
has no say. Behind ``NOTIFY_PATCH``: a rollout started before it sends nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.notifications import MAX_DATA_ENTRIES, EventKind, NotificationEvent, NotifyInput, NotifyResult
    from models.phases import Phase
    from workflows.rollout import calls
    from workflows.rollout.state import RolloutState

MAX_TITLE = 200
MAX_DETAIL = 1_000


@dataclass
class Deliveries:
    """Deliveries in flight in this run (handles are not state: they cannot be carried across continue-as-new)."""

    pending: list[workflow.ActivityHandle[NotifyResult]] = field(default_factory=list)


def notify(
    state: RolloutState, deliveries: Deliveries, kind: EventKind, title: str, detail: str = "", **data: Any
) -> None:
    """Tell every webhook that wants ``kind``; returns at once. No policy, no webhook, or an older rollout: nothing."""
    if not state.notify_patch or state.policy is None:
        return
    hooks = [hook for hook in state.policy.policy.notifications if hook.wants(kind)]
    if not hooks:
        return
    state.notify_sequence += 1
    record = state.record
    event = NotificationEvent(
        kind=kind,
        rollout_id=record.rollout_id,
        sequence=state.notify_sequence,
        service=record.service,
        stable_version=record.stable.version,
        candidate_version=record.candidate.version,
        phase=state.phase.value,
        at=workflow.now(),
        title=title[:MAX_TITLE],
        detail=detail[:MAX_DETAIL],
        data=dict(list(data.items())[:MAX_DATA_ENTRIES]),
    )
    for hook in hooks:
        handle = calls.start_notification(
            NotifyInput(webhook=hook, event=event), summary=f"notify {kind} #{event.sequence}: {hook.where()}"[:200]
        )
        deliveries.pending.append(handle)
        handle.add_done_callback(lambda done: _count(state, deliveries, done))


def _count(state: RolloutState, deliveries: Deliveries, done: workflow.ActivityHandle[NotifyResult]) -> None:
    """A delivery ended: count it. Reading its exception here is what marks a failure as handled."""
    if done in deliveries.pending:
        deliveries.pending.remove(done)
    if not done.cancelled() and done.exception() is None:
        state.record.notifications_sent += 1
    else:
        state.record.notifications_failed += 1


async def drain(state: RolloutState, deliveries: Deliveries, *, unless: Callable[[], bool] | None = None) -> None:
    """Wait for the deliveries in flight (each bounded by its schedule-to-close timeout); none: no wait at all.

    ``unless``: stop waiting as soon as it holds (an abort before a continue-as-new), deliveries still in flight.
    """
    if deliveries.pending:
        stop = unless or (lambda: False)
        await workflow.wait_condition(lambda: not deliveries.pending or stop())


def on_phase(state: RolloutState, deliveries: Deliveries, phase: Phase, detail: str) -> None:
    """The event a move to ``phase`` makes: its own kind for approvals, holds and rollbacks, else ``phase``."""
    record = state.record
    if phase is Phase.AWAITING_APPROVAL:
        deadline = state.approval_deadline.isoformat() if state.approval_deadline is not None else None
        command = f"rollouts approve {record.rollout_id} --key <path-to-your-ssh-key>"
        notify(
            state,
            deliveries,
            "approval_requested",
            f"step {state.step_index + 1} waits for approval",
            detail,
            deadline=deadline,
            command=command,
            approved_by=list(state.approved_by),
        )
    elif phase is Phase.INCONCLUSIVE:
        notify(
            state,
            deliveries,
            "held",
            f"step {state.step_index + 1} held: evidence inconclusive",
            detail,
            held_since=state.held_since.isoformat() if state.held_since else None,
        )
    elif phase is Phase.ROLLING_BACK:
        rollback = record.rollback
        cause = rollback.cause if rollback is not None else "unknown"
        notify(
            state,
            deliveries,
            "rollback",
            f"rolling back ({cause})",
            detail,
            cause=cause,
            by=rollback.by if rollback is not None else None,
            reason=rollback.reason if rollback is not None else "",
        )
    else:
        notify(state, deliveries, "phase", f"phase {phase.value}", detail, weight=state.weight)
