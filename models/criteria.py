"""Success criteria and hard rollback triggers: written before a rollout starts, fixed for its whole life."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Criteria(BaseModel):
    """Pre-registered success criteria comparing the candidate with stable on the same window."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    quality_drop_max: float = Field(
        default=0.02, ge=0, le=1, description="Candidate mean quality may be at most this much below stable's."
    )
    latency_p95_ratio_max: float = Field(
        default=1.1, gt=0, description="Candidate p95 latency may be at most this multiple of stable's."
    )
    error_rate_ratio_max: float = Field(
        default=1.2, gt=0, description="Candidate error rate may be at most this multiple of stable's."
    )
    min_requests: int = Field(
        default=500, ge=1, description="Candidate requests needed in a step before a criterion may fail or pass."
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Budget for rolling back a candidate that meets every criterion, over the whole rollout, "
        "however often it is analysed (used by the sequential judge).",
    )


class RollbackTriggers(BaseModel):
    """Hard safety net: breached once the minimum sample is in, the rollout rolls back at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    error_rate_ratio: float = Field(
        default=2.0, gt=1, description="Roll back at once when candidate error rate exceeds this multiple of stable's."
    )
    latency_p95_ratio: float = Field(
        default=1.5, gt=1, description="Roll back at once when candidate p95 latency exceeds this multiple of stable's."
    )
