"""A blue-green item: the candidate idle beside stable, previewed by the spec's gates, then one cutover.

By the time the walker reaches this item the gates (preflight, eval, shadow) have run against the candidate's own
endpoint with no user traffic, and passed: a failed gate rolled back before. The item itself moves nothing; the
cutover to 100% and the watch that always follows are the watch kind's (``kinds.watch``).
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.strategy import BlueGreenStep
    from workflows.rollout.context import RolloutRun


async def run(run: RolloutRun, index: int, item: BlueGreenStep) -> None:
    """Record that the preview passed; the next item (a watch) cuts over."""
    s = run.state
    gates = ", ".join(f"{gate.name} passed" for gate in s.record.gates) or "no gate"
    run.note("blue-green preview", f"candidate idle beside stable, checked on its own endpoint: {gates}")
    s.step_index, s.step_applied = index + 1, False
