"""Messages of the per-service rollout lease (the ``RolloutLease`` workflow in ``workflows.lease``)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.activities import RouterState
from models.spec import RouterSpec

LEASE_WORKFLOW = "RolloutLease"
"""The lease workflow's type name; activities start it by name, so they need not import workflow code."""

STUCK_TASK_ATTEMPTS = 5
"""A holder whose pending workflow task has failed this many attempts is stuck: the lease terminates it and
puts stable back. Each attempt replays the same code on the same history, so a fifth failure is not bad luck."""


WATCH_QUEUE_SUFFIX = "-lease-watchers"


def watch_queue(task_queue: str) -> str:
    """Where the watchers of the leases on ``task_queue`` run: every worker serves both, each with its own slots."""
    return task_queue + WATCH_QUEUE_SUFFIX


def lease_id(service: str) -> str:
    """The lease's workflow id: Temporal's id uniqueness is what makes the lease exclusive."""
    return f"rollout-lease-{service}"


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LeaseRequest(_Model):
    """A rollout asking for, or giving back, its service's lease."""

    service: str
    holder: str
    holder_run_id: str
    take_over_from: str | None = None
    router: RouterSpec | None = Field(
        default=None,
        description="The holder's router, so the lease can put stable back at 100% if the holder ends without "
        "a decision (terminated, timed out, failing). None from rollouts started before the lease watched.",
    )


class LeaseHolder(_Model):
    """Who holds the lease now (both None when nobody does)."""

    holder: str | None
    holder_run_id: str | None


HolderEndingKind = Literal["completed", "failed", "canceled", "terminated", "timed_out", "task_failing", "vanished"]
"""How a holder's workflow ended. ``task_failing``: the lease terminated it because its workflow task kept
failing. ``vanished``: its history is gone (retention), so how it ended is unknown."""


class WatchHolderInput(_Model):
    """What the lease's watcher waits on: the holder's workflow id, from the run that took the lease on."""

    service: str
    holder: str
    holder_run_id: str = Field(description="The run to follow from; continue-as-new runs are followed.")
    stuck_task_attempts: int = Field(
        default=STUCK_TASK_ATTEMPTS,
        ge=2,
        description="Terminate the holder when its workflow task reaches this attempt.",
    )


class HolderEnding(_Model):
    """How the watched holder ended: the ``watch_holder`` activity's result."""

    holder: str
    run_id: str = Field(description="The run that ended: the last of ``runs``.")
    runs: list[str] = Field(description="Every run followed, first to last (continue-as-new chains them).")
    kind: HolderEndingKind
    reason: str = Field(description="What the close event says: termination reason, failure message, ...")
    by: str | None = Field(default=None, description="Who terminated or cancelled it, if the server says.")
    ended_at: datetime | None = None


class OrphanRollback(_Model):
    """The lease's compensation after its holder ended without releasing it.

    This is where an operator finds why the candidate went back to 0% with no decision in the rollout's record.
    """

    service: str
    holder: str
    holder_run_id: str
    ended: HolderEndingKind
    reason: str
    by: str | None = None
    compensated: bool = Field(description="The lease called the router (False: no router known).")
    router_verified: bool | None = Field(
        description="The router read back stable 100% / candidate 0%; None when the router could not be called."
    )
    router: RouterState | None = Field(default=None, description="The weights the router read back.")
    note: str = ""
    started_at: datetime
    finished_at: datetime
    duration_seconds: float


class LeaseEvent(_Model):
    """One line of the lease's timeline."""

    at: datetime
    event: str
    detail: str = ""


class LeaseReport(BaseModel):
    """The lease workflow's result (and its ``report`` query): who held it, and how it ended."""

    model_config = ConfigDict(extra="forbid")

    service: str
    watched: bool = Field(description="The lease watched its holders (leases started before the watcher did not).")
    ended_by: Literal["running", "released", "holder_ended"] = "running"
    orphan_rollback: OrphanRollback | None = None
    timeline: list[LeaseEvent] = Field(default_factory=list)
