"""Builders of raw cumulative counters for the judge's tests."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from statistics import NormalDist

from models.counters import Counters
from models.criteria import Criteria, RollbackTriggers
from workflows.judge import Judgement, JudgeMethod, JudgeState, judge, new_judge_state

FINE_BOUNDS: tuple[float, ...] = (
    50.0,
    100.0,
    150.0,
    200.0,
    *(round(200 * 1.075**i, 2) for i in range(1, 17)),
    800.0,
    2000.0,
    math.inf,
)
"""Buckets 7.5 % apart around a 250 ms p95: fine enough to decide a 1.1x ratio."""

COARSE_BOUNDS: tuple[float, ...] = (25.0, 50.0, 100.0, 200.0, 400.0, 800.0, 1600.0, math.inf)
"""Powers of two: too coarse to decide a 1.1x ratio."""

MU = math.log(100.0)
SIGMA = math.log(2.5) / NormalDist().inv_cdf(0.95)
"""Lognormal latency with a 100 ms median and a 250 ms p95."""


def latency_cdf(bound: float, scale: float = 1.0) -> float:
    """P(latency <= bound) for the lognormal above stretched by ``scale``."""
    if math.isinf(bound):
        return 1.0
    return NormalDist().cdf((math.log(bound / scale) - MU) / SIGMA)


@dataclass
class Arm:
    """Cumulative counters of one version, grown deterministically (expected values) poll by poll."""

    bounds: tuple[float, ...] = FINE_BOUNDS
    requests: int = 0
    errors: int = 0
    buckets: list[int] = field(default_factory=list)
    quality_sum: float = 0.0
    quality_sum_squares: float = 0.0
    quality_count: int = 0

    def __post_init__(self) -> None:
        if not self.buckets:
            self.buckets = [0] * len(self.bounds)

    def serve(
        self, requests: int, error_rate: float = 0.01, latency_scale: float = 1.0, quality: float = 0.8
    ) -> Counters:
        """Add ``requests`` with the given error rate, latency stretch and mean quality; return the reading."""
        self.requests += requests
        self.errors += round(requests * error_rate)
        self.buckets = [
            count + round(requests * latency_cdf(bound, latency_scale))
            for count, bound in zip(self.buckets, self.bounds, strict=True)
        ]
        self.quality_sum += requests * quality
        self.quality_sum_squares += requests * (quality * quality + 0.02)
        self.quality_count += requests
        return self.reading()

    def reading(self) -> Counters:
        """The current raw cumulative counters."""
        return Counters(
            requests=self.requests,
            errors=self.errors,
            latency_ms_buckets=list(zip(self.bounds, self.buckets, strict=True)),
            quality_sum=self.quality_sum,
            quality_sum_squares=min(self.quality_sum_squares, self.quality_sum),
            quality_count=self.quality_count,
        )


def start(method: JudgeMethod, stable: Arm, candidate: Arm) -> JudgeState:
    """A judge state whose baseline is the arms' current readings."""
    return new_judge_state(stable.reading(), candidate.reading(), method=method)


def poll(state: JudgeState, stable: Counters, candidate: Counters, criteria: Criteria | None = None) -> Judgement:
    """One judge() call with default criteria and triggers."""
    return judge(
        state, stable=stable, candidate=candidate, criteria=criteria or Criteria(), triggers=RollbackTriggers()
    )


def verdicts(judgement: Judgement) -> dict[str, str]:
    """Criterion name -> verdict."""
    return {result.name: result.verdict for result in judgement.criteria}
