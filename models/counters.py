"""Cumulative traffic counters of one version, as a metrics provider reports them.

The counters only grow while the serving process lives, like Prometheus counters; a value that goes down means
the process restarted (a reset). Differences between two readings are taken by the judge, which owns the reset
handling, so providers stay dumb and idempotent.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer


def _parse_bound(value: object) -> object:
    """Accept Prometheus' ``"+Inf"`` spelling for the last bucket's upper bound."""
    if isinstance(value, str) and value.strip().lower() in {"+inf", "inf", "infinity"}:
        return math.inf
    return value


def _dump_bound(value: float) -> float | str:
    """Write infinity back as ``"+Inf"``: JSON has no infinity, and pydantic would otherwise emit ``null``."""
    return "+Inf" if math.isinf(value) else value


BucketBound = Annotated[float, BeforeValidator(_parse_bound), PlainSerializer(_dump_bound)]
"""Upper bound of a latency bucket in milliseconds; ``"+Inf"`` allowed."""


class Counters(BaseModel):
    """Cumulative counters of one version since its serving process started."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requests: int = Field(ge=0, description="Requests answered, errors included.")
    errors: int = Field(ge=0, description="Requests that failed (5xx or transport error).")
    latency_ms_buckets: list[tuple[BucketBound, int]] = Field(
        default_factory=list,
        description="Cumulative latency histogram: [upper_bound_ms, count of requests at or below it], "
        'ascending bounds; the last bound may be "+Inf".',
    )
    quality_sum: float = Field(default=0.0, description="Sum of per-response quality scores in [0, 1].")
    quality_sum_squares: float = Field(default=0.0, description="Sum of squared quality scores.")
    quality_count: int = Field(default=0, ge=0, description="Number of responses that carried a quality score.")
