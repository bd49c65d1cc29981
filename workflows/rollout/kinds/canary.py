"""A canary item: set the weight, observe, move on only on evidence or an override, optional approval.

Exactly the loop body the walker had before strategies, so a spec in the steps shape replays unchanged.
"""

from __future__ import annotations

from temporalio import workflow

from workflows.patch_epoch import patched

with workflow.unsafe.imports_passed_through():
    from models.strategy import CanaryStep
    from workflows.rollout.context import DECISION_PATCH, RolloutRun
    from workflows.rollout.steps import await_approval, decide, end_step, observe, start_step


async def run(run: RolloutRun, index: int, step: CanaryStep) -> None:
    """One canary step, from setting its weight (unless already set in this or an earlier run) to its end."""
    s = run.state
    if s.step_index != index or not s.step_applied:
        await start_step(run, index, step)
    await observe(run, index, step)
    if patched(DECISION_PATCH):
        await decide(run, index, step)
    if step.approval:
        await await_approval(run, index)
    end_step(run, index)
