"""Inputs and outputs of the activities: one pydantic model in, one out, so fields can be added safely."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from models.counters import Counters
from models.spec import Comparator, MetricsSpec, PreflightSpec, RouterSpec, ShadowSpec


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SetWeightsInput(_Model):
    router: RouterSpec
    service: str
    candidate_weight: float = Field(ge=0, le=100)


class RouterState(_Model):
    stable: float
    candidate: float


class ReadCountersInput(_Model):
    metrics: MetricsSpec
    service: str
    stable_version: str
    candidate_version: str


class CounterPair(_Model):
    stable: Counters
    candidate: Counters


class PreflightInput(_Model):
    preflight: PreflightSpec


class PreflightResult(_Model):
    score: float
    baseline: float
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.score >= self.baseline - self.tolerance


class ShadowInput(_Model):
    shadow: ShadowSpec
    stable_endpoint: str
    candidate_endpoint: str


class ArmStats(_Model):
    requests: int
    errors: int
    latency_p50_ms: float | None
    latency_p95_ms: float | None


class Disagreement(_Model):
    line: int
    stable: str
    candidate: str


class ShadowResult(_Model):
    requests: int
    compared: int = Field(description="Requests both versions answered, so their answers could be compared.")
    agreed: int
    stable: ArmStats
    candidate: ArmStats
    examples: list[Disagreement] = Field(default_factory=list, description="First few disagreements.")
    compare: Comparator

    @property
    def agreement(self) -> float:
        return self.agreed / self.compared if self.compared else 0.0
