"""The ``Pipeline`` workflow: ordered stages, each a child ``Rollout`` (docs/pipelines.md)."""

from workflows.pipeline.workflow import PipelineWorkflow

__all__ = ["PipelineWorkflow"]
