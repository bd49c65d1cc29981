"""Custom metrics: named measurements the operators define beside a target's metrics, judged like the built-ins.

The operators own the definition (where the numbers come from, what kind of number it is, which way is worse and
the loosest limit they accept); a spec only names a metric in ``criteria.custom`` and may tighten its limit, never
loosen it. Three kinds:

* ``rate``: events per request (a refusal rate, a tool-call failure rate), judged as the candidate/stable ratio
  with the same anytime-valid test as the error rate;
* ``mean``: a bounded score per observation (a judge model's rating, a satisfaction score), judged as the
  candidate - stable difference with the same confidence sequences as quality;
* ``count``: events with an absolute ceiling on the candidate ("critical errors: any occurrence" is a ceiling of
  0): a hard trigger, no statistics, the first analysis that sees more rolls back.

Pure: models and functions, no I/O. Imports nothing of ours but the limits, so ``criteria`` and ``targets`` can
both use it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Literal, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from models.durations import Duration
from models.limits import MAX_DESCRIPTION_CHARS, MAX_PROMQL_CHARS
from models.verdicts import Verdict

MAX_CUSTOM_METRICS = 16
"""Custom metrics per target: a handful of product signals, not a metrics catalogue."""
MAX_CUSTOM_CRITERIA = 8
"""Custom metrics one spec may judge: each rate or mean spends a share of the rollout's one alpha."""
MAX_RATIO = 100.0
"""Largest rate ratio a limit may allow, as for the built-in ratios (``models.criteria.MAX_RATIO``)."""
MAX_CEILING = 1_000_000_000.0
"""Largest count ceiling: beyond it a ceiling guards nothing a person could mean."""
MAX_MEAN_RANGE = 1e9
"""Largest magnitude of a mean metric's bounds: keeps the rescaled sums ordinary floats."""

MetricName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")]
"""A custom metric's name, as the policy defines it and a spec names it: ``critical_errors``, ``refusal_rate``."""

CustomKind = Literal["rate", "mean", "count"]
Direction = Literal["higher_is_worse", "lower_is_worse"]

_STRICT = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False)


def _has_version(template: str | None) -> str | None:
    if template is not None and "$version" not in template:
        raise ValueError("the query must contain $version, or both versions would read the same series")
    return template


PromQL = Annotated[str, Field(min_length=1, max_length=MAX_PROMQL_CHARS), AfterValidator(_has_version)]


class CustomQueries(BaseModel):
    """PromQL templates of one custom metric (``$version`` replaced by the version label), each cumulative.

    Each must answer one series (sum it over processes): a custom reading is one number per version. Like the
    built-in queries, no data is an analysis error, never a zero: add ``or vector(0)`` where zero is legitimate.
    """

    model_config = _STRICT

    value: PromQL = Field(
        description='rate and count: cumulative events (e.g. sum(critical_errors_total{version="$version"})); '
        "mean: the cumulative sum of the observations."
    )
    sum_squares: PromQL | None = Field(
        default=None, description="mean only: the cumulative sum of squared observations."
    )
    count: PromQL | None = Field(default=None, description="mean only: the cumulative number of observations.")


class CustomMetric(BaseModel):
    """One operator-defined metric: where its numbers come from, its kind, which way is worse, and its limit."""

    model_config = _STRICT

    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] | None = Field(
        default=None, description="What the metric measures, for people reading the policy and the record."
    )
    kind: CustomKind = Field(
        description='"rate": events per request, judged as a candidate/stable ratio like the error rate; "mean": '
        'a bounded score, judged as a candidate - stable difference like quality; "count": events with an '
        "absolute ceiling on the candidate, a hard trigger."
    )
    direction: Direction = Field(
        default="higher_is_worse",
        description="Which way is a regression. A count is always higher_is_worse (a ceiling).",
    )
    limit: float = Field(
        ge=0,
        le=MAX_CEILING,
        description="The loosest value the operators accept; a spec may only tighten it. rate: largest ratio of "
        "the worse way (candidate/stable for higher_is_worse, stable/candidate for lower_is_worse), above 0 and at "
        "most 100; mean: largest difference the worse way, in the metric's units; count: the ceiling of candidate "
        "events since the rollout's first reading (0: any occurrence rolls back).",
    )
    window: Duration | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="count only: count the candidate's events only this long from the rollout's start (\"1h\": "
        '"user complaints > 10 in the first hour"); after it the ceiling no longer applies. Null: the whole rollout.',
    )
    bounds: list[float] = Field(
        default_factory=lambda: [0.0, 1.0],
        min_length=2,
        max_length=2,
        description="mean only: the smallest and largest value one observation can take (the statistics need "
        "bounded observations).",
    )
    query: CustomQueries | None = Field(
        default=None, description="Where a Prometheus target reads the metric; required on a prometheus target."
    )
    field: MetricName | None = Field(
        default=None,
        description="Where an http-json target reads it: the key in the answer's custom object (its value "
        '{"value": ..., "sum_squares": ..., "count": ...}). Null: the metric\'s own name.',
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.kind != "count" and self.window is not None:
            raise ValueError("window: only a count has a window")
        if self.kind == "count" and self.direction != "higher_is_worse":
            raise ValueError("direction: a count is a ceiling, so higher_is_worse")
        if self.kind == "rate" and not 0 < self.limit <= MAX_RATIO:
            raise ValueError(f"limit: a rate's limit is a ratio, above 0 and at most {MAX_RATIO:g}")
        low, high = self.bounds
        if not -MAX_MEAN_RANGE <= low < high <= MAX_MEAN_RANGE:
            raise ValueError(f"bounds: need low < high, both within +-{MAX_MEAN_RANGE:g}")
        if self.kind == "mean" and self.limit > high - low:
            raise ValueError("limit: a mean's limit cannot exceed the width of its bounds")
        if self.query is not None:
            mean_parts = self.query.sum_squares is not None and self.query.count is not None
            if self.kind == "mean" and not mean_parts:
                raise ValueError("query: a mean needs sum_squares and count queries beside value")
            if self.kind != "mean" and (self.query.sum_squares is not None or self.query.count is not None):
                raise ValueError(f"query: a {self.kind} reads value only (sum_squares and count are for a mean)")
        return self


class CustomCriterion(BaseModel):
    """A spec's use of one of its target's custom metrics, by name."""

    model_config = _STRICT

    metric: MetricName = Field(description="The custom metric's name in the target's custom_metrics.")
    limit: float | None = Field(
        default=None,
        ge=0,
        le=MAX_CEILING,
        description="Optional: a tighter limit than the operators' (at most theirs). Null: the operators' limit.",
    )


class CustomVerdict(BaseModel):
    """One custom metric at one analysis, as the record keeps it (one per criteria.custom entry, so bounded)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    metric: str
    kind: CustomKind
    verdict: Verdict = Field(description='A count is "fail" above its ceiling, else "pass".')
    stable: float | None = Field(default=None, description="Stable's rate or mean over the step; None for a count.")
    candidate: float | None = Field(
        default=None, description="Candidate's rate or mean over the step; a count: its events since the first reading."
    )
    observed: float | None = Field(default=None, description="The ratio (rate) or difference (mean) the worse way.")
    limit: float
    lower: float | None = Field(default=None, description="Anytime-valid lower bound of the ratio or difference.")
    upper: float | None = Field(default=None, description="Anytime-valid upper bound.")
    note: str = ""


def effective_limit(definition: CustomMetric, criterion: CustomCriterion) -> float:
    """The limit a rollout judges by: the spec's where it tightens the operators', else theirs."""
    return definition.limit if criterion.limit is None else min(criterion.limit, definition.limit)


def criteria_problems(criteria: list[CustomCriterion], defined: Mapping[str, CustomMetric], where: str) -> list[str]:
    """Why a spec's custom criteria do not stand on a target defining ``defined``; each names the spec's field."""
    problems: list[str] = []
    known = ", ".join(sorted(defined)) or "none"
    seen: set[str] = set()
    for index, criterion in enumerate(criteria):
        field = f"criteria.custom[{index}]"
        definition = defined.get(criterion.metric)
        if definition is None:
            problems.append(f"{field}.metric: {criterion.metric!r} is not a custom metric of {where} ({known})")
            continue
        if criterion.metric in seen:
            problems.append(f"{field}.metric: {criterion.metric!r} is named twice")
        seen.add(criterion.metric)
        if criterion.limit is not None and criterion.limit > definition.limit:
            problems.append(
                f"{field}.limit: {criterion.limit:g} is looser than the operators' limit for {criterion.metric!r} "
                f"({definition.limit:g}); a spec may only tighten it"
            )
        if criterion.limit is not None and definition.kind == "rate" and criterion.limit <= 0:
            problems.append(f"{field}.limit: a rate's limit is a ratio above 0")
    return problems


def used_definitions(criteria: list[CustomCriterion], defined: Mapping[str, CustomMetric]) -> dict[str, CustomMetric]:
    """The definitions a rollout uses, by name (every name already checked by ``criteria_problems``)."""
    return {c.metric: defined[c.metric] for c in criteria if c.metric in defined}


def definitions_sha256(definitions: Mapping[str, CustomMetric]) -> str:
    """SHA-256 of the definitions in canonical JSON: the record proves which definitions judged the rollout."""
    canonical = json.dumps(
        {name: definitions[name].model_dump(mode="json") for name in sorted(definitions)},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
