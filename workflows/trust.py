"""The trust boundary's pure rules: how long a pause may last, and which counted decisions a revocation voids.

Pure (policy and record in, answers out) so the workflow and the unit tests share them. A policy change may only
tighten a running rollout: of a policy file read again mid-rollout, only the ``revoked`` list is taken.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from models.policy import DEFAULT_MAX_PAUSE, GoverningPolicy
from models.record import ApprovalEntry, OverrideEntry

PauseAction = Literal["rollback", "hold"]


@dataclass(frozen=True)
class PauseLimit:
    """How long a pause may last and what happens then."""

    max_pause: timedelta
    action: PauseAction


LAB_PAUSE_LIMIT = PauseLimit(DEFAULT_MAX_PAUSE, "rollback")
"""Without a policy (a lab worker): a day, then roll back. A spec cannot change it: it is the operators' bound."""


def pause_limit(policy: GoverningPolicy | None) -> PauseLimit:
    """The bound the operators set for this rollout's pauses."""
    if policy is None:
        return LAB_PAUSE_LIMIT
    return PauseLimit(policy.policy.max_pause, policy.policy.on_max_pause)


def pause_deadline(paused_at: datetime | None, limit: PauseLimit) -> datetime | None:
    """When the current pause reaches its bound; None when not paused."""
    return None if paused_at is None else paused_at + limit.max_pause


def revoked_approvals(approvals: Sequence[ApprovalEntry], step: int, revoked: Collection[str]) -> list[int]:
    """Indexes of the step's counted approvals signed by a key now revoked (unsigned ones have no key to revoke)."""
    return [
        i
        for i, a in enumerate(approvals)
        if a.step == step and a.dropped is None and a.key is not None and a.key in revoked
    ]


def revoked_override(overrides: Sequence[OverrideEntry], step: int, revoked: Collection[str]) -> int | None:
    """Index of the step's counted override when its key is now revoked, else None."""
    for i in range(len(overrides) - 1, -1, -1):
        o = overrides[i]
        if o.step == step and o.dropped is None:
            return i if o.key is not None and o.key in revoked else None
    return None


def needs_reconfirmation(approvals: Sequence[ApprovalEntry], step: int) -> bool:
    """Whether any counted approval of the step is signed: only a signed one can be voided by a revocation."""
    return any(a.step == step and a.dropped is None and a.key is not None for a in approvals)


def dropped_reason(key: str, policy_sha256: str) -> str:
    """What the record says of a decision whose key was revoked."""
    return f"key {key} revoked by policy {policy_sha256[:12]}; it no longer counts"
