"""Inputs and outputs of the activities: one pydantic model in, one out, so fields can be added safely."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.counters import Counters
from models.criteria import MAX_RATIO
from models.custom_metrics import CustomMetric, MetricName
from models.segments import Segment
from models.spec import Comparator, MetricsSpec, PreflightSpec, RouterSpec, ShadowSpec


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetWeightsInput(_Model):
    """Put this share of the service's traffic on the candidate, the rest on stable."""

    router: RouterSpec
    service: str
    candidate_weight: float = Field(ge=0, le=100)
    segments: list[Segment] = Field(
        default_factory=list, description="Targeting: the candidate's share applies within these segments only."
    )
    mirror: bool = Field(
        default=False,
        # Absent while off: the input every recorded history holds keeps its JSON.
        exclude_if=lambda value: not value,
        description="Copy every live request to the candidate as well (its answers discarded); false switches a "
        "mirror off, so every move that does not ask for one, a rollback's included, leaves none on.",
    )


class RouterState(_Model):
    """Shares in percent as the router reports them, read back after every change."""

    stable: float
    candidate: float
    segments: list[Segment] = Field(
        default_factory=list,
        # Absent while empty: a router state in a record an older release carried keeps its JSON and digest.
        exclude_if=lambda value: not value,
        description="The segments the candidate's share applies within, as the router reports them (empty: "
        "everyone; routers without targeting always report none).",
    )
    mirror: bool = Field(
        default=False,
        # Absent while off: a router state in a record an older release carried keeps its JSON and digest.
        exclude_if=lambda value: not value,
        description="Whether the router copies live requests to the candidate (answers discarded), as it reports "
        "it; routers that cannot mirror always report false.",
    )


class ReadCountersInput(_Model):
    """Which counters to read: the service's two versions, from the spec's metrics provider."""

    metrics: MetricsSpec
    service: str
    stable_version: str
    candidate_version: str
    custom: dict[MetricName, CustomMetric] = Field(
        default_factory=dict,
        exclude_if=lambda value: not value,  # inputs of rollouts without custom metrics stay as they were
        description="The custom metrics to read beside the counters (the rollout's criteria.custom), by name.",
    )
    restarts: bool = Field(
        default=False,
        exclude_if=lambda value: not value,  # inputs of rollouts that do not ask serialise as before
        description="Whether the workflow reads ``Counters.at`` and ``before_restart`` (patch counter-restarts): "
        "only then are they in the answer, so a workflow worker of an older release is never sent a field its "
        "model refuses.",
    )
    stable_since: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        exclude_if=lambda value: value is None,  # inputs of rollouts that do not ask serialise as before
        description="The instant of stable's previous reading (its ``at``): a provider that keeps samples "
        "(Prometheus) reports what a process that restarted since then served before its restart.",
    )
    candidate_since: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        exclude_if=lambda value: value is None,
        description="The instant of the candidate's previous reading, as ``stable_since``.",
    )


class CounterPair(_Model):
    """Both versions' cumulative counters, read back to back so they describe the same moment."""

    stable: Counters
    candidate: Counters


class PreflightInput(_Model):
    """The eval gate to fetch a score from."""

    preflight: PreflightSpec


class PreflightResult(_Model):
    """The candidate's eval score and the bar it must clear; the workflow decides."""

    score: float
    baseline: float
    tolerance: float

    @property
    def passed(self) -> bool:
        """The score clears the baseline within the tolerance."""
        return self.score >= self.baseline - self.tolerance


class LatencyLimit(_Model):
    """The spec's p95 limit on stable's, which the shadow replay's latencies are tested against."""

    ratio: float = Field(
        gt=0, le=MAX_RATIO, description="The candidate's p95 may be at most this multiple of stable's."
    )


class ShadowInput(_Model):
    """What to replay and where both versions answer directly (never through the router)."""

    shadow: ShadowSpec
    stable_endpoint: str
    candidate_endpoint: str
    latency_limit: LatencyLimit | None = Field(
        default=None,
        # Absent before the shadow-p95-test patch: the inputs recorded histories hold keep their JSON.
        exclude_if=lambda value: value is None,
        description="The p95 criterion the replay's latencies are tested against; None: no test, point p95s only.",
    )


class ArmStats(_Model):
    """One version's answers during the shadow replay."""

    requests: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class Disagreement(_Model):
    """One request whose answers differed, kept as an example for the record."""

    line: int
    stable: str
    candidate: str


class ShadowResult(_Model):
    """The shadow comparison's counts; the workflow's gate judges them."""

    requests: int
    compared: int = Field(description="Requests both versions answered, so their answers could be compared.")
    agreed: int
    stable: ArmStats
    candidate: ArmStats
    examples: list[Disagreement] = Field(default_factory=list, description="First few disagreements.")
    compare: Comparator
    latency_p_value: float | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="One-sided p-value that the candidate's p95 is above the input's latency_limit on stable's "
        "(``workflows.quantile_test``); None when no limit was asked for, or the replay is too small for the test "
        "to reach the gate's alpha.",
    )

    @property
    def agreement(self) -> float:
        """Share of compared requests whose answers agreed (0 when none could be compared)."""
        return self.agreed / self.compared if self.compared else 0.0
