"""One running rollout per service: a lease workflow per service, ``rollout-lease-<service>``.

Temporal's workflow-id uniqueness makes the lease strongly consistent, where a visibility query for running
rollouts would race. The holder is a rollout's workflow id, so the same rollout re-acquires it after
continue-as-new. A holder that died without releasing (terminated) is taken over by the next acquirer once the
acquiring activity has seen that the holder is closed.
"""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.lease import LEASE_WORKFLOW, LeaseHolder, LeaseRequest


@workflow.defn(name=LEASE_WORKFLOW)
class RolloutLease:
    """Holds the right to roll out one service; ends when released."""

    def __init__(self) -> None:
        self._holder: str | None = None
        self._holder_run_id: str | None = None
        self._released = False

    @workflow.run
    async def run(self, service: str) -> None:
        """Live until released: the workflow's existence is the lease."""
        await workflow.wait_condition(lambda: self._released and workflow.all_handlers_finished())

    @workflow.update
    def acquire(self, request: LeaseRequest) -> LeaseHolder:
        """Take the lease (the validator refuses it while another rollout holds it)."""
        self._holder, self._holder_run_id, self._released = request.holder, request.holder_run_id, False
        return LeaseHolder(holder=self._holder, holder_run_id=self._holder_run_id)

    @acquire.validator
    def _acquire_allowed(self, request: LeaseRequest) -> None:
        if self._released:
            raise ValueError("lease released: start a new one")
        if self._holder is None or self._holder == request.holder or request.take_over_from == self._holder:
            return
        raise ValueError(f"held by {self._holder} (run {self._holder_run_id})")

    @workflow.query
    def holder(self) -> LeaseHolder:
        """Who holds the lease now."""
        return LeaseHolder(holder=self._holder, holder_run_id=self._holder_run_id)

    @workflow.signal
    def release(self, holder: str) -> None:
        """Give the lease back; only its holder can."""
        if holder == self._holder:
            self._holder = self._holder_run_id = None
            self._released = True
