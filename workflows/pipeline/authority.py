"""A pipeline signs once for all its stages: the checks on both sides of that signature (pure, no I/O).

The pipeline (``verify_pipeline_spec``): its spec is signed by ``requested_by`` with a key the policy lists, for
this workflow id (``pipeline-<service>``), before its ``not_after``, unless the policy allows unsigned specs.

A stage's child rollout (``stage_authority``), whose spec carries no signature of its own but the pipeline's signed
spec in ``pipeline_stage``: it counts as signed by the requester only when

- its parent workflow (``workflow.info().parent``, set by the server: no client can claim a parent) is
  ``pipeline-<service>``, the id the pipeline spec was signed for; only a Pipeline starts Rollout children;
- its own workflow id is ``<pipeline id>--<stage>``: one child per stage;
- its spec is exactly what the pipeline composes for that stage from the signed spec, so nothing was changed
  between the signature and the stage;
- the signature verifies, under the child's own policy, as the requester's.

``not_after`` is checked by the pipeline at its start, not by the children: a canary stage starts days later. A
copy of the signed spec is useless elsewhere: a client cannot start a rollout with a parent, and a new pipeline
run checks ``not_after`` again.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from models.pipeline import PipelineError, PipelineSpec, pipeline_id, stage_spec, validate_pipeline
from models.policy import GoverningPolicy
from models.spec import RolloutSpec
from workflows.policy import binding_problem
from workflows.signatures import Refused, canonical_spec, verify_signed


def verify_pipeline_spec(
    raw: dict[str, Any], spec: PipelineSpec, governing: GoverningPolicy, *, workflow_id: str, now: datetime
) -> str | Refused | None:
    """The requester's key fingerprint when the pipeline spec is signed; None when unsigned and allowed."""
    if spec.signature is None:
        if governing.policy.allow_unsigned:
            return None
        return Refused(
            f"signature: the pipeline spec must be signed by {spec.requested_by!r} (rollouts pipeline start --key)"
        )
    late = binding_problem(spec, governing, workflow_id, now)
    if late is not None:
        return late
    verdict = verify_signed(canonical_spec(raw), spec.signature, principal=spec.requested_by, policy=governing)
    return verdict if isinstance(verdict, Refused) else verdict.fingerprint


def stage_authority(
    raw: object,
    spec: RolloutSpec,
    governing: GoverningPolicy,
    *,
    workflow_id: str,
    parent_workflow_id: str | None,
) -> str | Refused | None:
    """The pipeline requester's key fingerprint standing for this stage's spec, None if unsigned and allowed."""
    stage = spec.pipeline_stage
    assert stage is not None
    if spec.signature is not None:
        return Refused("pipeline_stage: a stage's rollout is signed through its pipeline, not with its own signature")
    if parent_workflow_id is None:
        return Refused("pipeline_stage: a stage's rollout runs only as a child of its pipeline")
    expected_parent = pipeline_id(spec.service)
    if parent_workflow_id != expected_parent:
        return Refused(f"pipeline_stage: the parent is {parent_workflow_id!r}, not the pipeline {expected_parent!r}")
    try:
        pipeline = validate_pipeline(stage.pipeline)
    except PipelineError as exc:
        return Refused(f"pipeline_stage.pipeline: {exc}")
    if pipeline.signature is not None and pipeline.workflow_id != parent_workflow_id:
        return Refused(f"pipeline_stage.pipeline.workflow_id: signed for {pipeline.workflow_id!r}, not the parent")
    names = [s.name for s in pipeline.stages]
    if stage.stage not in names:
        return Refused(f"pipeline_stage.stage: {stage.stage!r} is not a stage of the pipeline")
    if workflow_id != f"{parent_workflow_id}--{stage.stage}":
        return Refused(f"pipeline_stage: stage {stage.stage!r} runs as {parent_workflow_id}--{stage.stage}")
    composed = stage_spec(pipeline, names.index(stage.stage), stage.pipeline)
    if _canonical(raw) != _canonical(composed):
        return Refused("pipeline_stage: this rollout's spec is not the stage the pipeline's signature covers")
    if pipeline.signature is None:
        if governing.policy.allow_unsigned:
            return None
        return Refused(f"signature: the pipeline spec must be signed by {pipeline.requested_by!r}")
    message = canonical_spec(stage.pipeline)
    verdict = verify_signed(message, pipeline.signature, principal=pipeline.requested_by, policy=governing)
    return verdict if isinstance(verdict, Refused) else verdict.fingerprint


def _canonical(document: object) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
