"""Test-only workflows around the lease: a holder that takes it as an old rollout would, and a broken deploy.

They live in their own module so the workflow sandbox imports nothing but Temporal and our models.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.lease import LeaseActivities
    from models.lease import LeaseRequest
    from models.spec import RouterSpec


class HolderInput(BaseModel):
    """What the test holder takes the lease with."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str
    router: RouterSpec | None = None
    continue_as_new: bool = False
    """Continue-as-new once after acquiring, then re-acquire from the new run (as a long rollout does)."""


@workflow.defn(name="LeaseTestHolder")
class LeaseTestHolder:
    """Takes the service's lease and holds it until told to fail (or is terminated); never releases it."""

    def __init__(self) -> None:
        self._fail: str | None = None

    @workflow.run
    async def run(self, request: HolderInput) -> None:
        info = workflow.info()
        await workflow.execute_activity_method(
            LeaseActivities.acquire_lease,
            LeaseRequest(
                service=request.service, holder=info.workflow_id, holder_run_id=info.run_id, router=request.router
            ),
            start_to_close_timeout=timedelta(seconds=30),
        )
        if request.continue_as_new:
            workflow.continue_as_new(request.model_copy(update={"continue_as_new": False}))
        await workflow.wait_condition(lambda: self._fail is not None)
        raise ApplicationError(f"holder gave up: {self._fail}", non_retryable=True)

    @workflow.signal
    def fail(self, reason: str) -> None:
        self._fail = reason


@workflow.defn(name="Rollout")
class BrokenRollout:
    """A bad deploy of the ``Rollout`` type: every workflow task fails, so running rollouts are stuck."""

    @workflow.run
    async def run(self, spec: Any, carried: Any = None) -> Any:
        raise RuntimeError("broken deploy: the Rollout code cannot run (test)")
