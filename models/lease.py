"""Messages of the per-service rollout lease (the ``RolloutLease`` workflow in ``workflows.lease``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.spec import RouterSpec

LEASE_WORKFLOW = "RolloutLease"
"""The lease workflow's type name; activities start it by name, so they need not import workflow code."""


def lease_id(service: str) -> str:
    """The lease's workflow id: Temporal's id uniqueness is what makes the lease exclusive."""
    return f"rollout-lease-{service}"


class LeaseRequest(BaseModel):
    """A rollout asking for, or giving back, its service's lease."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service: str
    holder: str
    holder_run_id: str
    take_over_from: str | None = None
    router: RouterSpec | None = Field(
        default=None,
        description="The holder's router, so the lease can put stable back at 100% if the holder ends without "
        "a decision (terminated, timed out, failing). None from rollouts started before the lease watched.",
    )


class LeaseHolder(BaseModel):
    """Who holds the lease now (both None when nobody does)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    holder: str | None
    holder_run_id: str | None
