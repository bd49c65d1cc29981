"""Success criteria and hard rollback triggers: written before a rollout starts, fixed for its whole life.

Both models are strict like the rest of the spec: a number is a JSON number (never ``true`` or ``"10"``), finite,
and within a range a person could mean.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.custom_metrics import MAX_CUSTOM_CRITERIA, CustomCriterion
from models.limits import MAX_ERROR_RATE_MARGIN

MAX_RATIO = 100.0
"""Largest ratio a criterion or trigger may allow (candidate over stable). A latency or error-rate ratio of 100
already accepts a candidate a hundred times worse; larger values only hide a typo or a disabled check."""
DEFAULT_UNTESTABLE_RATIO_MAX = 1.5
"""Default ``accept_untestable_ratio_max``: an accepted untestable p95 must still resolve a 1.5x regression (issue
19: on power-of-two buckets a 1.5x p95 regression was promoted in 39 of 40 runs once the criterion was accepted)."""

MAX_MIN_REQUESTS = 1_000_000_000
"""Largest ``min_requests``: a billion requests in one step is beyond any canary; the bound keeps the judge's
arithmetic on the sample sizes ordinary."""

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


class Criteria(BaseModel):
    """Pre-registered success criteria comparing the candidate with stable on the same window."""

    model_config = _STRICT

    quality_drop_max: float = Field(
        default=0.02, ge=0, le=1, description="Candidate mean quality may be at most this much below stable's."
    )
    latency_p95_ratio_max: float = Field(
        default=1.1, gt=0, le=MAX_RATIO, description="Candidate p95 latency may be at most this multiple of stable's."
    )
    error_rate_ratio_max: float = Field(
        default=1.2, gt=0, le=MAX_RATIO, description="Candidate error rate may be at most this multiple of stable's."
    )
    error_rate_margin: float = Field(
        default=0.001,
        ge=0,
        le=MAX_ERROR_RATE_MARGIN,
        description="Candidate error rate may also exceed stable's by at most this absolute amount (0.001 = 0.1 "
        "percentage point): the error criterion holds when either the ratio or this margin holds, so a service "
        "with no errors on either version can pass on enough requests. 0 leaves the ratio alone.",
    )
    min_requests: int = Field(
        default=500,
        ge=1,
        le=MAX_MIN_REQUESTS,
        description="Candidate requests needed in a step before a criterion may fail or pass.",
    )
    alpha: float = Field(
        default=0.05,
        gt=0,
        lt=1,
        description="Budget for rolling back a candidate that meets every criterion, over the whole rollout, "
        "however often it is analysed (used by the sequential judge).",
    )
    input_drift: InputDrift | None = Field(
        default=None,
        # Absent from the JSON while unset: a record (and the carried state holding it) written before the field
        # existed keeps its digest (tests/unit/test_carried_state_compat.py).
        exclude_if=lambda value: value is None,
        description="Optional: hold or roll back a canary whose input distribution differs from stable's (null: off).",
    )
    custom: list[CustomCriterion] = Field(
        default_factory=list,
        max_length=MAX_CUSTOM_CRITERIA,
        exclude_if=lambda value: not value,  # absent while empty: older records and carried states keep their digest
        description="Custom metrics of the target to judge, by name (rates and means inside alpha, counts as hard "
        'ceilings), e.g. [{"metric": "critical_errors"}]; a limit here may only tighten the operators\'.',
    )


MAX_DRIFT_FEATURES = 8


class InputDrift(BaseModel):
    """Compare the candidate's input distribution with stable's (docs/rollouts.md, "Drift on canary inputs").

    A canary that serves other users than stable's proves nothing about stable's users. Per input feature the
    model servers count (prompt length, language, tool use...), over the rollout's window, the population
    stability index (or Jensen-Shannon divergence) of the candidate's histogram against stable's must stay within
    ``limit``, judged once both have ``min_count`` requests.
    """

    model_config = _STRICT

    limit: float = Field(
        default=0.2,
        gt=0,
        le=10,
        description="Largest divergence per feature: PSI 0.1 is a small shift, 0.25 a large one; JS lies in [0, 1].",
    )
    min_count: int = Field(
        default=500, ge=1, le=MAX_MIN_REQUESTS, description="Requests each version needs in a feature to judge it."
    )
    on_drift: Literal["hold", "rollback"] = Field(
        default="hold",
        description='"hold": the step\'s evidence stays inconclusive (extended, then held for a person, as '
        'on_inconclusive says); "rollback": roll back at once.',
    )
    method: Literal["psi", "js"] = Field(default="psi", description="Population stability index, or Jensen-Shannon.")
    features: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,63}$")]] | None = Field(
        default=None, max_length=MAX_DRIFT_FEATURES, description="Only these features; null: every one exported."
    )


class RollbackTriggers(BaseModel):
    """Hard safety net: breached once the minimum sample is in, the rollout rolls back at once."""

    model_config = _STRICT

    error_rate_ratio: float = Field(
        default=2.0,
        gt=1,
        le=MAX_RATIO,
        description="Roll back at once when candidate error rate exceeds this multiple of stable's.",
    )
    latency_p95_ratio: float = Field(
        default=1.5,
        gt=1,
        le=MAX_RATIO,
        description="Roll back at once when candidate p95 latency exceeds this multiple of stable's.",
    )
