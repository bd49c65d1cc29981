"""What operators read, as pure functions of spec and state: the status query, Current Details, search attributes.

Current Details is the dashboard of the Web UI's detail page (Markdown, rewritten at every transition and
analysis); ``plan`` is the static Details a starter passes with the start (``python -m
workflows.rollout.static_details SPEC`` prints it for ``temporal workflow start --static-details``). Nothing
here reads a clock: ``now`` comes in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from temporalio.common import SearchAttributeUpdate, TypedSearchAttributes

from models.durations import format_duration
from models.phases import Phase
from models.record import CriterionEvidence, DeploymentRecord, recovery_phrase
from models.spec import RolloutSpec, criteria_fingerprint
from models.strategy import BlueGreenStep, CanaryStep, ShadowStep, StrategyStep, WatchStep, duration_of
from workflows import search_attributes as sa
from workflows.rollout.bounds import rejected_total
from workflows.rollout.plan import plan_of
from workflows.rollout.state import LastAnalysis, RolloutState, RolloutStatus

IN_STEP = frozenset({Phase.CANARY, Phase.AWAITING_APPROVAL, Phase.INCONCLUSIVE})
SERVICE_MAX = 63
"""A service name longer than the spec allows is not echoed into a search attribute (an invalid spec's)."""


def search_attributes(
    spec: RolloutSpec, s: RolloutState, *, with_outcome: bool = False
) -> list[SearchAttributeUpdate[Any]]:
    """The attributes the workflow list filters on; the outcome only on runs that started with the operator view."""
    updates: list[SearchAttributeUpdate[Any]] = [
        sa.SERVICE.value_set(spec.service),
        sa.CANDIDATE_VERSION.value_set(spec.candidate.version),
        sa.PHASE.value_set(s.phase.value),
        sa.WEIGHT.value_set(s.weight),
    ]
    if with_outcome:
        updates.append(sa.OUTCOME.value_set(outcome_of(s.record)))
    return updates


def changed(
    updates: Sequence[SearchAttributeUpdate[Any]], current: TypedSearchAttributes
) -> list[SearchAttributeUpdate[Any]]:
    """The updates that would change a value: an upsert of an unchanged value is still an event in the history."""
    return [u for u in updates if current.get(u.key) != u.value]


def outcome_of(record: DeploymentRecord) -> str:
    """The ``RolloutOutcome`` value: the record's outcome, with two endings told apart that need a person.

    A lease refusal apart from other failures; a rollback after which stable did not come back to its baseline
    apart from one after which it did.
    """
    if record.outcome == "failed" and any(e.event == "refused" for e in record.timeline):
        return "lease_conflict"
    if record.outcome == "rolled_back" and record.recovery is not None and record.recovery.verdict == "not_recovered":
        return "rolled_back_not_recovered"
    return record.outcome


def invalid_spec_attributes(raw: object) -> list[SearchAttributeUpdate[Any]]:
    """What the list can show for a spec that did not validate: phase and outcome, and the service if it reads."""
    updates: list[SearchAttributeUpdate[Any]] = [
        sa.PHASE.value_set(Phase.FAILED.value),
        sa.OUTCOME.value_set("invalid_spec"),
        sa.WEIGHT.value_set(0.0),
    ]
    service = raw.get("service") if isinstance(raw, dict) else None
    if isinstance(service, str) and 0 < len(service) <= SERVICE_MAX:
        updates.insert(0, sa.SERVICE.value_set(service))
    return updates


def invalid_spec_details(message: str, problems: Sequence[str]) -> str:
    """Current Details of a rollout whose spec did not validate: every problem, and what to do."""
    lines = ["**Invalid spec**: nothing was called, no traffic moved.", "", message, ""]
    lines += [f"- {p}" for p in problems[:20]]
    if len(problems) > 20:
        lines.append(f"- ... and {len(problems) - 20} more (see the failure)")
    lines += ["", "Fix the spec and start a new rollout (`temporal workflow execute` waits and prints the failure)."]
    return "\n".join(lines)


def at_utc(at: datetime) -> str:
    """A moment as operators read it: ``2026-11-30 21:21 UTC``."""
    return f"{at:%Y-%m-%d %H:%M} UTC"


def approve_commands(workflow_id: str) -> list[str]:
    """The commands that approve the waiting step: the signed CLI, and the raw update it sends."""
    return [
        f"rollouts approve {workflow_id} --key <path-to-your-ssh-key>",
        f"temporal workflow update execute --workflow-id {workflow_id} --name approve "
        """--input '{"approver": "<your-name>"}'""",
    ]


def _criterion_row(e: CriterionEvidence) -> str:
    def num(value: float | None) -> str:
        return "-" if value is None else f"{value:.4g}"

    return (
        f"| {e.name} | **{e.verdict}** | {num(e.stable)} | {num(e.candidate)} | {e.limit:g} | "
        f"{e.samples[0]}, {e.samples[1]} |"
    )


def details(spec: RolloutSpec, s: RolloutState, now: datetime) -> str:
    """Current Details in the Web UI (Markdown): the dashboard an operator reads without opening a payload.

    Paragraphs and list items only (the UI joins single lines into one paragraph), and no "1/4" (its Markdown
    typesets the slash as a fraction).
    """
    record = s.record
    lines = [
        f"## {spec.service}: {spec.stable.version} -> {spec.candidate.version}",
        "",
        f"**Phase:** {s.phase.value} | **Candidate weight:** {s.weight:g}% | **Outcome:** {record.outcome}",
    ]
    shadows = shadow_lines(record)
    lines += ["", *(f"- {line}" for line in shadows)] if shadows else []
    if s.phase is Phase.AWAITING_APPROVAL and spec.approvals is not None:
        policy = spec.approvals
        missing = [a for a in policy.approvers if a not in s.approved_by]
        lines += [
            "",
            f"**Approvals:** {len(s.approved_by)} of {policy.quorum} needed",
            "",
            f"- received: {', '.join(s.approved_by) or 'none'}",
            f"- may approve: {', '.join(missing)}",
        ]
        if s.approval_deadline is not None:
            then = "rolls back" if policy.on_timeout == "rollback" else "keeps waiting"
            lines.append(f"- **Approval deadline:** {at_utc(s.approval_deadline)}, then it {then}")
        lines += ["", "Approve with:", "", "```", *approve_commands(record.rollout_id), "```"]
    plan = plan_of(spec)
    in_step = s.phase in IN_STEP and s.step_index < len(plan)
    if in_step:
        item = plan[s.step_index]
        step_observe = duration_of(item) or timedelta()
        observed = s.clock.observed(now)
        left = max(step_observe - observed, timedelta())
        clock = (
            f"observed {format_duration(_whole(observed))} of {format_duration(step_observe)}, "
            f"{format_duration(_whole(left))} left"
            if left
            else f"observation done ({format_duration(_whole(observed))}, asked {format_duration(step_observe)})"
        )
        weight = item.weight if isinstance(item, CanaryStep) else s.weight
        kind = "" if isinstance(item, CanaryStep) else f" ({item.kind})"
        items = [f"**Step {s.step_index + 1} of {len(plan)}**{kind} at {weight:g}%: {clock}"]
        if s.next_analysis_at is not None:
            items.append(f"next analysis at {at_utc(s.next_analysis_at)}")
        report = record.steps[-1] if record.steps else None
        if report is not None:
            items.append(f"evidence so far: **{report.evidence}** after {report.analyses} analyses")
            if report.extensions:
                items.append(f"extended {report.extensions}x on inconclusive evidence")
        lines += [""] + [f"- {item}" for item in items]
        if report is not None and report.final:
            lines += [
                "",
                "| criterion | verdict | stable | candidate | limit | n stable, candidate |",
                "| --- | --- | --- | --- | --- | --- |",
            ]
            lines += [_criterion_row(e) for e in report.final]
    if s.held_since is not None:
        deadline = s.held_since + spec.on_inconclusive.hold_max
        lines += [
            "",
            f"**Held for a decision** until {at_utc(deadline)}, then it rolls back: an approver may promote with "
            "a reason (`--name promote`), anyone may abort.",
        ]
    if s.window_wait:
        lines += ["", f"**Deploy window:** {s.window_wait}; abort rolls back at once, an overrider may promote."]
    if s.paused_by:
        lines += ["", f"**Paused** by {s.paused_by}: the step clock is stopped; analyses go on (`--name resume`)."]
    if record.rollback:
        rb = record.rollback
        # In a code span: the UI's Markdown would typeset "24,455/219,277" as a fraction.
        reason = rb.reason.replace("`", "'")
        lines += ["", f"**Rollback cause:** {rb.cause}" + (f" (by {rb.by})" if rb.by else ""), "", f"`{reason}`"]
        if rb.router_verified:
            lines += ["", f"stable back at 100%, verified, in {rb.duration_seconds or 0:.3g} s"]
    if record.recovery is not None:
        lines += ["", f"**Recovery:** stable {recovery_phrase(record.recovery)}"]
        lines += [f"- {line}" for line in record.recovery.evidence]
    if record.finished_at is not None:
        lines += ["", f"finished {at_utc(record.finished_at)}: the result starts with the outcome and the record"]
    return "\n".join(lines)


def shadow_lines(record: DeploymentRecord) -> list[str]:
    """Each shadow item's outcome in a line: agreement and requests compared, as its step report holds them."""
    return [
        f"**Shadow, step {r.index + 1}:** {'passed' if r.shadow.passed else 'FAILED'}: {r.shadow.summary}"
        for r in record.steps
        if r.shadow is not None
    ]


def result_summary(record: DeploymentRecord) -> str:
    """The result's first line: how it ended, where the candidate stands, and why it rolled back."""
    line = f"{record.outcome}: {record.service} {record.candidate.version} at {record.final_weight:g}%"
    if record.rollback is not None:
        line += f"; rollback cause {record.rollback.cause}: {record.rollback.reason}"
    if record.recovery is not None:
        line += f"; stable {recovery_phrase(record.recovery)}"
    return line


def plan(spec: RolloutSpec) -> str:
    """The static Details: the plan fixed at start (steps, criteria and their hash, policies)."""
    c, t = spec.criteria, spec.rollback_triggers
    lines = [
        f"## Plan: {spec.service} {spec.stable.version} -> {spec.candidate.version}",
        "",
        f"requested by {spec.requested_by}" + (f": {spec.description}" if spec.description else ""),
        "",
        "| step | weight | observe | approval |",
        "| --- | --- | --- | --- |",
    ]
    if spec.strategy is None:
        lines += [
            f"| {i + 1} | {step.weight:g}% | {format_duration(step.observe)} | {'yes' if step.approval else '-'} |"
            for i, step in enumerate(spec.steps)
        ]
    else:
        lines += [_plan_row(i, item) for i, item in enumerate(spec.strategy) if not isinstance(item, WatchStep)]
    watch = spec.strategy[-1] if spec.strategy and isinstance(spec.strategy[-1], WatchStep) else None
    lines += [
        "| promote | 100% | - | - |",
        *([f"| watch | 100% | {format_duration(watch.duration)} | - |"] if watch else []),
        "",
        f"gates: preflight {'yes' if spec.preflight else 'no'}, shadow "
        + (f"{spec.shadow.max_requests} requests" if spec.shadow else "no")
        + f"; analysis every {format_duration(spec.analysis_interval)}",
        "",
        f"**Criteria** (sha256 `{criteria_fingerprint(spec)[:16]}`): quality drop <= {c.quality_drop_max:g}, "
        f"p95 <= {c.latency_p95_ratio_max:g}x stable, error rate <= {c.error_rate_ratio_max:g}x stable, "
        f"at least {c.min_requests} candidate requests per step, alpha {c.alpha:g}; hard triggers: "
        f"error rate > {t.error_rate_ratio:g}x, p95 > {t.latency_p95_ratio:g}x",
    ]
    if spec.approvals is not None:
        a = spec.approvals
        lines += [
            "",
            f"**Approvals:** {a.quorum} of {', '.join(a.approvers)} within {format_duration(a.timeout)}, "
            f"then {a.on_timeout}",
        ]
    p = spec.on_inconclusive
    lines += [
        "",
        f"**Inconclusive evidence:** extend {p.max_extensions}x"
        + (f" by {format_duration(p.extend_by)}" if p.extend_by else "")
        + f", then {p.then}"
        + (f" (held at most {format_duration(p.hold_max)})" if p.then == "pause" else ""),
        "",
        f"**Metrics failures:** {spec.analysis_failures.max_consecutive} in a row, then "
        f"{spec.analysis_failures.action}",
    ]
    return "\n".join(lines)


def _plan_row(index: int, item: StrategyStep) -> str:
    """A strategy item as a row of the plan's table."""
    if isinstance(item, CanaryStep):
        approval = "yes" if item.approval else "-"
        return f"| {index + 1} | {item.weight:g}% | {format_duration(item.observe)} | {approval} |"
    if isinstance(item, BlueGreenStep):
        return f"| {index + 1} blue_green | 0% (idle, previewed by the gates) | - | - |"
    if isinstance(item, ShadowStep) and item.mode == "mirror":
        held = format_duration(item.duration) if item.duration is not None else "-"
        return f"| {index + 1} shadow | 0% (live traffic mirrored to the candidate, answers discarded) | {held} | - |"
    if isinstance(item, ShadowStep):
        return f"| {index + 1} shadow | 0% (replay {item.replay}, up to {item.max_requests} requests) | - | - |"
    duration = duration_of(item)
    held = format_duration(duration) if duration is not None else "until promote"
    return f"| {index + 1} {item.kind} | current | {'-' if item.kind == 'approval' else held} | " + (
        "yes |" if item.kind == "approval" else "- |"
    )


def status(spec: RolloutSpec, s: RolloutState, now: datetime) -> RolloutStatus:
    """The ``status`` query: what an operator wants to know at a glance."""
    plan = plan_of(spec)
    in_step = s.phase in IN_STEP and s.step_index < len(plan)
    left: str | None = None
    observed: str | None = None
    if in_step:
        seen = s.clock.observed(now)
        observed = format_duration(_whole(seen))
        left = format_duration(_whole(max((duration_of(plan[s.step_index]) or timedelta()) - seen, timedelta())))
    last = s.record.analyses[-1] if s.record.analyses else None
    approvers = spec.approvals.approvers if spec.approvals else []
    quorum = spec.approvals.quorum if spec.approvals else 0
    awaiting = s.phase is Phase.AWAITING_APPROVAL
    report = s.record.steps[-1] if in_step and s.record.steps else None
    return RolloutStatus(
        service=spec.service,
        phase=s.phase,
        step=s.step_index + 1 if in_step else None,
        steps=len(plan),
        weight=s.weight,
        time_left_in_step=left,
        observed_in_step=observed,
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
        step_evidence=report.evidence if report else None,
        inconclusive=report is not None and (s.awaiting_decision or s.phase is Phase.INCONCLUSIVE),
        extensions=report.extensions if report else 0,
        hold_deadline=None if s.held_since is None else s.held_since + spec.on_inconclusive.hold_max,
        approvals_received=list(s.approved_by),
        approvals_missing=max(quorum - len(s.approved_by), 0) if awaiting else 0,
        approval_deadline=s.approval_deadline if awaiting else None,
        approvers=approvers,
        rejected_signals=rejected_total(s.record),
        rollback=s.record.rollback,
        criteria_sha256=s.record.criteria_sha256,
        outcome=s.record.outcome,
        waiting_for_window=s.window_wait,
        shadow=[line.replace("**", "") for line in shadow_lines(s.record)],
    )


def _whole(value: timedelta) -> timedelta:
    return timedelta(seconds=round(value.total_seconds()))
