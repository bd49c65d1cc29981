"""An analysis item: judge at the current weight for a duration, then move on only on evidence (as a canary)."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.durations import format_duration
    from models.strategy import AnalysisStep
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.kinds.held import at_weight, begin
    from workflows.rollout.steps import decide, end_step, observe


async def run(run: RolloutRun, index: int, item: AnalysisStep) -> None:
    """More evidence at the weight the previous canary set; a failure rolls back, inconclusive extends or holds."""
    begin(
        run, index, "analysis", item.duration, f"analysis at {run.state.weight:g}% for {format_duration(item.duration)}"
    )
    step = at_weight(run, item.duration)
    await observe(run, index, step)
    await decide(run, index, step)
    end_step(run, index)
