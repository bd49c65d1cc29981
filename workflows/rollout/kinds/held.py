"""What the items that stay at the current weight share: a step report of their own, the clock restarted.

The judge is not restarted: an analysis or a pause adds evidence to the canary step before it.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.phases import Phase
    from models.record import StepReport
    from models.strategy import Step
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.plan import plan_of


def begin(run: RolloutRun, index: int, kind: str, duration: timedelta | None, detail: str) -> None:
    """Open the item's report at the current weight, once (a continued run finds it open)."""
    s = run.state
    if s.step_index == index and s.step_applied:
        return
    s.step_index, s.step_applied = index, False
    run.enter(Phase.CANARY, f"step {index + 1}/{len(plan_of(run.spec))}: {detail}")
    now = workflow.now()
    seconds = duration.total_seconds() if duration is not None else 0.0
    s.record.steps.append(StepReport(index=index, kind=kind, weight=s.weight, observe_seconds=seconds, started_at=now))
    s.clock.observed_before, s.clock.running_since = 0.0, None
    if s.paused_by is None:
        s.clock.start(now)
    s.approved_by, s.approval_deadline = [], None
    s.awaiting_decision, s.held_since = False, None
    s.step_applied = True
    run.upsert()


def at_weight(run: RolloutRun, duration: timedelta) -> Step:
    """The item as a step at the current weight, for the canary machinery's observe and decide."""
    return Step(weight=run.state.weight or 100.0, observe=duration)
