"""``RollbackDrill``: exercise a service's rollback path on its real target, between rollouts, and time it.

A rollback path that runs only when a bad candidate is live is tested at the worst moment. A drill, run by a
Temporal Schedule per service (``rollouts drill schedule``) or by hand (``rollouts drill run``):

1. reads the operators' policy and picks the target (the input's, else ``drill.target``), never an address of
   its own;
2. takes the service's lease as a rollout does, so it never races one; while a rollout holds it the drill is
   ``refused`` and ends (recorded, not retried: the next scheduled drill will run);
3. reads the router and refuses unless it rests on stable (100% / 0%), so it never undoes a promotion;
4. optionally gives the candidate side ``drill.weight`` percent for ``drill.dwell`` (a known-good version only);
5. runs the rollback call the rollout uses (``set_weights`` to 0%, read back and verified) and records the time
   from the call to verified stable in its result, its search attributes and its memo;
6. releases the lease and notifies the policy's webhooks (kind ``drill``) when slower than ``drill.target_seconds``
   or failed.

Terminated mid-drill, it is the lease's watcher that puts stable back (the lease request names the target's
router, which the watcher checks against the policy). The pure decisions are in ``workflows.drill_rules``.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.drill import DrillActivities
    from activities.policy import PolicyActivities
    from activities.rollout import RolloutActivities
    from models.activities import RouterState, SetWeightsInput
    from models.drill import (
        DRILL_WORKFLOW,
        MAX_DRILL_EVENTS,
        DrillEvent,
        DrillInput,
        DrillOutcome,
        DrillResult,
        ReadWeightsInput,
    )
    from models.lease import LeaseRequest
    from models.notifications import NotificationEvent, NotifyInput, NotifyResult
    from models.policy import GoverningPolicy, PolicyRequest
    from workflows import drill_rules as rules
    from workflows import search_attributes as sa
    from workflows.rollout import calls
    from workflows.rollout.context import activity_message, cause
    from workflows.rollout.governance import LOAD_POLICY_RETRY
    from workflows.rollout.rollback import shielded

ALREADY_RUNNING = "RolloutAlreadyRunning"
"""The lease activity's failure type when another workflow holds the service's lease."""
READ_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=5), maximum_attempts=3
)
MIN_ROLLBACK_BUDGET = timedelta(seconds=60)
"""The drill's rollback call gives up after its target time x 2, at least this: a drill holding the lease for ever
would block every rollout. (A moved weight is still put back, with the rollout's unbounded patience.)"""


@workflow.defn(name=DRILL_WORKFLOW)
class RollbackDrill:
    """One drill of one service's rollback path; returns its ``DrillResult`` (also its query ``result``)."""

    @workflow.init
    def __init__(self, raw: Any = None) -> None:
        service = raw.get("service") if isinstance(raw, dict) else None
        self._result = DrillResult(service=service if isinstance(service, str) else "")
        self._pending: list[workflow.ActivityHandle[NotifyResult]] = []
        self._sequence = 0

    @workflow.query
    def result(self) -> DrillResult:
        """The drill so far: outcome, time to verified stable, timeline."""
        return self._result

    @workflow.run
    async def run(self, raw: Any = None) -> DrillResult:
        """Validate, plan from the policy, take the lease, drill, grade, notify."""
        r = self._result
        r.started_at = workflow.now()
        try:
            request = rules.parse_input(raw)
        except rules.InvalidDrillInput as exc:
            r.outcome, r.detail, r.finished_at = "invalid", str(exc)[:900], workflow.now()
            self._publish()
            raise ApplicationError(str(exc), type="InvalidDrillInput", non_retryable=True) from None
        r.service = request.service
        governing, read = await self._policy(request)
        if read:
            await self._drill(request, governing)
        r.finished_at = workflow.now()
        if rules.notifies(r.outcome):
            self._notify(governing)
        if self._pending:
            await workflow.wait_condition(lambda: not self._pending)
        self._publish()
        return r

    async def _policy(self, request: DrillInput) -> tuple[GoverningPolicy | None, bool]:
        """The governing policy (None: the worker has none for the service), and whether it could be read."""
        try:
            loaded = await workflow.execute_activity_method(
                PolicyActivities.load_policy,
                PolicyRequest(service=request.service),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=LOAD_POLICY_RETRY,
                summary=f"policy of {request.service}",
            )
        except ActivityError as exc:
            self._end("failed", f"policy: {cause(exc)}")
            return None, False
        return loaded.policy, True

    async def _drill(self, request: DrillInput, governing: GoverningPolicy | None) -> None:
        r = self._result
        plan = rules.plan(request, governing)
        if isinstance(plan, str):
            self._end("invalid", plan)
            return
        r.target, r.target_seconds, r.weight = plan.target_name, plan.settings.target_seconds, plan.settings.weight
        self._publish()
        info = workflow.info()
        lease = LeaseRequest(
            service=request.service, holder=info.workflow_id, holder_run_id=info.run_id, router=plan.target.router
        )
        try:
            await calls.acquire_lease(lease, summary=f"lease of {request.service}: drill only between rollouts")
        except ActivityError as exc:
            held = isinstance(exc.cause, ApplicationError) and exc.cause.type == ALREADY_RUNNING
            self._end("refused" if held else "failed", activity_message(exc))
            return
        self._note("lease acquired", f"{request.service}: no rollout may start until the drill ends")
        try:
            await self._exercise(request, plan)
        finally:
            await shielded(calls.release_lease(lease, summary="lease: release"))
            self._note("lease released")

    async def _exercise(self, request: DrillInput, plan: rules.DrillPlan) -> None:
        r = self._result
        router = plan.target.router
        try:
            before = await workflow.execute_activity_method(
                DrillActivities.read_weights,
                ReadWeightsInput(router=router, service=request.service),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=READ_RETRY,
                summary="router: at rest on stable?",
            )
        except ActivityError as exc:
            self._end("failed", f"router unreadable: {cause(exc)}")
            return
        r.router_before = before
        if not rules.at_stable(before):
            self._end("refused", rules.not_at_rest(before))
            return
        moved = False
        try:
            if plan.settings.weight > 0:
                moved = True
                state = await calls.set_weights(
                    SetWeightsInput(router=router, service=request.service, candidate_weight=plan.settings.weight),
                    summary=f"drill: candidate side to {plan.settings.weight:g}%",
                )
                self._note("weight moved", f"stable {state.stable:g}% / candidate {state.candidate:g}%")
                await workflow.sleep(plan.settings.dwell, summary="drill: dwell before the rollback")
            started = workflow.now()
            self._note("rollback started", "set_weights to candidate 0%, read back")
            after = await self._roll_back(request, plan)
        except ActivityError as exc:
            if moved:
                await shielded(self._put_back(request, plan))
            self._end("failed", f"rollback path failed: {cause(exc)}")
            return
        except asyncio.CancelledError:
            if moved:
                await shielded(self._put_back(request, plan))
            raise
        seconds = (workflow.now() - started).total_seconds()
        r.router_after, r.seconds_to_stable = after, seconds
        verified = rules.at_stable(after)
        self._note("stable verified" if verified else "stable NOT verified", f"{seconds:.3f}s after the call")
        if not verified:
            self._end("failed", f"router read back stable {after.stable:g}% / candidate {after.candidate:g}%")
            return
        outcome = rules.grade(seconds, plan.settings.target_seconds)
        slower = "" if outcome == "passed" else f"slower than the target {plan.settings.target_seconds:g}s"
        self._end(outcome, slower)

    async def _roll_back(self, request: DrillInput, plan: rules.DrillPlan) -> RouterState:
        """The rollout's rollback call (``set_weights`` to 0%, verified), bounded so a dead router frees the lease."""
        budget = max(timedelta(seconds=2 * plan.settings.target_seconds), MIN_ROLLBACK_BUDGET)
        return await workflow.execute_activity_method(
            RolloutActivities.set_weights,
            SetWeightsInput(router=plan.target.router, service=request.service, candidate_weight=0.0),
            start_to_close_timeout=calls.CALLS["route_all_to_stable"].start_to_close,
            schedule_to_close_timeout=budget,
            retry_policy=calls.ROLLBACK_ROUTER_RETRY,
            summary="drill: stable to 100%",
        )

    async def _put_back(self, request: DrillInput, plan: rules.DrillPlan) -> None:
        """The drill moved a weight and its timed rollback failed: stable back with the rollout's patience."""
        state = await calls.route_all_to_stable(
            SetWeightsInput(router=plan.target.router, service=request.service, candidate_weight=0.0),
            summary="drill failed: stable to 100% (retried until verified)",
        )
        self._result.router_after = state
        self._note("stable restored", f"stable {state.stable:g}% / candidate {state.candidate:g}%")

    # ---------------------------------------------------------------- what operators read and receive

    def _note(self, event: str, detail: str = "") -> None:
        timeline = self._result.timeline
        if len(timeline) < MAX_DRILL_EVENTS:
            timeline.append(DrillEvent(at=workflow.now(), event=event, detail=detail[:500]))
        workflow.logger.info(event, extra={"detail": detail})

    def _end(self, outcome: DrillOutcome, detail: str) -> None:
        self._result.outcome = outcome
        self._result.detail = detail[:900]
        self._note(outcome, detail)

    def _publish(self) -> None:
        """Search attributes (the list's columns), the memo and Current Details, from the result alone."""
        r = self._result
        updates: list[Any] = [sa.DRILL_OUTCOME.value_set(r.outcome if r.finished_at else "running")]
        if r.service and len(r.service) <= 63:
            updates.append(sa.SERVICE.value_set(r.service))
        if r.seconds_to_stable is not None:
            updates.append(sa.DRILL_SECONDS.value_set(r.seconds_to_stable))
        workflow.upsert_search_attributes(updates)
        workflow.upsert_memo({"drill": r.summary()[:500]})
        workflow.set_current_details(rules.details(r))

    def _notify(self, governing: GoverningPolicy | None) -> None:
        """Tell every webhook that wants ``drill``; never awaited on the drill's path, counted as it ends."""
        if governing is None:
            return
        r = self._result
        hooks = [hook for hook in governing.policy.notifications if hook.wants("drill")]
        if not hooks:
            return
        self._sequence += 1
        event = NotificationEvent(
            kind="drill",
            rollout_id=workflow.info().workflow_id,
            sequence=self._sequence,
            service=r.service,
            stable_version="",
            candidate_version="",
            phase=r.outcome,
            at=workflow.now(),
            title=f"drill {r.outcome}" + (f" on {r.target}" if r.target else ""),
            detail=r.summary()[:1000],
            data={
                "outcome": r.outcome,
                "target": r.target,
                "seconds_to_stable": r.seconds_to_stable,
                "target_seconds": r.target_seconds,
                "weight": r.weight,
            },
        )
        for hook in hooks:
            handle = calls.start_notification(
                NotifyInput(webhook=hook, event=event), summary=f"notify drill: {hook.where()}"[:200]
            )
            self._pending.append(handle)
            handle.add_done_callback(self._count)

    def _count(self, done: workflow.ActivityHandle[NotifyResult]) -> None:
        if done in self._pending:
            self._pending.remove(done)
        if not done.cancelled() and done.exception() is None:
            self._result.notifications_sent += 1
        else:
            self._result.notifications_failed += 1
