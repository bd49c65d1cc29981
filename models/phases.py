"""The phases a rollout goes through, as shown in the ``RolloutPhase`` search attribute and the status query."""

from __future__ import annotations

from enum import StrEnum


class Phase(StrEnum):
    """Where a rollout is; the search attribute ``RolloutPhase`` holds its value."""

    VALIDATING = "validating"
    PREFLIGHT = "preflight"
    SHADOW = "shadow"
    CANARY = "canary"
    AWAITING_APPROVAL = "awaiting_approval"
    INCONCLUSIVE = "inconclusive"
    """The step observed its time (and any extensions) without every criterion passing: held for evidence,
    a person's override or an abort."""
    PROMOTING = "promoting"
    PROMOTED = "promoted"
    ROLLING_BACK = "rolling_back"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"

    @property
    def is_final(self) -> bool:
        """Nothing moves any more: signals are refused as meaningless."""
        return self in {Phase.PROMOTED, Phase.ROLLED_BACK, Phase.FAILED}

    @property
    def can_roll_back(self) -> bool:
        """Phases in which abort or reject still mean something (the candidate has not taken over yet)."""
        return self in {
            Phase.VALIDATING,
            Phase.PREFLIGHT,
            Phase.SHADOW,
            Phase.CANARY,
            Phase.AWAITING_APPROVAL,
            Phase.INCONCLUSIVE,
        }
