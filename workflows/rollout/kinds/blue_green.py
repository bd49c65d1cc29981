"""A blue-green item: the candidate idle beside stable, previewed by the spec's gates, then one cutover.

By the time the walker reaches this item the gates (preflight, eval, shadow) have run against the candidate's own
endpoint with no user traffic, and passed: a failed gate rolled back before. The item itself moves nothing; with
``approval`` it waits for the quorum first (its own step report at 0%, as an approval item's). The cutover to
100% and the watch that always follows are the watch kind's (``kinds.watch``).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.strategy import BlueGreenStep
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.kinds.held import begin
    from workflows.rollout.steps import await_approval, end_step


async def run(run: RolloutRun, index: int, item: BlueGreenStep) -> None:
    """Record that the preview passed; with ``approval``, wait for the quorum; the next item (a watch) cuts over."""
    s = run.state
    if not item.approval:
        _previewed(run)
        s.step_index, s.step_applied = index + 1, False
        return
    if s.step_index != index or not s.step_applied:  # a continued run finds the report open and the note taken
        _previewed(run)
    begin(run, index, item.kind, None, "blue-green: approval before the cutover, the candidate idle")
    await await_approval(run, index)
    end_step(run, index)


def _previewed(run: RolloutRun) -> None:
    gates = ", ".join(f"{gate.name} passed" for gate in run.state.record.gates) or "no gate"
    run.note("blue-green preview", f"candidate idle beside stable, checked on its own endpoint: {gates}")
