"""Compensation: stable back to 100%, verified, whatever went wrong; shielded from cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models.activities import RouterState, SetWeightsInput
    from models.phases import Phase
    from models.record import RollbackReport
    from workflows.rollout import calls
    from workflows.rollout.context import ROUTER_COMPENSATION, RolloutRun, cause
    from workflows.rollout.interrupts import RollbackNeeded


async def shielded(work: Coroutine[Any, Any, None]) -> None:
    """Run ``work`` to its end even if the workflow is cancelled meanwhile (rollback, lease release)."""
    task = asyncio.create_task(work)
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.done():
                break
            workflow.logger.warning("cancellation ignored until this step is done")
    task.result()


async def roll_back(run: RolloutRun, rollback: RollbackNeeded) -> None:
    """Run the registered compensations, router first, and record how long stable took to come back."""
    s = run.state
    started = workflow.now()
    s.record.rollback = RollbackReport(cause=rollback.cause, by=rollback.by, reason=rollback.reason, started_at=started)
    s.clock.stop(started)
    if s.record.steps and s.record.steps[-1].ended_at is None:
        # The step did not end, but what it observed (before waiting on approval, say) was observed.
        s.record.steps[-1].observed_seconds = s.clock.observed(started).total_seconds()
    run.enter(Phase.ROLLING_BACK, f"{rollback.cause}: {rollback.reason}")
    done: list[str] = []
    # Router first whatever the registration order: stable at 100% is what users need back.
    pending = sorted(reversed(s.compensations), key=lambda name: name != ROUTER_COMPENSATION)
    for name in pending:
        if name == ROUTER_COMPENSATION:
            state = await route_all_to_stable(run)
            s.weight = state.candidate
            s.record.final_weight = state.candidate
            s.record.rollback.router_verified = state.candidate == 0.0
        done.append(name)
    s.compensations = []
    finished = workflow.now()
    s.record.rollback.finished_at = finished
    s.record.rollback.duration_seconds = (finished - started).total_seconds()
    s.record.rollback.compensations = done
    s.record.outcome = "cancelled" if rollback.cause == "cancelled" else "rolled_back"
    run.enter(Phase.ROLLED_BACK, f"stable at 100% after {s.record.rollback.duration_seconds:.3f}s")


async def route_all_to_stable(run: RolloutRun) -> RouterState:
    """Stable at 100%, verified; retried until the router confirms.

    Even after a non-retryable error (say nginx refused a config an outside hand broke): a rollback has no state
    to give up in.
    """
    spec = run.spec
    failures = 0
    while True:
        try:
            return await calls.route_all_to_stable(
                SetWeightsInput(router=run.router(), service=spec.service, candidate_weight=0.0),
                summary="rollback: stable to 100%",
            )
        except ActivityError as exc:
            failures += 1
            run.note("rollback router call failed", f"{cause(exc)}; retrying (attempt {failures + 1})")
            await workflow.sleep(
                min(timedelta(seconds=2**failures), timedelta(seconds=30)), summary="rollback: retry backoff"
            )
