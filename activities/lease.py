"""Acquire and release the per-service rollout lease (the ``RolloutLease`` workflow, started by name)."""

from __future__ import annotations

from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from models.lease import LEASE_WORKFLOW, LeaseHolder, LeaseRequest, lease_id


class LeaseActivities:
    """The lease activities; they hold the Temporal client because the lease is itself a workflow.

    It is started by name on the worker's own task queue, so activities need not import workflow code.
    """

    def __init__(self, client: Client, task_queue: str) -> None:
        self._client = client
        self._task_queue = task_queue

    @activity.defn(name="acquire_lease")
    async def acquire_lease(self, request: LeaseRequest) -> LeaseHolder:
        """Take the service's lease, or fail (non-retryable) naming the rollout that holds it."""
        handle = await self._client.start_workflow(
            LEASE_WORKFLOW,
            request.service,
            id=lease_id(request.service),
            task_queue=self._task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            static_summary=f"lease: one running rollout of {request.service}",
        )
        try:
            holder: LeaseHolder = await handle.execute_update("acquire", request, result_type=LeaseHolder)
            return holder
        except WorkflowUpdateFailedError as exc:
            reason = str(exc.cause)
            if "lease released" in reason:
                raise ApplicationError("lease was closing; retrying", type="LeaseClosing") from exc
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

    @activity.defn(name="release_lease")
    async def release_lease(self, request: LeaseRequest) -> None:
        """Release if still held by this rollout; a lease that is already gone is fine."""
        handle = self._client.get_workflow_handle(lease_id(request.service))
        try:
            await handle.signal("release", request.holder)
        except RPCError:
            return

    async def _running(self, workflow_id: str) -> bool:
        """The holder's latest run (it may have continued-as-new) is still running."""
        try:
            description = await self._client.get_workflow_handle(workflow_id).describe()
        except RPCError:
            return False
        return description.status == WorkflowExecutionStatus.RUNNING

    def all(self) -> list[object]:
        """Every lease activity, bound to this client: the list the worker registers, kept beside the definitions."""
        return [self.acquire_lease, self.release_lease]
