"""What a stage's Rollout spec carries so its child can check that its pipeline was signed (no I/O).

A pipeline signs once, for all its stages: the requester signs the pipeline spec (``rollouts pipeline start``),
and the pipeline hands each stage's child Rollout that signed spec and the stage's name. The child verifies the
signature itself under its own policy, checks that its parent workflow is the pipeline the spec was signed for,
and that its own spec is exactly the stage the signature covers (``workflows/pipeline/authority.py``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field


class PipelineStage(BaseModel):
    """The pipeline's signed spec and which of its stages this rollout runs: set by the pipeline, never by hand."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    stage: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,30}$")] = Field(description="The stage's name.")
    pipeline: dict[str, Any] = Field(description="The pipeline spec as it was started (with its signature).")
