"""A pause item: hold at the current weight, still judged, until a signed promote or the pause's duration.

A pause without a duration is a hold for a person: ``promote`` (signed where the policy asks) ends it, ``abort``
rolls back, and after ``on_inconclusive.hold_max`` it rolls back by itself, as any hold does.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.durations import format_duration
    from models.strategy import PauseStep
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.interrupts import RollbackNeeded
    from workflows.rollout.kinds.held import begin
    from workflows.rollout.reconfirm import confirm_override
    from workflows.rollout.steps import end_step, watch


async def run(run: RolloutRun, index: int, item: PauseStep) -> None:
    """Analyses go on (a failure rolls back); a promote (an override in the record) or the duration ends it."""
    s = run.state
    until = format_duration(item.duration) if item.duration is not None else "a signed promote"
    begin(run, index, item.kind, item.duration, f"pause at {s.weight:g}% until {until}")
    report = s.record.steps[-1]
    s.awaiting_decision = True  # a promote is meaningful now: it ends the pause
    if s.held_since is None:
        s.held_since = workflow.now()
    deadline = s.held_since + run.spec.on_inconclusive.hold_max
    duration = item.duration

    def done() -> bool:
        return report.evidence == "override" or (duration is not None and s.clock.observed(workflow.now()) >= duration)

    def wake_at() -> datetime | None:
        if duration is None or s.clock.running_since is None:
            return deadline
        end = workflow.now() + (duration - s.clock.observed(workflow.now()))
        return min(end, deadline)

    while True:
        if not await watch(run, index, done=done, wake_at=wake_at, deadline=deadline, summary=f"pause: until {until}"):
            raise RollbackNeeded(
                "inconclusive",
                f"step {index + 1} paused {format_duration(run.spec.on_inconclusive.hold_max)} without a decision",
            )
        # A promote counts only while its signer's key does: a revocation puts the pause back (as for a held step).
        if not s.trust_operations or report.evidence != "override" or await confirm_override(run, index):
            break
    s.awaiting_decision, s.held_since = False, None
    end_step(run, index)
