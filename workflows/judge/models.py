"""The judge's vocabulary: verdicts, results and the small state carried from one poll to the next.

Every model is a frozen pydantic model because the workflow stores them in Temporal history and carries the
state across continue-as-new: they must round-trip through JSON unchanged. ``JudgeState`` holds only running
sums (never one entry per poll), so its size does not grow with the length of a canary step.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.counters import BucketBound, Counters
from models.verdicts import CriterionName, Decision, JudgeMethod, TriggerName, Verdict

_MODEL_CONFIG = ConfigDict(frozen=True, extra="forbid", ser_json_inf_nan="constants")
"""Frozen and JSON-exact; ``constants`` keeps an infinite bucket bound or ratio readable after a round trip."""


def _empty(value: object) -> bool:
    """Leave issue 19's fields out of the JSON at their defaults.

    A state written by a run before them then serialises byte for byte as before, so the digest a run writes
    before continue-as-new still matches.
    """
    return not value


class CriterionResult(BaseModel):
    """The verdict on one pre-registered criterion, with the evidence a human needs to trust it."""

    model_config = _MODEL_CONFIG

    name: CriterionName
    verdict: Verdict
    comparison: Literal["ratio", "difference"] = Field(
        description="How candidate is compared with stable: ratio (error rate, p95) or difference (quality)."
    )
    stable_estimate: float | None = Field(default=None, description="Stable's point estimate on the step.")
    candidate_estimate: float | None = Field(default=None, description="Candidate's point estimate on the step.")
    observed: float | None = Field(
        default=None, description="Candidate/stable ratio or candidate - stable difference; None when undefined."
    )
    limit: float = Field(description="The pre-registered limit the observed value is compared with.")
    lower_bound: float | None = Field(
        default=None, description="Lower confidence bound on the ratio or difference (sequential: anytime-valid)."
    )
    upper_bound: float | None = Field(default=None, description="Upper confidence bound on the ratio or difference.")
    e_value: float | None = Field(
        default=None, description="Evidence against the criterion (large: violated); sequential method only."
    )
    p_value: float | None = Field(
        default=None, description="Anytime-valid p-value of 'the criterion holds'; sequential method only."
    )
    samples_stable: int = Field(default=0, ge=0, description="Stable observations used (requests or scores).")
    samples_candidate: int = Field(default=0, ge=0, description="Candidate observations used.")
    note: str = ""


class TriggerResult(BaseModel):
    """One hard rollback trigger: a point-estimate safety net that acts at once, independent of the criteria."""

    model_config = _MODEL_CONFIG

    name: TriggerName
    breached: bool
    observed: float | None = Field(default=None, description="Candidate/stable ratio; None until it is defined.")
    limit: float
    note: str = ""


class ArmTotals(BaseModel):
    """Increments of one version's counters accumulated since the step's baseline.

    The latency histogram is kept cumulative (count at or below each bound), on the layout of the latest
    reading intersected with every earlier one, so a layout change can only drop bounds, never invent counts.
    """

    model_config = _MODEL_CONFIG

    requests: int = 0
    errors: int = 0
    latency_bounds: list[BucketBound] = Field(default_factory=list)
    latency_counts: list[int] = Field(default_factory=list)
    latency_total: int = Field(default=0, description="Observations in the histogram (the +Inf count).")
    quality_sum: float = 0.0
    quality_sum_squares: float = 0.0
    quality_count: int = 0
    resets: int = Field(default=0, description="Counter resets (process restarts) seen since the baseline.")
    layout_changes: int = Field(default=0, description="Bucket layout changes seen since the baseline.")
    latency_skipped_polls: int = Field(
        default=0, description="Polls whose latency increment was dropped because the layout changed."
    )


class ErrorRateTestState(BaseModel):
    """Log-likelihoods of the per-poll error split on a fixed grid of rate ratios (see ``error_rate``)."""

    model_config = _MODEL_CONFIG

    limit: float = Field(description="The ratio limit the grid is centred on; fixed for the step.")
    log_likelihood: list[float] = Field(description="Log-likelihood ratio vs the limit at each grid point.")
    max_log_e_fail: float = 0.0
    max_log_e_pass: float = 0.0
    skipped_polls: int = Field(default=0, description="Polls with errors but no requests on one arm.")
    late_log_e: list[float] = Field(
        default_factory=list,
        description="Whole-rollout judge: log Shiryaev-Roberts statistic per grid ratio above the limit.",
    )
    late_starts: int = Field(default=0, description="Polls at which the late-onset detector could restart.")
    max_log_late: float = Field(default=-math.inf, description="Running maximum of the late-onset detector.")
    pearson_sum: float = Field(default=0.0, description="Sum of the polls' Pearson statistics (dispersion).")
    pearson_polls: int = Field(default=0, description="Polls in ``pearson_sum``.")
    variance_sum: float = Field(default=0.0, description="Sum of the polls' binomial variances E p (1 - p).")
    requests_sum: tuple[int, int] = Field(default=(0, 0), description="(stable, candidate) requests of those polls.")
    errors_sum: tuple[int, int] = Field(default=(0, 0), description="(stable, candidate) errors of those polls.")
    step_log_likelihood: list[float] = Field(
        default_factory=list,
        exclude_if=_empty,
        description="Issue 19's judge: this step's own log-likelihood ratios (the pass needs evidence from the "
        "step and weight it is for; empty at a step's start).",
    )
    variance_square_sum: float = Field(
        default=0.0,
        exclude_if=_empty,
        description="Sum of the polls' squared binomial variances (issue 19's judge: kappa's spread).",
    )
    recent_requests: tuple[float, float] = Field(
        default=(0.0, 0.0),
        exclude_if=lambda value: value == (0.0, 0.0),
        description="Issue 19's second judge: (stable, candidate) requests of the informative polls, exponentially "
        "weighted toward the recent ones (the local ratio Pearson's statistic is measured against).",
    )
    recent_errors: tuple[float, float] = Field(
        default=(0.0, 0.0),
        exclude_if=lambda value: value == (0.0, 0.0),
        description="Issue 19's second judge: (stable, candidate) errors, weighted as ``recent_requests``.",
    )


class ErrorMarginState(BaseModel):
    """Empirical-Bernstein variance sums of each arm's error rate, for the absolute margin (see ``error_margin``)."""

    model_config = _MODEL_CONFIG

    stable_variance: float = 0.0
    candidate_variance: float = 0.0


class LatencyTestState(BaseModel):
    """Per-bucket-edge variance sums of the empirical-Bernstein confidence sequences (see ``latency``)."""

    model_config = _MODEL_CONFIG

    edges: list[float] = Field(description="Finite bucket edges shared by both arms, ascending.")
    budget_edges: int = Field(description="Edges the alpha was split across at the start; never grows.")
    stable_variance: list[float]
    candidate_variance: list[float]


class QualityTestState(BaseModel):
    """Variance sums of the empirical-Bernstein confidence sequences of each arm's mean (see ``quality``)."""

    model_config = _MODEL_CONFIG

    stable_variance: float = 0.0
    candidate_variance: float = 0.0


class LatencyTestability(BaseModel):
    """Whether the buckets can test the p95 limit this step, decided once from a confidence statement.

    Made at the step's first poll with enough of stable's latency observations (``testability.decide_latency``)
    and kept for the rest of the step, so a p95 drifting across a bucket edge cannot flip it.
    """

    model_config = _MODEL_CONFIG

    testable: bool = Field(description="Some bucket where stable's p95 may lie is no wider than the limit.")
    smallest_detectable_ratio: float = Field(
        description="The widest bucket (upper / lower bound) where stable's p95 may lie: the smallest p95 ratio "
        "the buckets resolve wherever it is; infinite in the first or the +Inf bucket."
    )
    stable_p95_low: float = Field(description="Lower end of the range stable's p95 may lie in (ms), 0: none.")
    stable_p95_high: float = Field(description="Upper end of that range (ms), infinite: none.")
    samples: int = Field(ge=0, description="Stable's latency observations the decision was made on.")
    note: str = Field(default="", description="The verdict's sentence when untestable, with what would fix it.")


class SequentialState(BaseModel):
    """Running statistics of the anytime-valid tests; constant size in the number of polls."""

    model_config = _MODEL_CONFIG

    error_rate: ErrorRateTestState | None = None
    error_margin: ErrorMarginState | None = None
    latency: LatencyTestState | None = None
    quality: QualityTestState = Field(default_factory=QualityTestState)


class CustomTotals(BaseModel):
    """One arm's custom-metric increments accumulated over the step (events, or a mean's sums)."""

    model_config = _MODEL_CONFIG

    value: float = 0.0
    sum_squares: float = 0.0
    count: float = 0.0
    requests: int = Field(default=0, description="The arm's requests over the same polls (a rate's denominator).")


class CustomTestState(BaseModel):
    """The step's test of one custom rate or mean (``custom.py``)."""

    model_config = _MODEL_CONFIG

    rate: ErrorRateTestState | None = Field(default=None, description="A rate's ratio test.")
    mean: QualityTestState | None = Field(default=None, description="A mean's variance sums (rescaled to [0, 1]).")
    stable: CustomTotals = Field(default_factory=CustomTotals)
    candidate: CustomTotals = Field(default_factory=CustomTotals)


class JudgeState(BaseModel):
    """Everything the judge needs from earlier polls of this canary step."""

    model_config = _MODEL_CONFIG

    method: JudgeMethod
    polls: int = Field(default=0, description="judge() calls so far in this step.")
    last_stable: Counters = Field(description="Stable's raw counters at the previous poll (or the baseline).")
    last_candidate: Counters = Field(description="Candidate's raw counters at the previous poll (or the baseline).")
    stable: ArmTotals = Field(default_factory=ArmTotals)
    candidate: ArmTotals = Field(default_factory=ArmTotals)
    sequential: SequentialState | None = Field(
        default=None, description="Running statistics of the sequential tests; None for the threshold method."
    )
    whole_rollout: bool = Field(
        default=False,
        description="The whole-rollout judge (absolute error margin, untestable verdicts, evidence carried "
        "across steps, late-onset detector, dispersion-aware error test); False: the per-step judge of old runs.",
    )
    alpha_share: float = Field(
        default=1.0, gt=0, le=1, description="Share of criteria.alpha this step may spend (latency and quality)."
    )
    horizon_polls: int = Field(
        default=0, ge=0, description="Polls at which the late-onset detector may restart (its alpha is split)."
    )
    robust: bool = Field(
        default=False,
        exclude_if=_empty,
        description="Issue 19's judge (``judge-evidence`` patch, with ``whole_rollout``): dispersion from an upper "
        "confidence bound under a 30 % wobble ceiling, evidence per poll capped, the pass earned by the step's "
        "own evidence, the hard error trigger and the margin's ratio cap inside the error test's alpha.",
    )
    detection: bool = Field(
        default=False,
        exclude_if=_empty,
        description="Issue 19's second judge (``judge-evidence-2`` patch, with ``robust``): the kappa bound's margin "
        "scaled to the information per poll, Pearson's statistic measured against the recent polls' ratio (a "
        "late regression is not read as dispersion), and 0.3 of the fail budget for the late-onset detector.",
    )
    third: bool = Field(
        default=False,
        exclude_if=_empty,
        description="Issue 19's third judge (``judge-evidence-3`` patch, with ``detection``): kappa's bound with its "
        "standard error taken at the bound (a calm start no longer collapses it), the fail side's tilt at a higher "
        "bound, the late-onset detector's restarts weighted toward the rollout's planned polls, and the absolute "
        "margin's pass only where the ratio does not bind.",
    )
    testability_once: bool = Field(
        default=False,
        exclude_if=_empty,
        description="Issue 19 (``untestable-once`` patch): the p95's testability is decided once per step from a "
        "confidence statement (``latency_testability``) instead of from each poll's point estimate.",
    )
    latency_testability: LatencyTestability | None = Field(
        default=None, exclude_if=_empty, description="The step's decision, once made (``testability_once``)."
    )
    custom: dict[str, CustomTestState] = Field(
        default_factory=dict,
        exclude_if=_empty,  # rollouts without custom metrics carry exactly the state they did
        description="The step's tests of custom rates and means, by metric name (``custom.py``).",
    )


class Judgement(BaseModel):
    """The outcome of one poll."""

    model_config = _MODEL_CONFIG

    decision: Decision
    criteria: list[CriterionResult]
    triggers: list[TriggerResult]
    reason: str = Field(description="One human sentence with the numbers that drove the decision.")
    warnings: list[str] = Field(default_factory=list)
    state: JudgeState = Field(description="Pass this to the next judge() call.")
