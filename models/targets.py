"""Targets: what a rollout may touch, defined by the operators in their policy and named by a spec.

A target is one place a service runs (``staging``, ``production``): the router that moves its traffic, the
metrics that judge it, the URL prefixes its version endpoints and gates may call, and the recorded request files
a shadow comparison may replay. A spec names a target (``"target": "production"``); it never carries a program,
a file path, a pid file, or a router or metrics address of its own. That is the trust boundary (docs/security.md):
the requester chooses *which* of the operators' targets, the operators choose *what* it touches.

Strings in a target may hold ``{service}``, replaced by the rollout's service name when the policy is resolved,
so one ``default`` target serves every service of a shared router (service names are ``[a-z0-9-]``, safe in a
URL path or a file name).

Pure: models and two functions, no I/O.
"""

from __future__ import annotations

import json
from typing import Annotated, Literal, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.custom_metrics import MAX_CUSTOM_METRICS, CustomMetric, MetricName
from models.evals import EvalSuite
from models.limits import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_SCORE
from models.spec import FilePath, MetricsSpec, RouterSpec, Url

SERVICE_PLACEHOLDER = "{service}"
"""In any string of a target: the rollout's service name."""

MAX_TARGETS = 20
"""Most targets per service policy: environments and regions, not a catalogue."""
MAX_URL_PREFIXES = 20
MAX_REPLAY_SETS = 50

TargetName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
"""A target's name, as a spec writes it: lowercase, digits and dashes."""

ReplayName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class Target(_Model):
    """One operator-defined target: the router, the metrics and the addresses a rollout on it may use."""

    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] | None = Field(
        default=None, description="What this target is, for people reading the policy and the record."
    )
    router: RouterSpec = Field(description="The traffic router that moves this target's weights.")
    metrics: MetricsSpec = Field(description="Where this target's counters of both versions are read.")
    url_prefixes: list[Url] = Field(
        default_factory=list,
        max_length=MAX_URL_PREFIXES,
        description="URLs that a spec's version endpoints (shadow comparison) and preflight URL may lie under: "
        "same scheme, host and port, and a path at or below the prefix's. Empty: a spec may name none.",
    )
    replay_sets: dict[ReplayName, FilePath] = Field(
        default_factory=dict,
        max_length=MAX_REPLAY_SETS,
        description="Recorded request files (JSONL, on the worker's disk) that a spec's shadow comparison names "
        "by key (shadow.replay).",
    )
    eval_suites: dict[ReplayName, EvalSuite] = Field(
        default_factory=dict,
        max_length=MAX_REPLAY_SETS,
        description="Eval suites (JSONL cases on the worker's disk, their grader and locked baseline score) that a "
        "spec's eval gate names by key (eval.suite); docs/pipelines.md.",
    )
    preflight_baseline: float | None = Field(
        default=None,
        ge=-MAX_SCORE,
        le=MAX_SCORE,
        exclude_if=lambda value: value is None,  # held in a rollout's state: absent from older carried JSON
        description="The locked baseline score a spec's preflight gate is held to on this target: a spec's "
        "preflight.baseline must equal it, and without it a spec may not ask for a preflight gate here.",
    )
    custom_metrics: dict[MetricName, CustomMetric] = Field(
        default_factory=dict,
        max_length=MAX_CUSTOM_METRICS,
        exclude_if=lambda value: not value,  # held in a rollout's state: absent from older carried JSON
        description="Named metrics beside the built-in ones (rates, means, counts with a ceiling) that a spec's "
        'criteria.custom may judge by name; docs/security.md, "Custom metrics".',
    )

    @model_validator(mode="after")
    def _custom_sources(self) -> Self:
        """Each custom metric must say where this target's metrics provider reads it."""
        for name, metric in self.custom_metrics.items():
            if self.metrics.kind == "prometheus" and metric.query is None:
                raise ValueError(f"custom_metrics.{name}.query: a prometheus target reads a custom metric by PromQL")
            if self.metrics.kind == "http-json" and metric.query is not None:
                raise ValueError(f"custom_metrics.{name}.query: an http-json target reads the answer's field")
        return self


def for_service(target: Target, service: str) -> Target:
    """``target`` with ``{service}`` replaced by ``service`` in every string; validated again after the change."""
    text = target.model_dump_json().replace(SERVICE_PLACEHOLDER, service)
    return Target.model_validate(json.loads(text), strict=False)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), parts.port or default


def url_allowed(url: str, prefixes: list[str]) -> bool:
    """Whether ``url`` lies under one of ``prefixes``: the same origin, and a path at or below the prefix's.

    Compared part by part, never as strings, so ``http://good.example.evil.test`` is not under
    ``http://good.example`` and ``/v1-evil`` is not under ``/v1``. A URL with user information is never allowed.
    """
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None or ".." in parts.path.split("/"):
        return False
    for prefix in prefixes:
        if _origin(url) != _origin(prefix):
            continue
        base = urlsplit(prefix).path.rstrip("/")
        if parts.path == base or parts.path.startswith(base + "/") or (not base and not parts.path):
            return True
    return False


TargetOrigin = Literal["policy", "inline-policy", "inline-lab"]
"""Where a rollout's target came from: named in the policy; carried inline by the spec because the policy allows
it (labs, tests); or inline on a worker in lab mode with no policy."""


class ChosenTarget(_Model):
    """The target a rollout runs on, fixed at start and kept in its state: every call to the world uses it."""

    name: Annotated[str, Field(max_length=MAX_NAME_CHARS)] | None = Field(
        description="The target's name in the policy; None for an inline target."
    )
    origin: TargetOrigin
    target: Target
