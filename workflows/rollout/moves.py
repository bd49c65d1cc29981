"""Manual moves in the workflow: accept a signed ``skip``/``full`` (record it), and make it where the walk waits.

A handler may not move the walk itself (it runs between the walker's awaits), so an accepted move is kept in the
state (``move_pending``, carried through continue-as-new) and the walk makes it at its next wait: the analysis
loop raises ``MoveRequested``, the walker closes the current item's report, leaves out the items up to the
target and goes on there (or, for ``full``, to 100% and the watch). Pure rules: ``workflows.moves``.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.phases import Phase
    from models.record import ManualMove
    from workflows.approvals import Accepted, Full, Skip
    from workflows.moves import MoveContext, describe, move_context
    from workflows.rollout.bounds import keep_proof
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.plan import plan_of, split_watch
    from workflows.rollout.state import RolloutState

MOVES_PATCH = "manual-moves"
"""Rollouts started under it accept ``skip`` and ``full``; older ones refuse them, as they always did."""

_IN_ITEM = frozenset({Phase.CANARY, Phase.AWAITING_APPROVAL, Phase.INCONCLUSIVE})


class MoveRequested(Exception):
    """Raised where the walk waits: an accepted move is to be made now."""


def context(run: RolloutRun) -> MoveContext | None:
    """What a move is judged by now; None for rollouts started before the patch."""
    s = run.state
    if not s.moves_patch:
        return None
    before, _ = split_watch(plan_of(run.spec))
    in_item = (
        s.phase in _IN_ITEM
        and s.step_applied
        and not s.watching
        and s.window_wait is None
        and s.step_index < len(before)
    )
    return move_context(before, s.step_index, in_item=in_item, pending=_pending(s))


def _pending(s: RolloutState) -> str | None:
    if s.move_pending is None or not s.record.moves:
        return None
    return describe(s.record.moves[-1].to_step)


def accept(run: RolloutRun, accepted: Accepted) -> str:
    """Record the move with who, why and its proof; the walk makes it at its next wait."""
    s = run.state
    signal = accepted.signal
    assert isinstance(signal, Skip | Full)
    before, _ = split_watch(plan_of(run.spec))
    to = signal.to if isinstance(signal, Skip) else None
    s.move_pending = (to - 1) if to is not None else len(before)
    s.record.moves.append(
        ManualMove(
            decision="skip" if to is not None else "full",
            from_step=s.step_index + 1,
            to_step=to,
            by=signal.by,
            reason=signal.reason,
            at=workflow.now(),
            verified=accepted.verified,
            key=accepted.fingerprint,
            proof=keep_proof(s.record, accepted.proof),
        )
    )
    signed = (
        ""
        if accepted.verified is None
        else (f" (signed {accepted.fingerprint})" if accepted.verified else " (unverified)")
    )
    run.note(f"move {describe(to)}", f"{signal.by}{signed} from step {s.step_index + 1}: {signal.reason}")
    return f"{describe(to)} accepted from {signal.by}: the walk moves at its next wait"


def raise_if_moved(run: RolloutRun) -> None:
    """Where the walk waits: make an accepted move now."""
    if run.state.move_pending is not None:
        raise MoveRequested


def make(run: RolloutRun, index: int, count: int) -> int:
    """Make the pending move from item ``index``: close its report, leave out the items before the target.

    Returns the item the walk goes on with (``count``: 100%). A move whose target the walk already reached (it
    finished items while the move waited) lands where the walk is.
    """
    s = run.state
    target, s.move_pending = s.move_pending, None
    move = s.record.moves[-1]
    now = workflow.now()
    if target is None or target <= index:
        move.made_at = now
        run.note("move made", f"the walk is already at step {index + 1}")
        return index
    if s.step_applied and s.record.steps and s.record.steps[-1].index == index:
        report = s.record.steps[-1]
        report.ended_at = now
        report.observed_seconds = s.clock.observed(now).total_seconds()
    move.left_out = list(range(index + 1, target + 1))
    move.made_at = now
    s.step_index, s.step_applied = target, False
    s.approved_by, s.approval_deadline = [], None
    s.awaiting_decision, s.held_since = False, None
    left = ", ".join(str(n) for n in move.left_out) or "none"
    where = "100%" if target >= count else f"step {target + 1}"
    run.note("move made", f"{move.decision} by {move.by}: steps left out {left}; the walk goes on at {where}")
    if s.phase is not Phase.CANARY:
        run.enter(Phase.CANARY, f"moved by {move.by} to {where}")
    return target
