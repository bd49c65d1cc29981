"""The ``Pipeline`` workflow's spec, decisions and record: ordered stages, each a child ``Rollout``.

A pipeline spec names the service, the two versions and its stages in order (staging, canary, production); each
stage names the operators' target and carries the rest of a rollout spec (steps, eval gate, criteria...). The
pipeline composes each stage's ``Rollout`` spec from them, and validates every one at start, so a bad stage is
refused before the first moves anything, with the field named (``stages[1].rollout.steps.0.weight: ...``).

Pure models and functions, no I/O.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from models.durations import Duration
from models.limits import MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_SIGNATURE_CHARS
from models.spec import Name, VersionRef, _check_instant
from models.validation import SpecError, validate_spec

MAX_STAGES = 6
"""local, staging, canary, production and a region or two: a pipeline is short."""
MAX_PIPELINE_SPEC_BYTES = 256 * 1024
MAX_TEXT = 2000
PIPELINE_ID_PREFIX = "pipeline-"
StageName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")]
Promotion = Literal["auto", "signed"]
PipelineOutcome = Literal["running", "promoted", "stage_failed", "refused", "expired"]


def pipeline_id(service: str) -> str:
    """The one workflow id a pipeline of ``service`` may run under: one pipeline per service at a time."""
    return f"{PIPELINE_ID_PREFIX}{service}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class StageSpec(_Model):
    """One stage: the operators' target it runs on, how it rolls out, and whether a person must promote into it."""

    name: StageName = Field(description="The stage's name (staging, canary, production); unique in the pipeline.")
    target: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")] = Field(
        description="The operators' target this stage's rollout runs on (its router, metrics, eval suites)."
    )
    rollout: dict[str, Any] = Field(
        default_factory=dict,
        description="The rest of this stage's Rollout spec: steps, eval, shadow, criteria, approvals... (service, "
        "requested_by, versions and target come from the pipeline).",
    )
    promotion: Promotion = Field(
        default="auto",
        description='"auto": starts once the stage before it promoted; "signed": also waits for an approver\'s '
        "signed promote of the pipeline (rollouts pipeline promote).",
    )
    promotion_timeout: Duration = Field(
        default=timedelta(days=7), description="How long a signed promotion is awaited before the pipeline expires."
    )


class Override(_Model):
    """A signed override that lets a version which failed a stage before start a pipeline again."""

    by: Name = Field(description="The overrider (listed in the policy's overriders, else its approvers).")
    reason: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] = Field(description="Why, for the record.")
    expires: Annotated[str, Field(max_length=64)] | None = Field(default=None, description="The signature's expiry.")
    signature: Annotated[str, Field(max_length=8192)] | None = Field(
        default=None, description="ssh-keygen -Y sign -n durable-rollouts over the override's message."
    )


class PipelineSpec(_Model):
    """A pipeline of ``candidate`` past ``stable`` for one service: the workflow's single input."""

    service: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$", description="Service name (lowercase, dashes).")
    requested_by: Name = Field(description="Who starts the pipeline; never counts as an approver.")
    description: Annotated[str, Field(max_length=MAX_DESCRIPTION_CHARS)] | None = Field(
        default=None, description="Why this pipeline, in a line."
    )
    stable: VersionRef = Field(description="The version serving today.")
    candidate: VersionRef = Field(description="The version to take through every stage.")
    stages: list[StageSpec] = Field(min_length=1, max_length=MAX_STAGES, description="Stages, in order.")
    override: Override | None = Field(
        default=None, description="Needed only when this candidate failed a stage before (a signed decision)."
    )
    signature: Annotated[str, Field(min_length=1, max_length=MAX_SIGNATURE_CHARS)] | None = Field(
        default=None,
        description="The requester's SSH signature over the spec's canonical JSON without this field (rollouts "
        "pipeline start --key makes it). It stands for every stage's rollout, so a policy that wants signed specs "
        "wants it.",
    )
    workflow_id: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS)] | None = Field(
        default=None, description="The pipeline's workflow id (pipeline-<service>), covered by the signature."
    )
    not_after: Annotated[str, Field(max_length=64), AfterValidator(_check_instant)] | None = Field(
        default=None, description="The instant after which this signed spec may no longer start a pipeline."
    )


class PipelineError(ValueError):
    """The pipeline spec is refused; ``problems`` names each bad field."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"invalid pipeline spec: {len(problems)} problem(s): {'; '.join(problems[:5])}")
        self.problems = problems


def stage_spec(spec: PipelineSpec, index: int, raw: dict[str, Any]) -> dict[str, Any]:
    """Stage ``index``'s Rollout spec: its own fields, with the pipeline's service, requester, versions and target.

    ``raw`` is the pipeline spec as started (with its signature): the stage carries it as its authority, so the
    child rollout can verify the requester's signature itself (``workflows/pipeline/authority.py``).
    """
    stage = spec.stages[index]
    return {
        **stage.rollout,
        "service": spec.service,
        "requested_by": spec.requested_by,
        "description": f"pipeline stage {stage.name}" + (f": {spec.description}" if spec.description else ""),
        "stable": spec.stable.model_dump(mode="json", exclude_none=True),
        "candidate": spec.candidate.model_dump(mode="json", exclude_none=True),
        "target": stage.target,
        "pipeline_stage": {"stage": stage.name, "pipeline": raw},
    }


_OWNED = (
    "service",
    "requested_by",
    "stable",
    "candidate",
    "target",
    "workflow_id",
    "signature",
    "not_after",
    "pipeline_stage",
)


def validate_pipeline(raw: object) -> PipelineSpec:
    """The spec, or ``PipelineError`` naming every problem (its own fields, then each stage's rollout)."""
    if not isinstance(raw, dict):
        raise PipelineError([f"(spec): expected a JSON object, got {type(raw).__name__}"])
    size = len(json.dumps(raw, default=str))
    if size > MAX_PIPELINE_SPEC_BYTES:
        raise PipelineError([f"(spec): {size:,} bytes, more than {MAX_PIPELINE_SPEC_BYTES:,}"])
    try:
        spec = PipelineSpec.model_validate(raw, strict=False)
    except ValidationError as exc:
        raise PipelineError(
            [f"{'.'.join(str(p) for p in e['loc']) or '(spec)'}: {e['msg']}" for e in exc.errors()[:20]]
        ) from None
    problems: list[str] = []
    names = [s.name for s in spec.stages]
    for index, name in enumerate(names):
        if name in names[:index]:
            problems.append(f"stages[{index}].name: {name!r} names an earlier stage too")
    if spec.stages[0].promotion == "signed":
        problems.append("stages[0].promotion: the first stage has no stage before it to be promoted from")
    for index, stage in enumerate(spec.stages):
        owned = sorted(set(stage.rollout) & set(_OWNED))
        if owned:
            problems.append(f"stages[{index}].rollout.{owned[0]}: set by the pipeline, not by a stage")
            continue
        try:
            validate_spec(stage_spec(spec, index, raw))
        except SpecError as exc:
            problems += [f"stages[{index}].rollout.{p}" for p in exc.problems]
    if problems:
        raise PipelineError(problems)
    return spec


OVERRIDE_UNSIGNED = ("override", "signature", "not_after")
"""What an override's signature does not cover: itself, and what the requester adds when starting the pipeline (the
requester's signature covers the override in turn)."""


def override_digest(raw: dict[str, Any]) -> str:
    """SHA-256 of the spec an override is signed over: everything but ``OVERRIDE_UNSIGNED``."""
    return spec_digest({k: v for k, v in raw.items() if k not in OVERRIDE_UNSIGNED})


def spec_digest(raw: object) -> str:
    """SHA-256 of the spec's canonical JSON: what a signed promotion of this pipeline is bound to."""
    return hashlib.sha256(json.dumps(raw, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


class Promote(_Model):
    """``promote`` update of a pipeline: an approver lets the next stage start."""

    approver: Name
    reason: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    expires: Annotated[str, Field(max_length=64)] | None = None
    signature: Annotated[str, Field(max_length=8192)] | None = None


class StageRecord(BaseModel):
    """One stage as it went: the child rollout that ran it (a link to its own record) and how it ended."""

    model_config = ConfigDict(extra="forbid")

    name: str
    target: str
    promotion: Promotion
    state: Literal["pending", "awaiting_promotion", "running", "promoted", "failed", "skipped"] = "pending"
    rollout_id: str | None = Field(default=None, description="The child Rollout's workflow id: query its record.")
    rollout_run_id: str | None = None
    outcome: str | None = Field(default=None, description="The child rollout's outcome.")
    summary: str | None = None
    promoted_by: str | None = Field(default=None, description="Who promoted into this stage (signed stages).")
    promotion_verified: bool | None = None
    promotion_key: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


class PipelineRecord(BaseModel):
    """The pipeline's audit trail: its stages, each linking its rollout's record, and any override."""

    model_config = ConfigDict(extra="forbid")

    pipeline_id: str
    run_id: str
    service: str
    requested_by: str
    stable: VersionRef
    candidate: VersionRef
    first_run_id: str | None = Field(default=None, description="The first run's id: what a promotion binds to.")
    spec_sha256: str
    spec_signed_by: str | None = Field(default=None, description="The key fingerprint that signed the spec.")
    policy_sha256: str | None = None
    stages: list[StageRecord]
    outcome: PipelineOutcome = "running"
    reason: str | None = None
    failed_before: list[str] = Field(default_factory=list, description="Earlier failed rollouts of this candidate.")
    override: str | None = Field(default=None, description="Who overrode the failed-before refusal, and why.")
    started_at: datetime
    finished_at: datetime | None = None


class PipelineResult(BaseModel):
    """What the workflow returns: how it ended in a line, the stages as Markdown, then the record."""

    outcome: PipelineOutcome
    summary: str
    markdown: str
    record: PipelineRecord


class FailureQuery(BaseModel):
    """Input of ``find_failed_rollouts``: the service and candidate version to look for."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    service: str
    candidate_version: str
    limit: int = 5


class FailureList(BaseModel):
    """Output of ``find_failed_rollouts``: ids of rollouts of that version that rolled back or failed (bounded)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rollout_ids: list[str] = Field(default_factory=list)
    query: str = ""
