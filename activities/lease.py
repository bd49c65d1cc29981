"""The per-service rollout lease's activities: acquire, release, and watch the holder.

The lease is itself a workflow (``RolloutLease``), started by name, so this module imports no workflow code.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, timedelta
from typing import Any

import structlog
from google.protobuf.empty_pb2 import Empty
from temporalio import activity
from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.enums.v1 import TimeoutType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryReverseRequest
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowExecutionStatus,
    WorkflowFailureError,
    WorkflowHistoryEventAsyncIterator,
    WorkflowHistoryEventFilterType,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from models.lease import (
    LEASE_WORKFLOW,
    HolderEnding,
    HolderEndingKind,
    LeaseHolder,
    LeaseRequest,
    WatchHolderInput,
    lease_id,
)

CLOSING_WAIT = timedelta(seconds=20)
"""How long one acquire waits for a closing lease to end (inside the activity's 30 s): an orphan rollback on a
router that answers takes a second or two; the activity's retries wait again, so the whole wait stays bounded."""
WATCH_UNSUPPORTED = "WatchUnsupported"
"""The failure type of a watch that cannot run here: the lease then waits for the release, unwatched."""
WATCH_TICK = timedelta(seconds=60)
"""How often the watcher heartbeats and looks at the holder's pending workflow task, at most: a third of the
attempt's heartbeat timeout when that is shorter (leases started before ``lease-watch-slow-heartbeat`` give 30 s).
The holder's close is not polled: a long poll on its history returns the moment it closes, so the tick only bounds
how soon a holder whose workflow task keeps failing is seen, and the server's own retries of that task take tens of
seconds to reach ``STUCK_TASK_ATTEMPTS``. Every running rollout has a watcher, so the tick sets what waiting costs:
at 10 s, 1,000 idle rollouts made 100 describes and 100 heartbeats a second, which cost their worker most of the
half core it used while the rollouts only waited, and the heartbeats were most of a rollout's Temporal Cloud
actions (issue 24)."""


def watch_tick(heartbeat_timeout: timedelta | None) -> timedelta:
    """The tick for an attempt given ``heartbeat_timeout``: ``WATCH_TICK``, or a third of the timeout if shorter.

    Three ticks per timeout, so one late heartbeat (a slow describe, a busy worker) does not end the attempt.
    """
    if heartbeat_timeout is None or heartbeat_timeout <= timedelta(0):
        return WATCH_TICK
    return min(WATCH_TICK, heartbeat_timeout / 3)


def _log() -> structlog.stdlib.BoundLogger:
    info = activity.info()
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("activities")
    return logger.bind(workflow_id=info.workflow_id, activity_type=info.activity_type, attempt=info.attempt)


class LeaseActivities:
    """The lease activities; they hold the Temporal client because the lease is itself a workflow.

    It is started by name on the worker's own task queue, so activities need not import workflow code.
    """

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue
        self._time_skipping: bool | None = None
        self._with_start: bool | None = None
        """Whether the server takes update-with-start (None until the first acquire asks)."""

    @activity.defn(name="acquire_lease")
    async def acquire_lease(self, request: LeaseRequest) -> LeaseHolder:
        """Take the service's lease, or fail (non-retryable) naming the rollout that holds it.

        A lease that is closing (its last holder ended without releasing it, and the lease is putting stable back
        at 100%) is waited for, up to ``CLOSING_WAIT``, and then a fresh one is taken: a rollout started right
        after the previous one was terminated (an interrupted ``make run`` started again) runs instead of
        failing. Longer than that, the activity fails retryably (``LeaseClosing``) and its retries wait again.
        """
        try:
            return await self._acquire_once(request)
        except ApplicationError as exc:
            if exc.type != "LeaseClosing":
                raise
            closing = self._client.get_workflow_handle(lease_id(request.service))
            try:
                await asyncio.wait_for(closing.result(), timeout=CLOSING_WAIT.total_seconds())
            except (TimeoutError, WorkflowFailureError, RPCError):
                raise exc from None
            return await self._acquire_once(request)

    async def _acquire_once(self, request: LeaseRequest) -> LeaseHolder:
        handle = self._client.get_workflow_handle(lease_id(request.service))
        try:
            return await self._start_and_acquire(request)
        except WorkflowUpdateFailedError as exc:
            reason = str(exc.cause)
            if "lease released" in reason:
                raise ApplicationError(f"lease was closing ({reason}); retrying", type="LeaseClosing") from exc
            current = await handle.query("holder", result_type=LeaseHolder)
            if current.holder and not await self._running(current.holder):
                taken: LeaseHolder = await handle.execute_update(
                    "acquire",
                    LeaseRequest(**{**request.model_dump(), "take_over_from": current.holder}),
                    result_type=LeaseHolder,
                )
                return taken
            raise ApplicationError(
                f"service {request.service!r} already has a running rollout: {current.holder} "
                f"(run {current.holder_run_id}); abort it or wait for it to finish",
                {"holder": current.holder, "holder_run_id": current.holder_run_id},
                type="RolloutAlreadyRunning",
                non_retryable=True,
            ) from exc
        except RPCError as exc:  # the lease closed between start and update: a retry starts a fresh one
            raise ApplicationError(f"lease unavailable: {exc}", type="LeaseClosing") from exc

    @staticmethod
    def _lease_texts(service: str) -> tuple[str, str]:
        """The lease's summary and details in the UI, whichever call starts it."""
        return (
            f"lease: one running rollout of {service}",
            f"Not a rollout: the lease of service `{service}`. It admits one running `Rollout` at a time (a second "
            "one fails with `RolloutAlreadyRunning`) and watches the holder: if the holder is terminated, times out "
            "or fails, it puts stable back at 100%, verified. The list's "
            '`WorkflowType="Rollout"` query leaves leases out.',
        )

    async def _start_and_acquire(self, request: LeaseRequest) -> LeaseHolder:
        """Start the lease if none runs and send it the ``acquire`` update: as one update-with-start call.

        One call rather than a start and then an update, so a new lease's first workflow task takes the update
        too: one task instead of two for each rollout's first lease, half of a lease's work in a burst of starts
        (issue 24). A server without update-with-start (the Java time-skipping test server) answers UNIMPLEMENTED
        once; this worker then starts and updates in two calls, as before.
        """
        summary, details = self._lease_texts(request.service)
        lease, queue, reuse = lease_id(request.service), self._task_queue, WorkflowIDConflictPolicy.USE_EXISTING
        if self._with_start is not False:
            operation: WithStartWorkflowOperation[Any, Any] = WithStartWorkflowOperation(
                LEASE_WORKFLOW,
                request.service,
                id=lease,
                task_queue=queue,
                id_conflict_policy=reuse,
                static_summary=summary,
                static_details=details,
            )
            try:
                holder: LeaseHolder = await self._client.execute_update_with_start_workflow(
                    "acquire", request, start_workflow_operation=operation, result_type=LeaseHolder
                )
            except RPCError as exc:
                if exc.status != RPCStatusCode.UNIMPLEMENTED:
                    raise
                self._with_start = False
            else:
                self._with_start = True
                return holder
        handle = await self._client.start_workflow(
            LEASE_WORKFLOW,
            request.service,
            id=lease,
            task_queue=queue,
            id_conflict_policy=reuse,
            static_summary=summary,
            static_details=details,
        )
        started: LeaseHolder = await handle.execute_update("acquire", request, result_type=LeaseHolder)
        return started

    @activity.defn(name="release_lease")
    async def release_lease(self, request: LeaseRequest) -> None:
        """Release if still held by this rollout; a lease that is already gone is fine."""
        handle = self._client.get_workflow_handle(lease_id(request.service))
        try:
            await handle.signal("release", request.holder)
        except RPCError:
            return

    @activity.defn(name="watch_holder")
    async def watch_holder(self, request: WatchHolderInput) -> HolderEnding:
        """Wait until the holder's workflow closes, following continue-as-new, and say how it ended.

        Every ``watch_tick`` it heartbeats and describes the holder: a pending workflow task at attempt
        ``stuck_task_attempts`` or more means its code fails on its own history, so the watcher terminates it
        (naming why) and reports ``task_failing``. When the worker shuts down the attempt fails at once, so the
        retry resumes the watch on another worker instead of holding up the shutdown.
        """
        if await self._skips_time():
            raise ApplicationError(
                "not watched: this is the time-skipping test server, which cannot skip time while an activity runs",
                type=WATCH_UNSUPPORTED,
                non_retryable=True,
            )
        runs = [request.holder_run_id]
        closed = asyncio.create_task(self._close_of(request.holder, runs))
        shutdown = asyncio.create_task(activity.wait_for_worker_shutdown())
        tick = watch_tick(activity.info().heartbeat_timeout).total_seconds()
        terminated_for: str | None = None
        try:
            while True:
                await asyncio.wait({closed, shutdown}, timeout=tick, return_when=asyncio.FIRST_COMPLETED)
                if closed.done():
                    ending = closed.result()
                    if terminated_for is not None and ending.kind == "terminated":
                        ending = ending.model_copy(update={"kind": "task_failing", "reason": terminated_for})
                    _log().info("holder ended", holder=request.holder, run_id=ending.run_id, ended=ending.kind)
                    return ending
                if shutdown.done():
                    raise ApplicationError("worker shutting down: the watch resumes on another worker", type="Shutdown")
                activity.heartbeat(runs[-1])
                if terminated_for is None:
                    terminated_for = await self._terminate_if_stuck(request, runs[-1])
        finally:
            for task in (closed, shutdown):
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await closed

    async def _close_of(self, holder: str, runs: list[str]) -> HolderEnding:
        """Long-poll each run's close event, appending the runs that continued it to ``runs``."""
        while True:
            handle = self._client.get_workflow_handle(holder, run_id=runs[-1])
            try:
                event = await _close_event(
                    handle.fetch_history_events(
                        wait_new_event=True,
                        event_filter_type=WorkflowHistoryEventFilterType.CLOSE_EVENT,
                        skip_archival=True,
                    )
                )
            except RPCError as exc:
                if exc.status != RPCStatusCode.NOT_FOUND:
                    raise
                return HolderEnding(
                    holder=holder, run_id=runs[-1], runs=runs, kind="vanished", reason=f"history not found: {exc}"
                )
            if event is None:
                continue  # the long poll timed out with the run still open: poll again
            kind, reason, by, next_run = _classify(event)
            if next_run:
                runs.append(next_run)
                continue
            return HolderEnding(
                holder=holder,
                run_id=runs[-1],
                runs=list(runs),
                kind=kind,
                reason=reason,
                by=by or None,
                ended_at=event.event_time.ToDatetime(tzinfo=UTC) if event.HasField("event_time") else None,
            )

    async def _terminate_if_stuck(self, request: WatchHolderInput, run_id: str) -> str | None:
        """Terminate the holder's run if its workflow task keeps failing; the reason given, else None."""
        handle = self._client.get_workflow_handle(request.holder, run_id=run_id)
        try:
            description = await handle.describe()
        except RPCError:
            return None  # closed or gone: the close event says how
        raw = description.raw_description
        if description.status != WorkflowExecutionStatus.RUNNING or not raw.HasField("pending_workflow_task"):
            return None
        attempt = raw.pending_workflow_task.attempt
        if attempt < request.stuck_task_attempts:
            return None
        timed_out, failure = await self._streak_start(request.holder, run_id)
        if timed_out:
            return None  # a busy or hung worker, not code failing on its history: not the lease's to judge
        reason = (
            f"workflow task failing: attempt {attempt} (limit {request.stuck_task_attempts})"
            + (f", last error: {failure}" if failure else "")
            + f"; terminated by {lease_id(request.service)} to put stable back at 100%"
        )
        try:
            await handle.terminate(reason=reason)
        except RPCError as exc:
            if exc.status != RPCStatusCode.NOT_FOUND:
                raise
            return None
        _log().warning("holder terminated: workflow task failing", holder=request.holder, attempt=attempt)
        return reason

    async def _streak_start(self, workflow_id: str, run_id: str) -> tuple[bool, str]:
        """How the run's current streak of workflow task attempts began: (timed out, failure message).

        Only the streak's first attempt is in history, as the latest task failed or timed out event.
        """
        token = b""
        for _ in range(10):
            try:
                response = await self._client.workflow_service.get_workflow_execution_history_reverse(
                    GetWorkflowExecutionHistoryReverseRequest(
                        namespace=self._client.namespace,
                        execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
                        maximum_page_size=100,
                        next_page_token=token,
                    )
                )
            except RPCError:
                return False, ""
            for event in response.history.events:
                if event.HasField("workflow_task_failed_event_attributes"):
                    return False, event.workflow_task_failed_event_attributes.failure.message[:300]
                timed_out = event.workflow_task_timed_out_event_attributes
                if event.HasField("workflow_task_timed_out_event_attributes") and (
                    timed_out.timeout_type == TimeoutType.TIMEOUT_TYPE_START_TO_CLOSE
                ):
                    return True, ""  # a worker took the task and never answered (a sticky queue's timeout is not)
            token = response.next_page_token
            if not token:
                break
        return False, ""

    async def _skips_time(self) -> bool:
        """Whether the server is the Java time-skipping test server (only it answers the test service)."""
        if self._time_skipping is None:
            try:
                await self._client.test_service.get_current_time(Empty())
                self._time_skipping = True
            except RPCError:
                self._time_skipping = False
        return self._time_skipping

    async def _running(self, workflow_id: str) -> bool:
        """The holder's latest run (it may have continued-as-new) is still running."""
        try:
            description = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            return False
        return description.status == WorkflowExecutionStatus.RUNNING

    def all(self) -> list[object]:
        """Every lease activity, bound to this client: the list the worker registers, kept beside the definitions."""
        return [self.acquire_lease, self.release_lease, self.watch_holder]


async def _close_event(events: WorkflowHistoryEventAsyncIterator) -> HistoryEvent | None:
    """The close event of a close-event long poll, or None if the poll ended with the run still open."""
    async for event in events:
        return event
    return None


def _classify(event: HistoryEvent) -> tuple[HolderEndingKind, str, str, str]:
    """(kind, reason, by, next run id) of a close event; a next run id means the chain goes on."""
    if event.HasField("workflow_execution_completed_event_attributes"):
        done = event.workflow_execution_completed_event_attributes
        return "completed", "completed", "", done.new_execution_run_id
    if event.HasField("workflow_execution_failed_event_attributes"):
        failed = event.workflow_execution_failed_event_attributes
        return "failed", failed.failure.message or "failed", "", failed.new_execution_run_id
    if event.HasField("workflow_execution_timed_out_event_attributes"):
        timed_out = event.workflow_execution_timed_out_event_attributes
        return "timed_out", "run or execution timeout reached", "", timed_out.new_execution_run_id
    if event.HasField("workflow_execution_terminated_event_attributes"):
        terminated = event.workflow_execution_terminated_event_attributes
        return "terminated", terminated.reason or "terminated (no reason given)", terminated.identity, ""
    if event.HasField("workflow_execution_canceled_event_attributes"):
        return "canceled", "cancellation requested", "", ""
    if event.HasField("workflow_execution_continued_as_new_event_attributes"):
        return (
            "completed",
            "continued as new",
            "",
            event.workflow_execution_continued_as_new_event_attributes.new_execution_run_id,
        )
    raise RuntimeError(f"not a close event: {event.event_type}")
