"""What operators read, as pure functions of spec and state: the status query, Current Details, search attributes."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from temporalio.common import SearchAttributeUpdate

from models.durations import format_duration
from models.phases import Phase
from models.spec import RolloutSpec
from workflows import search_attributes as sa
from workflows.rollout.bounds import rejected_total
from workflows.rollout.state import LastAnalysis, RolloutState, RolloutStatus

IN_STEP = frozenset({Phase.CANARY, Phase.AWAITING_APPROVAL, Phase.INCONCLUSIVE})


def search_attributes(spec: RolloutSpec, s: RolloutState) -> list[SearchAttributeUpdate[Any]]:
    """The attributes the workflow list filters on."""
    return [
        sa.SERVICE.value_set(spec.service),
        sa.CANDIDATE_VERSION.value_set(spec.candidate.version),
        sa.PHASE.value_set(s.phase.value),
        sa.WEIGHT.value_set(s.weight),
    ]


def details(spec: RolloutSpec, s: RolloutState) -> str:
    """Current Details in the Web UI (Markdown)."""
    lines = [
        f"**{spec.service}** {spec.stable.version} -> {spec.candidate.version}: **{s.phase.value}**, "
        f"candidate at {s.weight:g}%"
    ]
    if s.phase in IN_STEP and s.step_index < len(spec.steps):
        lines.append(f"step {s.step_index + 1}/{len(spec.steps)}")
    if s.phase in IN_STEP and s.record.steps:
        report = s.record.steps[-1]
        if s.awaiting_decision or report.extensions:
            lines.append(f"evidence {report.evidence}, extended {report.extensions}x")
        if s.held_since is not None:
            deadline = s.held_since + spec.on_inconclusive.hold_max
            lines.append(f"held for a decision until {deadline:%Y-%m-%d %H:%M} UTC (promote with a reason, or abort)")
    if s.paused_by:
        lines.append(f"paused by {s.paused_by}")
    if s.record.rollback:
        lines.append(f"rollback: {s.record.rollback.reason}")
    return "\n\n".join(lines)


def status(spec: RolloutSpec, s: RolloutState, now: datetime) -> RolloutStatus:
    """The ``status`` query: what an operator wants to know at a glance."""
    in_step = s.phase in IN_STEP and s.step_index < len(spec.steps)
    left: str | None = None
    if in_step:
        remaining = spec.steps[s.step_index].observe - s.clock.observed(now)
        left = format_duration(max(remaining, timedelta()))
    last = s.record.analyses[-1] if s.record.analyses else None
    approvers = spec.approvals.approvers if spec.approvals else []
    quorum = spec.approvals.quorum if spec.approvals else 0
    return RolloutStatus(
        service=spec.service,
        phase=s.phase,
        step=s.step_index + 1 if in_step else None,
        steps=len(spec.steps),
        weight=s.weight,
        time_left_in_step=left,
        paused=s.paused_by is not None,
        paused_by=s.paused_by,
        next_analysis_at=s.next_analysis_at if in_step else None,
        last_analysis=None
        if last is None
        else LastAnalysis(
            at=last.at,
            decision=last.decision,
            reason=last.reason,
            evidence=last.evidence,
            criteria={c.name: c for c in (s.record.steps[-1].final if s.record.steps else [])},
        ),
        step_evidence=s.record.steps[-1].evidence if in_step and s.record.steps else None,
        extensions=s.record.steps[-1].extensions if in_step and s.record.steps else 0,
        hold_deadline=None if s.held_since is None else s.held_since + spec.on_inconclusive.hold_max,
        approvals_received=list(s.approved_by),
        approvals_missing=max(quorum - len(s.approved_by), 0) if s.phase is Phase.AWAITING_APPROVAL else 0,
        approvers=approvers,
        rejected_signals=rejected_total(s.record),
        rollback=s.record.rollback,
        criteria_sha256=s.record.criteria_sha256,
    )
