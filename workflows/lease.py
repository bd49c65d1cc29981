"""One running rollout per service: a lease workflow per service, ``rollout-lease-<service>``.

Temporal's workflow-id uniqueness makes the lease strongly consistent, where a visibility query for running
rollouts would race. The holder is a rollout's workflow id, so the same rollout re-acquires it after
continue-as-new. A holder that died without releasing (terminated) is taken over by the next acquirer once the
acquiring activity has seen that the holder is closed.

Since the ``lease-watcher`` patch the lease also watches its holder (ADR 11): a long ``watch_holder`` activity
waits for the holder's workflow to close. If it closes without releasing the lease and without completing
(terminated, timed out, failed, cancelled, or terminated by the watcher because its workflow task kept failing),
the lease puts stable back at 100% on the holder's router, verified, records why, and ends. Leases that were
already running when the patch was deployed keep the old behaviour to their end.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.patch_epoch import LEASE_EPOCH, begin, patched

with workflow.unsafe.imports_passed_through():
    from activities.lease import WATCH_UNSUPPORTED, LeaseActivities
    from activities.policy import PolicyActivities
    from models.activities import RouterState, SetWeightsInput
    from models.lease import (
        LEASE_WORKFLOW,
        STUCK_TASK_ATTEMPTS,
        HolderEnding,
        LeaseEvent,
        LeaseHolder,
        LeaseReport,
        LeaseRequest,
        OrphanRollback,
        WatchHolderInput,
        watch_queue,
    )
    from models.policy import RouterCheck
    from workflows import search_attributes as sa
    from workflows.rollout import calls
    from workflows.rollout.context import cause
    from workflows.rollout.rollback import shielded

LEASE_WATCHER_PATCH = "lease-watcher"
"""Leases started before this patch never watch: their histories have no ``watch_holder`` activity."""
LEASE_TRUSTED_ROUTER_PATCH = "lease-trusted-router"
"""Before putting stable back on the router a lease request carried, ask the worker whether the operators' policy
defines (or allows) it: an ``acquire`` update is anyone's to send, so its router is a requester's input."""
LEASE_WATCH_QUEUE_PATCH = "lease-watch-queue"
"""The watch runs on its own task queue (``watch_queue``), served by a worker with its own slots (issue 24): a
watcher holds its slot for the holder's whole life, and on the rollouts' queue 1,000 of them would take the slots
that counter reads, router calls and rollbacks need. Leases started before this patch watch on the main queue."""

WATCH_START_TO_CLOSE = timedelta(hours=24)
"""An attempt that reaches this simply starts the watch again (retries are unlimited)."""
WATCH_HEARTBEAT = timedelta(seconds=30)
"""A worker that died mid-watch is noticed within this, and the watch restarts on another worker (leases started
before ``lease-watch-slow-heartbeat``)."""
LEASE_SLOW_HEARTBEAT_PATCH = "lease-watch-slow-heartbeat"
"""The watch heartbeats every minute against a 3-minute timeout (``WATCH_SLOW_HEARTBEAT``), not every 10 s against
30 s: a lease lives as long as its rollout, so its heartbeats were most of the rollout's cost on the server and in
Temporal Cloud actions (issue 24)."""
WATCH_SLOW_HEARTBEAT = timedelta(minutes=3)
"""A worker that died mid-watch is noticed within this. The holder is still followed meanwhile by nothing: a holder
that ends while its watcher's worker is dead is compensated when the watch restarts, up to this late. The trade is
taken because losing the watcher's worker and the holder together is the rare double failure, while the heartbeat
is paid by every lease every minute."""
WATCH_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=10), maximum_attempts=0
)
"""Never give up watching: a failed attempt (worker shutdown, server unavailable) just restarts the watch."""
WATCH_RELEASE_GRACE = timedelta(seconds=5)
"""After a release the holder closes within moments: the watcher is given this long to report it."""
WATCH_FAILED_PAUSE = timedelta(seconds=10)
"""Should the watch fail for good anyway (it cannot with unlimited retries), wait this long and watch again."""
ORPHAN = "holder ended without releasing"


@workflow.defn(name=LEASE_WORKFLOW)
class RolloutLease:
    """Holds the right to roll out one service; ends when released, or when its holder ends without releasing."""

    @workflow.init
    def __init__(self, service: str) -> None:
        self.patches_taken = begin(LEASE_EPOCH)  # first of all: the patches this lease takes under one marker
        self._holder: str | None = None
        self._holder_run_id: str | None = None
        self._request: LeaseRequest | None = None
        self._released = False
        self._closing = False
        self._report = LeaseReport(service=service, watched=False)

    @workflow.run
    async def run(self, service: str) -> LeaseReport | None:
        """Wait for the release; if patched, watch each holder meanwhile and compensate for an orphaned one."""
        if not patched(LEASE_WATCHER_PATCH):
            await workflow.wait_condition(lambda: self._released and workflow.all_handlers_finished())
            return None
        self._report.watched = True
        workflow.upsert_search_attributes([sa.SERVICE.value_set(service)])
        self._show()
        while not self._released:
            await workflow.wait_condition(lambda: self._released or self._request is not None)
            if self._released or self._request is None:
                break
            ending = await self._watch(self._request)
            if ending is None:
                continue  # released, or another holder took over: watch again or end
            if ending.holder != self._holder or self._holder_run_id not in ending.runs:
                self._note(
                    "stale watch", f"{ending.holder} run {ending.run_id} {ending.kind}; now held by {self._holder}"
                )
                continue
            await shielded(self._holder_ended(self._request, ending))
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._report.ended_by == "running":
            self._report.ended_by = "released"
        self._show()
        return self._report

    async def _watch(self, request: LeaseRequest) -> HolderEnding | None:
        """Run the watcher until the holder ends; None if the lease was released or changed hands first."""
        queue = watch_queue(workflow.info().task_queue) if patched(LEASE_WATCH_QUEUE_PATCH) else None
        watch = workflow.start_activity_method(
            LeaseActivities.watch_holder,
            WatchHolderInput(
                service=request.service,
                holder=request.holder,
                holder_run_id=request.holder_run_id,
                stuck_task_attempts=STUCK_TASK_ATTEMPTS,
            ),
            start_to_close_timeout=WATCH_START_TO_CLOSE,
            heartbeat_timeout=WATCH_SLOW_HEARTBEAT if patched(LEASE_SLOW_HEARTBEAT_PATCH) else WATCH_HEARTBEAT,
            retry_policy=WATCH_RETRY,
            summary=f"watch {request.holder}",
            task_queue=queue,
        )
        await workflow.wait_condition(lambda: watch.done() or self._released or self._holder != request.holder)
        if not watch.done():
            # Released or taken over: the holder closes right after, so the watcher is let report that rather than
            # cancelled mid-poll (a cancelled activity's late completion is logged by the worker as not found).
            try:
                await workflow.wait_condition(watch.done, timeout=WATCH_RELEASE_GRACE)
            except TimeoutError:
                watch.cancel()
                return None
        try:
            ending = watch.result()
        except ActivityError as exc:
            if self._released or self._holder != request.holder:
                return None
            if isinstance(exc.cause, ApplicationError) and exc.cause.type == WATCH_UNSUPPORTED:
                self._note("not watched", cause(exc))
                await workflow.wait_condition(lambda: self._released or self._holder != request.holder)
                return None
            self._note("watch failed", f"{cause(exc)}; watching again in {WATCH_FAILED_PAUSE}")
            await workflow.sleep(WATCH_FAILED_PAUSE, summary="watch failed: pause")
            return None
        if self._released or self._holder != request.holder:
            self._note("holder closed", f"{ending.holder} run {ending.run_id}: {ending.kind}")
            return None
        return ending

    async def _holder_ended(self, request: LeaseRequest, ending: HolderEnding) -> None:
        """The holder closed without releasing: stable back to 100% unless it completed, then end the lease."""
        self._closing = True
        started = workflow.now()
        by = f" by {ending.by}" if ending.by else ""
        self._note(ORPHAN, f"{ending.holder} run {ending.run_id}: {ending.kind}{by}: {ending.reason}", logging.WARNING)
        self._show()
        state: RouterState | None = None
        note = ""
        if ending.kind == "completed":
            note = "the holder completed: nothing to put back"
            self._note("nothing to put back", "the holder completed")
        elif request.router is None:
            note = "no router known (the holder started before leases watched): put stable back at 100% by hand"
            self._note("no router known", note, logging.ERROR)
        elif patched(LEASE_TRUSTED_ROUTER_PATCH) and (refusal := await self._untrusted(request)):
            note = f"{refusal}; put stable back at 100% by hand if {ending.holder} had moved traffic"
            self._note("router refused", note, logging.ERROR)
        else:
            state = await self._route_all_to_stable(request, ending)
        finished = workflow.now()
        verified = None if state is None else state.candidate == 0.0 and state.stable == 100.0
        self._report.orphan_rollback = OrphanRollback(
            service=request.service,
            holder=ending.holder,
            holder_run_id=ending.run_id,
            ended=ending.kind,
            reason=ending.reason,
            by=ending.by,
            compensated=state is not None,
            router_verified=verified,
            router=state,
            note=note,
            started_at=started,
            finished_at=finished,
            duration_seconds=(finished - started).total_seconds(),
        )
        if state is not None:
            self._note(
                "stable at 100%",
                f"router read back stable {state.stable:g}% / candidate {state.candidate:g}% "
                f"{(finished - started).total_seconds():.3f}s after the lease saw {ending.holder} end",
                logging.WARNING,
            )
        self._report.ended_by = "holder_ended"
        self._holder = self._holder_run_id = self._request = None
        self._released = True
        self._show()

    async def _untrusted(self, request: LeaseRequest) -> str | None:
        """Why the request's router may not be called (not among the operators' targets), or None when it may."""
        assert request.router is not None
        try:
            verdict = await workflow.execute_activity_method(
                PolicyActivities.check_router,
                RouterCheck(service=request.service, router=request.router),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=RetryPolicy(maximum_interval=timedelta(seconds=30), maximum_attempts=10),
                summary="is this router the operators'?",
            )
        except ActivityError as exc:
            return f"the policy could not be read to check the router: {cause(exc)}"
        return None if verdict.allowed else verdict.note

    async def _route_all_to_stable(self, request: LeaseRequest, ending: HolderEnding) -> RouterState:
        """As the rollout's own rollback: retried until the router confirms, even after a non-retryable error."""
        assert request.router is not None
        failures = 0
        while True:
            try:
                return await calls.route_all_to_stable(
                    SetWeightsInput(router=request.router, service=request.service, candidate_weight=0.0),
                    summary=f"{ending.holder} {ending.kind}: stable to 100%",
                )
            except ActivityError as exc:
                failures += 1
                self._note("router call failed", f"{cause(exc)}; retrying (attempt {failures + 1})")
                await workflow.sleep(
                    min(timedelta(seconds=2**failures), timedelta(seconds=30)), summary="orphan rollback: backoff"
                )

    # ---------------------------------------------------------------- handlers

    @workflow.update
    def acquire(self, request: LeaseRequest) -> LeaseHolder:
        """Take the lease (first holder, the same holder after continue-as-new, or over a closed holder)."""
        if self._holder is None:
            self._note("acquired", f"{request.holder} (run {request.holder_run_id})")
        elif self._holder != request.holder:
            self._note("taken over", f"from {self._holder} (closed) by {request.holder} (run {request.holder_run_id})")
        elif self._holder_run_id != request.holder_run_id:
            self._note("re-acquired", f"{request.holder} run {request.holder_run_id}")
        self._holder, self._holder_run_id, self._released = request.holder, request.holder_run_id, False
        self._request = request
        self._show()
        return LeaseHolder(holder=self._holder, holder_run_id=self._holder_run_id)

    @acquire.validator
    def _acquire_allowed(self, request: LeaseRequest) -> None:
        if self._closing:
            raise ValueError("lease released: its last holder ended without releasing it; start a new one")
        if self._released:
            raise ValueError("lease released: start a new one")
        if self._holder is None or self._holder == request.holder or request.take_over_from == self._holder:
            return
        raise ValueError(f"held by {self._holder} (run {self._holder_run_id})")

    @workflow.query
    def holder(self) -> LeaseHolder:
        """Who holds the lease now."""
        return LeaseHolder(holder=self._holder, holder_run_id=self._holder_run_id)

    @workflow.query
    def report(self) -> LeaseReport:
        """The lease's timeline and, once its holder ended without releasing, the orphan rollback."""
        return self._report

    @workflow.signal
    def release(self, holder: str) -> None:
        """The holder gives the lease back; the lease then ends."""
        if holder == self._holder and not self._closing:
            self._note("released", holder)
            self._holder = self._holder_run_id = self._request = None
            self._released = True
            self._show()

    # ---------------------------------------------------------------- what operators read

    def _note(self, event: str, detail: str = "", level: int = logging.INFO) -> None:
        """A line in the lease's timeline and, once it watches, in the workflow log."""
        self._report.timeline.append(LeaseEvent(at=workflow.now(), event=event, detail=detail))
        if self._report.watched:
            workflow.logger.log(
                level, f"{event}: {detail}" if detail else event, extra={"service": self._report.service}
            )

    def _show(self) -> None:
        """Current Details, from the report (only once the lease watches: older leases never set them)."""
        if self._report.watched:
            workflow.set_current_details(details(self._report, self._holder, self._holder_run_id))


def details(report: LeaseReport, holder: str | None, holder_run_id: str | None) -> str:
    """Current Details of the lease (Markdown): who holds it, or why it ended."""
    orphan = report.orphan_rollback
    if orphan is not None:
        by = f" by `{orphan.by}`" if orphan.by else ""
        lines = [
            f"**Lease of {report.service}**: ended, holder `{orphan.holder}` **{orphan.ended}**{by} "
            "without releasing it",
            f"run `{orphan.holder_run_id}`: {orphan.reason}",
        ]
        if orphan.router is not None:
            verified = "**verified**" if orphan.router_verified else "**NOT verified**"
            lines.append(
                f"router: stable {orphan.router.stable:g}% / candidate {orphan.router.candidate:g}%, {verified}, "
                f"{orphan.duration_seconds:.3f}s after the lease saw the ending "
                f"({orphan.finished_at:%Y-%m-%d %H:%M:%S} UTC)"
            )
        if orphan.note:
            lines.append(
                f"**{orphan.note}**" if not orphan.compensated and orphan.ended != "completed" else orphan.note
            )
        return "\n\n".join(lines)
    if holder is not None:
        return f"**Lease of {report.service}**: held by `{holder}` (run `{holder_run_id}`), watched"
    if report.ended_by == "released":
        return f"**Lease of {report.service}**: released"
    return f"**Lease of {report.service}**: free"
