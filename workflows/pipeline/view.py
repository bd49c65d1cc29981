"""What people read about a pipeline, from its record alone: Current Details (a table of stages) and a summary."""

from __future__ import annotations

from models.pipeline import PipelineRecord, StageRecord


def _cell(text: str | None) -> str:
    return (text or "-").replace("|", "/").replace("\n", " ")[:160]


def _row(index: int, stage: StageRecord) -> str:
    rollout = f"`{stage.rollout_id}`" if stage.rollout_id else "-"
    promotion: str = stage.promotion
    if stage.promoted_by:
        promotion += f" by {stage.promoted_by}" + (" (signed)" if stage.promotion_verified else " (unverified)")
    return (
        f"| {index + 1} | {stage.name} | {stage.target} | {promotion} | **{stage.state}** | {rollout} | "
        f"{_cell(stage.summary)} |"
    )


def details(record: PipelineRecord) -> str:
    """Current Details: the versions, the stages as a table (each linking its rollout), and how it ended."""
    lines = [
        f"## Pipeline {record.service}: {record.stable.version} -> {record.candidate.version}",
        "",
        f"**Outcome:** {record.outcome}" + (f": {_cell(record.reason)}" if record.reason else ""),
        "",
        "| # | stage | target | promotion | state | rollout | summary |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *(_row(i, s) for i, s in enumerate(record.stages)),
    ]
    waiting = next((s for s in record.stages if s.state == "awaiting_promotion"), None)
    if waiting is not None:
        lines += [
            "",
            f"**Waiting for a signed promotion** into {waiting.name}: "
            f"`rollouts pipeline promote {record.service} --stage {waiting.name} --key <your key>`",
        ]
    if record.failed_before:
        lines += ["", f"**Failed before:** {', '.join(record.failed_before)}"]
    if record.override:
        lines += ["", f"**Override:** {_cell(record.override)}"]
    lines += ["", "Each stage's record: `temporal workflow query --workflow-id <rollout> --type record`."]
    return "\n".join(lines)


def summary(record: PipelineRecord) -> str:
    """The result's first line."""
    done = [s.name for s in record.stages if s.state == "promoted"]
    line = f"{record.outcome}: {record.service} {record.candidate.version} through {', '.join(done) or 'no stage'}"
    return line + (f"; {record.reason}" if record.reason else "")
