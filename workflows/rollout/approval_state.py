"""The approval state as data, for the operator view: who approved the waiting step, how, what is missing.

Pure (spec and state in, model out), so the ``status`` query and any UI can show it without reading the record.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from models.phases import Phase
from models.record import ApprovalEntry
from models.spec import RolloutSpec
from workflows.rollout.state import RolloutState


class ApprovalState(BaseModel):
    """Approvals of the current step and the policy that judges them."""

    waiting: bool = Field(description="A step is waiting for its approval quorum now.")
    step: int | None = Field(description="1-based step the approvals are for; None when no step waits.")
    quorum: int = Field(description="Distinct approvals needed; 0 when the spec asks for none.")
    approvers: list[str] = Field(description="Who may approve, as the spec lists them (within the policy).")
    received: list[ApprovalEntry] = Field(description="Approvals of this step, each verified or not.")
    missing: int = Field(description="Approvals still needed while waiting; 0 otherwise.")
    deadline: datetime | None = Field(description="When the wait times out (on_timeout applies).")
    signed: bool | None = Field(
        description="True: only signed decisions count; False: the policy allows unsigned (marked unverified); "
        "None: the rollout predates policies."
    )
    policy_sha256: str | None = Field(description="SHA-256 of the policy file that governs the rollout.")
    policy_scope: str | None = Field(description="services.<name> or default.")


def approval_state(spec: RolloutSpec, s: RolloutState) -> ApprovalState:
    """The approval state of the rollout as it is now."""
    waiting = s.phase is Phase.AWAITING_APPROVAL
    quorum = spec.approvals.quorum if spec.approvals else 0
    received = [a for a in s.record.approvals if a.step == s.step_index] if waiting else []
    policy = s.record.policy
    return ApprovalState(
        waiting=waiting,
        step=s.step_index + 1 if waiting else None,
        quorum=quorum,
        approvers=list(spec.approvals.approvers) if spec.approvals else [],
        received=received,
        missing=max(quorum - len(set(s.approved_by)), 0) if waiting else 0,
        deadline=s.approval_deadline if waiting else None,
        signed=None if not s.governed else not (s.policy is not None and s.policy.policy.allow_unsigned),
        policy_sha256=None if policy is None else policy.sha256,
        policy_scope=None if policy is None else policy.scope,
    )
