"""An approval item: wait for the spec's approval quorum at the current weight, analyses going on."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.strategy import ApprovalStep
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.kinds.held import begin
    from workflows.rollout.steps import await_approval, end_step


async def run(run: RolloutRun, index: int, item: ApprovalStep) -> None:
    """The existing approval machinery (quorum, timeout policy, revoked keys) as a step of its own."""
    begin(run, index, item.kind, None, f"approval at {run.state.weight:g}%")
    await await_approval(run, index)
    end_step(run, index)
