"""Cumulative traffic counters of one version, as a metrics provider reports them.

The counters only grow while the serving process lives, like Prometheus counters; a value that goes down means
the process restarted (a reset). Differences between two readings are taken by the judge, which owns the reset
handling, so providers stay dumb and idempotent.

A version served by several processes (pods) may report each one's counters in ``series``: the judge then takes
the increment per series before summing, like Prometheus' ``increase()``, so one pod restarting adds only its own
counts, never the fleet's lifetime.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, field_validator


def _parse_bound(value: object) -> object:
    """Accept Prometheus' ``"+Inf"`` spelling for the last bucket's upper bound."""
    if isinstance(value, str) and value.strip().lower() in {"+inf", "inf", "infinity"}:
        return math.inf
    return value


def _dump_bound(value: float) -> float | str:
    """Write infinity back as ``"+Inf"``: JSON has no infinity, and pydantic would otherwise emit ``null``."""
    return "+Inf" if math.isinf(value) else value


MAX_INPUT_FEATURES = 8
"""Input features per version: a few chosen ones (prompt length, language, tool use), not a feature store."""
MAX_FEATURE_VALUES = 32
"""Values (histogram bins) per feature: buckets and categories a person can read in a report."""

InputName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.:-]{1,63}$")]
"""A feature's or a value's name as the metrics label it: ``prompt_length``, ``language``, ``ja``."""

MAX_SERIES = 1_000
"""Most series (pods, instances) one reading may break its counters into: a fleet bigger than a canary needs, small
enough that a reading stays a few hundred kilobytes in the workflow's history."""

BucketBound = Annotated[float, BeforeValidator(_parse_bound), PlainSerializer(_dump_bound)]
"""Upper bound of a latency bucket in milliseconds; ``"+Inf"`` allowed."""


class CustomValue(BaseModel):
    """One custom metric's cumulative reading (``models.custom_metrics``): events, or a mean's running sums."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    value: float = Field(description="rate and count: cumulative events; mean: sum of the observations.")
    sum_squares: float = Field(
        default=0.0, ge=0, exclude_if=lambda value: not value, description="mean: sum of squared observations."
    )
    count: float = Field(default=0.0, ge=0, exclude_if=lambda value: not value, description="mean: observations.")


MAX_CUSTOM_VALUES = 32
"""Custom readings per answer: the target's custom metrics, with room for an answer that carries a few more."""


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
    inputs: dict[InputName, dict[InputName, Annotated[int, Field(ge=0)]]] = Field(
        default_factory=dict,
        max_length=MAX_INPUT_FEATURES,
        # Left out of the JSON while empty: counters (and the states and digests that hold them) written before
        # the field existed serialize exactly as they did.
        exclude_if=lambda value: not value,
        description="Cumulative requests per input feature and value (prompt_length: short/medium/long, language, "
        "tool_use...): what this version's users sent. Empty where the server exports none; read only by the "
        "optional input_drift criterion.",
    )

    custom: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")], CustomValue] = Field(
        default_factory=dict,
        max_length=MAX_CUSTOM_VALUES,
        exclude_if=lambda value: not value,  # readings without custom metrics serialise exactly as before
        description="Cumulative readings of custom metrics by name (the metrics' ``field``); only the custom "
        "metrics a rollout judges are kept in its readings.",
    )

    @field_validator("inputs")
    @classmethod
    def _few_values(cls, value: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
        for feature, bins in value.items():
            if len(bins) > MAX_FEATURE_VALUES:
                raise ValueError(f"inputs.{feature}: more than {MAX_FEATURE_VALUES} values")
        return value

    series: dict[str, Counters] = Field(
        default_factory=dict,
        max_length=MAX_SERIES,
        exclude_if=lambda value: not value,  # readings without a breakdown serialise exactly as before
        description="Optional breakdown per series (pod, instance), keyed by its label value, each with its own "
        "cumulative counters; the fields above are then their sums. Lets the judge handle a restart per series.",
    )

    @field_validator("series")
    @classmethod
    def _flat(cls, value: dict[str, Counters]) -> dict[str, Counters]:
        """One level only: a series does not break down further."""
        for name, counters in value.items():
            if len(name) > 256:
                raise ValueError(f"series name longer than 256 characters: {name[:40]!r}...")
            if counters.series:
                raise ValueError(f"series {name!r} has series of its own (one level only)")
        return value

    at: float | None = Field(
        default=None,
        ge=0,
        allow_inf_nan=False,
        exclude_if=lambda value: value is None,  # readings of providers that do not say serialise as before
        description="The instant (Unix seconds) the reading describes, where the provider knows it (Prometheus: "
        "the queries' evaluation time). The next reading asks the provider for restarts since then.",
    )
    before_restart: Counters | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # readings with no restart in them serialise as before
        description="Set when this process restarted after the previous reading: its counters at the provider's "
        "last sample before the restart (after more than one restart, the last sample before each one, added). "
        "The judge counts them against the previous reading, then the new process' counts; without them what "
        "the process served between the previous reading and its restart is lost.",
    )

    @field_validator("before_restart")
    @classmethod
    def _plain(cls, value: Counters | None) -> Counters | None:
        """Counters only: no breakdown, no restarts of its own, no instant (it is not a reading)."""
        if value is not None and (value.series or value.before_restart is not None or value.at is not None):
            raise ValueError("before_restart holds counters only (no series, before_restart or at)")
        return value
