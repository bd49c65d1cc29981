"""The deployment record: what was rolled out, under which pre-registered criteria, what happened and why.

It is the workflow's result (as JSON) and is rendered as Markdown for a change log or a ticket.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from models.criteria import Criteria, RollbackTriggers
from models.custom_metrics import CustomVerdict
from models.durations import format_duration
from models.limits import MAX_SIGNATURE_CHARS
from models.release import ReleaseReport
from models.segments import Segment, describe
from models.spec import RolloutSpec, VersionRef
from models.verdicts import AnalysisDecision, JudgeMethod, Verdict

Outcome = Literal["running", "promoted", "rolled_back", "failed", "cancelled"]
RollbackCause = Literal[
    "abort",
    "reject",
    "analysis",
    "analysis_failures",
    "approval_timeout",
    "preflight",
    "shadow",
    "router_error",
    "cancelled",
    "inconclusive",
    "untestable",
    "max_pause",
    "revoked",
    "ab_test",
]
StepEvidence = Literal["pass", "inconclusive", "none", "override"]
"""How a step's evidence stands: every criterion passes, not yet, no successful analysis yet, or a person's
recorded override."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")


class TimelineEntry(_Model):
    """One thing that happened, in the phase it happened in."""

    at: datetime
    phase: str
    event: str
    detail: str = ""


class SignedProof(_Model):
    """What proves a signed decision without Temporal's history: ``ssh-keygen -Y verify`` runs on it alone.

    Write ``allowed_signer`` to a file, ``signature`` to another and pipe ``message`` in:
    ``ssh-keygen -Y verify -f <allowed_signers> -I <principal> -n durable-rollouts -s <sig> < <message>``.
    """

    message: str = Field(description="The exact bytes that were signed (UTF-8), as the workflow verified them.")
    signature: str = Field(max_length=MAX_SIGNATURE_CHARS, description="The armored SSH signature.")
    allowed_signer: str = Field(
        description='The signer\'s line in allowed_signers form: principal namespaces="durable-rollouts" key.'
    )


class ApprovalEntry(_Model):
    """An accepted approval of a step."""

    step: int
    approver: str
    at: datetime
    comment: str | None = None
    verified: bool | None = Field(
        default=None,
        description="True: signed by a key the policy lists for the approver; False: unsigned, counted because "
        "the policy allows it; None: the rollout predates signed approvals.",
    )
    key: str | None = Field(default=None, description="SHA256 fingerprint of the key that signed it.")
    proof: SignedProof | None = Field(
        default=None, description="The signed message, the signature and the signer's key: proof that outlives history."
    )
    dropped: str | None = Field(
        default=None, description="Why this approval no longer counts (its key was revoked); None: it counts."
    )


class PolicyRecord(_Model):
    """Which policy governed the rollout, exactly: the file read at start and its SHA-256."""

    source: str | None = Field(default=None, description="The policy file; None: the worker had no policy.")
    sha256: str | None = None
    scope: str | None = Field(default=None, description="services.<name> or default.")
    allow_unsigned: bool = False
    spec_signed_by: str | None = Field(default=None, description="Fingerprint of the key that signed the spec.")
    note: str = ""
    target: str | None = Field(default=None, description="The operators' target the rollout ran on, by name.")
    target_origin: str | None = Field(
        default=None,
        description="policy: a target the policy defines; inline-policy: the spec's own router and metrics, as the "
        "policy allows; inline-lab: the spec's own, on a worker in lab mode without a policy. None: older rollout.",
    )
    spec_proof: SignedProof | None = Field(
        default=None, description="The spec's canonical message, its signature and the requester's key."
    )


class SignalRejection(_Model):
    """A signal that changed nothing, and why: kept for the audit trail."""

    at: datetime
    signal: str
    by: str | None
    reason: str
    payload: Any = None


class CriterionEvidence(_Model):
    """One criterion at one analysis, compact: verdict and the numbers behind it."""

    name: str
    verdict: Verdict
    stable: float | None = None
    candidate: float | None = None
    observed: float | None = None
    limit: float
    lower: float | None = None
    upper: float | None = None
    e_value: float | None = None
    samples: tuple[int, int] = (0, 0)
    note: str = ""


def evidence_line(e: CriterionEvidence) -> str:
    """``error_rate fail: 2.99 vs 1.2 [2.1, 4.0] e=412 n=497000/5210``."""
    parts = [f"{e.name} {e.verdict}: {_fmt(e.observed)} vs {e.limit:g}"]
    if e.lower is not None or e.upper is not None:
        parts.append(f"[{_fmt(e.lower)}, {_fmt(e.upper)}]")
    if e.e_value is not None:
        parts.append(f"e={_fmt(e.e_value, 3)}")
    parts.append(f"n={e.samples[0]}/{e.samples[1]}")
    return " ".join(parts)


class AnalysisEntry(_Model):
    """One analysis of a step against the pre-registered criteria.

    ``evidence`` has one compact line per criterion (verdict, estimate, bounds, e-value, samples) so that many
    analyses stay small; the structured evidence is kept where it decides something: on the analysis that rolled
    back, and as each step's ``final``.
    """

    at: datetime
    step: int
    weight: float
    decision: AnalysisDecision
    reason: str
    evidence: list[str] = Field(default_factory=list)
    criteria: list[CriterionEvidence] = Field(default_factory=list)
    triggers_breached: list[str] = Field(default_factory=list)
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    custom: list[CustomVerdict] = Field(
        default_factory=list,
        exclude_if=lambda value: not value,  # analyses without custom metrics serialise as before
        description="Each custom metric's verdict at this analysis (one per criteria.custom entry).",
    )


ABWinner = Literal["candidate", "stable", "no_difference"]
"""An A/B test's outcome: the candidate won, stable won, or the duration ended without a winner."""


class ABResult(_Model):
    """What an A/B test established on its primary metric, and how it ended.

    ``difference`` and its interval are candidate - stable (for an error rate a negative difference is better);
    the interval is anytime-valid at ``alpha``, so it holds at whatever analysis the test stopped.
    """

    metric: str = Field(max_length=63, description="quality, error_rate or the custom metric's name.")
    winner: ABWinner
    decided_by: Literal["evidence", "duration", "person"] = Field(
        description="The interval (a winner), the duration's end (no winner), or a person's signed promote."
    )
    stable: float | None = Field(default=None, description="Stable's estimate on the primary metric.")
    candidate: float | None = Field(default=None, description="Candidate's estimate on the primary metric.")
    difference: float | None = Field(default=None, description="Candidate - stable.")
    lower: float | None = Field(default=None, description="Lower anytime-valid bound on the difference.")
    upper: float | None = Field(default=None, description="Upper anytime-valid bound on the difference.")
    alpha: float
    samples: tuple[int, int] = Field(default=(0, 0), description="(stable, candidate) observations used.")
    summary: str = ""


class GateReport(_Model):
    """Result of the preflight eval gate, the eval suite gate or the shadow comparison."""

    name: Literal["preflight", "shadow", "eval"]
    passed: bool
    summary: str
    details: dict[str, Any] = Field(default_factory=dict)


class StepReport(_Model):
    """One canary step's summary: what it observed, how its evidence ended, who approved it."""

    index: int
    weight: float
    observe_seconds: float
    started_at: datetime
    kind: Literal["canary", "analysis", "pause", "approval", "blue_green", "watch", "ab_test", "shadow"] = Field(
        default="canary",
        exclude_if=lambda value: value == "canary",  # records of rollouts in the steps shape read as before
        description="The strategy item this step was (a steps entry is a canary).",
    )
    ended_at: datetime | None = None
    observed_seconds: float = 0.0
    analyses: int = 0
    analysis_errors: int = 0
    candidate_requests: int = 0
    stable_requests: int = 0
    final: list[CriterionEvidence] = Field(default_factory=list)
    approvals: list[ApprovalEntry] = Field(default_factory=list)
    evidence: StepEvidence = Field(default="none", description="How the step's evidence stood when it ended.")
    extensions: int = Field(default=0, description="Times the observation was extended on inconclusive evidence.")
    deciding_analysis: AnalysisEntry | None = Field(
        default=None, description="The analysis that decided the step: the first to pass, or the one that failed."
    )
    segments: list[Segment] = Field(
        default_factory=list,
        # Absent while empty: a record an older release carried keeps its JSON and digest.
        exclude_if=lambda value: not value,
        description="The segments the candidate's share applied within, as the router confirmed (empty: everyone).",
    )
    ab_test: ABResult | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent unless the step was an A/B test
        description="An ab_test step's outcome: the winner on the primary metric, with the estimates and interval.",
    )
    shadow: GateReport | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent unless the step was a shadow item
        description="A shadow step's comparison: requests compared, agreement, both versions' errors and p95.",
    )


class OverrideEntry(_Model):
    """A person moved a step on without passing evidence: who, why, and what the evidence said then."""

    step: int
    approver: str
    reason: str
    at: datetime
    evidence: list[str] = Field(default_factory=list, description="The step's evidence lines at the override.")
    verified: bool | None = Field(default=None, description="As for approvals: signed and listed, unsigned, or older.")
    key: str | None = Field(default=None, description="SHA256 fingerprint of the key that signed it.")
    proof: SignedProof | None = Field(default=None, description="As for approvals: what proves the override.")
    dropped: str | None = Field(
        default=None, description="Why this override no longer counts (its key was revoked); None: it counts."
    )


class ManualMove(_Model):
    """An overrider moved the walk: ``skip`` to a later step, or ``full`` (100% now). Who, why, what was left out."""

    decision: Literal["skip", "full"]
    from_step: int = Field(description="1-based step the walk was in when the move was accepted.")
    to_step: int | None = Field(description="1-based step the walk landed on; None: 100% (then the watch, if any).")
    by: str
    reason: str
    at: datetime
    left_out: list[int] = Field(
        default_factory=list, description="1-based steps the move left out (the current one, if it ended early)."
    )
    made_at: datetime | None = Field(default=None, description="When the walk made the move; None: not made yet.")
    verified: bool | None = Field(default=None, description="As for approvals: signed and listed, unsigned, or older.")
    key: str | None = Field(default=None, description="SHA256 fingerprint of the key that signed it.")
    proof: SignedProof | None = Field(default=None, description="As for approvals: what proves the move.")


class SignedOperation(_Model):
    """A counted, signed decision that is not an approval or an override: reject, abort, pause, resume."""

    decision: str
    by: str
    at: datetime
    key: str = Field(description="SHA256 fingerprint of the key that signed it.")
    proof: SignedProof | None = None


class RollbackReport(_Model):
    """Why the rollout rolled back, who asked, and how fast stable was back at 100%."""

    cause: RollbackCause
    by: str | None
    reason: str
    started_at: datetime
    finished_at: datetime | None = None
    duration_seconds: float | None = None
    router_verified: bool | None = Field(
        default=None, description="True once the router confirmed stable at 100%; None when no traffic had moved."
    )
    compensations: list[str] = Field(default_factory=list)


RecoveryVerdict = Literal["recovered", "not_recovered", "unverified"]
"""After a rollback: stable met its pre-rollout baseline within the watch, did not, or could not be judged
(no baseline was read at the start, or the metrics could not be read)."""


class RecoveryReport(_Model):
    """Whether stable came back to its pre-rollout baseline after the rollback, how soon, and the numbers."""

    verdict: RecoveryVerdict
    after_seconds: float | None = Field(
        default=None, description="From stable verified at 100% to the reading that met the rule; None otherwise."
    )
    watched_seconds: float = Field(default=0.0, description="How long stable was watched.")
    evidence: list[str] = Field(
        default_factory=list, description="The rule, the baseline and the last reading, one line each."
    )


class DeploymentRecord(_Model):
    """The audit trail of one rollout: what moved, under which criteria, who decided what, and why."""

    rollout_id: str
    run_id: str
    service: str
    requested_by: str
    description: str | None = None
    stable: VersionRef
    candidate: VersionRef
    strategy: dict[str, Any]
    criteria: Criteria
    rollback_triggers: RollbackTriggers
    criteria_sha256: str
    judge: JudgeMethod
    started_at: datetime
    finished_at: datetime | None = None
    outcome: Outcome = "running"
    final_weight: float = 0.0
    timeline: list[TimelineEntry] = Field(default_factory=list)
    gates: list[GateReport] = Field(default_factory=list)
    steps: list[StepReport] = Field(default_factory=list)
    analyses: list[AnalysisEntry] = Field(default_factory=list)
    approvals: list[ApprovalEntry] = Field(default_factory=list)
    rejected_signals: list[SignalRejection] = Field(default_factory=list)
    rollback: RollbackReport | None = None
    continued_as_new: int = 0
    overrides: list[OverrideEntry] = Field(default_factory=list)
    untestable: dict[str, str] = Field(
        default_factory=dict,
        description="Criteria the metrics could not test, accepted by the spec's accept_untestable, with why.",
    )
    analyses_dropped: int = Field(
        default=0, description="Older analyses left out of ``analyses`` (each step keeps its summary)."
    )
    timeline_dropped: int = Field(default=0, description="Timeline entries left out between the first and the last.")
    rejected_signal_counts: dict[str, int] = Field(
        default_factory=dict, description="Every refused signal counted by name, kept ones and dropped ones alike."
    )
    policy: PolicyRecord | None = Field(
        default=None, description="The policy that governed the rollout; None: it predates service policies."
    )
    flag: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent unless set: older records keep their JSON and digest
        description="The feature flag the rollout drove (router unleash), by name; its changes are the timeline's "
        "'weight set' entries. None: a router without a flag.",
    )
    first_run_id: str | None = Field(
        default=None,
        description="The first execution's run id, which signed decisions are bound to (a reset keeps it); None: "
        "the rollout predates it and binds to run_id.",
    )
    signed_operations: list[SignedOperation] = Field(
        default_factory=list, description="Signed rejections, aborts, pauses and resumes that counted, with proof."
    )
    proofs_omitted: int = Field(
        default=0, description="Signed decisions whose proof was left out to keep the record within its size."
    )
    recovery: RecoveryReport | None = Field(
        default=None, description="The recovery check after a rollback, where the policy asks for one."
    )
    notifications_sent: int = Field(default=0, description="Webhook deliveries the receiver accepted (2xx).")
    notifications_failed: int = Field(
        default=0, description="Webhook deliveries that failed after their retries, or were still out at the end."
    )
    custom_metrics_sha256: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent unless the spec judges custom metrics
        description="SHA-256 of the canonical JSON of the custom metrics' definitions the rollout judged by (the "
        "target's, by name); None: no custom metrics.",
    )
    release: ReleaseReport | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent unless the target has a release hook
        description="The old version's release through the target's release hook, after a passed watch.",
    )
    moves: list[ManualMove] = Field(
        default_factory=list,
        exclude_if=lambda value: not value,  # absent unless a move was made: older records keep their JSON and digest
        description="Manual moves (skip to a step, 100% now) by overriders, with who, why and what they left out.",
    )


def strategy_of(spec: RolloutSpec) -> dict[str, Any]:
    """The strategy as a person would describe it, for the record."""
    return {
        # Segments only where a step has them: the strategy of a rollout without targeting reads as before.
        "steps": [step.model_dump(mode="json", exclude=None if step.segments else {"segments"}) for step in spec.steps],
        **({"strategy": [item.model_dump(mode="json") for item in spec.strategy]} if spec.strategy else {}),
        "analysis_interval": format_duration(spec.analysis_interval),
        "total_observation": format_duration(spec.total_observation),
        "preflight": spec.preflight is not None,
        "shadow": spec.shadow.model_dump(mode="json") if spec.shadow else None,
        "approvals": spec.approvals.model_dump(mode="json") if spec.approvals else None,
        "analysis_failures": spec.analysis_failures.model_dump(mode="json"),
        "on_inconclusive": spec.on_inconclusive.model_dump(mode="json"),
        "accept_untestable": list(spec.accept_untestable),
        "target": spec.target,
        "router": spec.router.kind if spec.router is not None else None,
        "metrics": spec.metrics.kind if spec.metrics is not None else None,
    }


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def _proof(verified: bool | None, key: str | None) -> str:
    if verified is None:
        return ""
    return f" (signed, `{key}`)" if verified else " (unverified)"


def render_markdown(record: DeploymentRecord) -> str:
    """The record as a Markdown document, in the shape of a change-log entry."""
    lines = [
        f"# Deployment record: {record.service} {record.stable.version} -> {record.candidate.version}",
        "",
        f"- **Outcome:** {record.outcome} (candidate at {record.final_weight:g}% at the end)",
        f"- **Rollout:** `{record.rollout_id}` run `{record.run_id}`, requested by {record.requested_by}",
        f"- **Started / finished:** {record.started_at.isoformat()} / "
        f"{record.finished_at.isoformat() if record.finished_at else '-'}",
        f"- **Criteria sha256:** `{record.criteria_sha256}` (judge: {record.judge})",
    ]
    if record.flag:
        lines.append(f"- **Feature flag:** `{record.flag}` (the candidate's exposure; every change is in the timeline)")
    if record.description:
        lines.append(f"- **Why:** {record.description}")
    lines += ["", "## Candidate manifest", ""]
    lines += [f"- `{key}`: `{value}`" for key, value in record.candidate.manifest.items()] or ["- (none given)"]
    c, t = record.criteria, record.rollback_triggers
    lines += [
        "",
        "## Pre-registered criteria",
        "",
        f"- quality: candidate >= stable - {c.quality_drop_max:g}",
        f"- latency p95: candidate <= stable x {c.latency_p95_ratio_max:g}",
        f"- error rate: candidate <= stable x {c.error_rate_ratio_max:g}",
        f"- minimum sample: {c.min_requests} candidate requests per step; alpha {c.alpha:g}",
        f"- hard triggers: error rate > {t.error_rate_ratio:g}x, p95 > {t.latency_p95_ratio:g}x",
    ]
    if c.custom:
        named = ", ".join(f"{x.metric}" + (f" (limit {x.limit:g})" if x.limit is not None else "") for x in c.custom)
        lines.append(f"- custom metrics: {named}; definitions sha256 `{record.custom_metrics_sha256}`")
        last = next((a.custom for a in reversed(record.analyses) if a.custom), [])
        lines += [f"  - {v.metric} ({v.kind}): {_custom_phrase(v)}" for v in last]
    if record.rollback:
        rb = record.rollback
        lines += [
            "",
            "## Rollback",
            "",
            f"- **Cause:** {rb.cause}" + (f" by {rb.by}" if rb.by else ""),
            f"- **Reason:** {rb.reason}",
            f"- **Took:** {_fmt(rb.duration_seconds, 3)} s; "
            + (
                "no traffic had moved to the candidate"
                if rb.router_verified is None
                else f"router verified at stable 100%: {rb.router_verified}"
            ),
        ]
    if record.recovery:
        rc = record.recovery
        lines += ["", "## Recovery", "", f"- **Verdict:** {recovery_phrase(rc)}"]
        lines += [f"- {line}" for line in rc.evidence]
    if record.gates:
        lines += ["", "## Gates", ""]
        lines += [f"- {g.name}: {'passed' if g.passed else 'FAILED'}: {g.summary}" for g in record.gates]
    if record.steps:
        lines += [
            "",
            "## Steps",
            "",
            "| step | weight | observed | analyses | candidate req | error rate | p95 | quality |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for s in record.steps:
            verdicts = {e.name: e for e in s.final}

            def cell(name: str, verdicts: dict[str, CriterionEvidence] = verdicts) -> str:
                e = verdicts.get(name)
                return "-" if e is None else f"{e.verdict} ({_fmt(e.observed, 3)} vs {e.limit:g})"

            lines.append(
                f"| {s.index + 1} | {s.weight:g}%{f' of {describe(s.segments)}' if s.segments else ''} | "
                f"{format_duration_seconds(s.observed_seconds)} | {s.analyses} | "
                f"{s.candidate_requests} | {cell('error_rate')} | {cell('latency_p95')} | {cell('quality')} |"
            )
        ab_tests = [f"- A/B test, step {s.index + 1}: {s.ab_test.summary}" for s in record.steps if s.ab_test]
        lines += ["", *ab_tests] if ab_tests else []
        shadows = [
            f"- Shadow, step {s.index + 1}: {'passed' if s.shadow.passed else 'FAILED'}: {s.shadow.summary}"
            for s in record.steps
            if s.shadow
        ]
        lines += ["", *shadows] if shadows else []
    if record.policy is not None:
        p = record.policy
        lines += ["", "## Policy", ""]
        lines += [
            f"- {p.scope} of `{p.source}`, sha256 `{p.sha256}`" if p.source else f"- none: {p.note}",
            f"- spec signed by {record.requested_by} with `{p.spec_signed_by}`"
            if p.spec_signed_by
            else "- spec unsigned",
        ]
    if record.approvals:
        lines += ["", "## Approvals", ""]
        lines += [
            f"- step {a.step + 1}: {a.approver}{_proof(a.verified, a.key)} at {a.at.isoformat()}"
            + (f": {a.comment}" if a.comment else "")
            + (f" **(dropped: {a.dropped})**" if a.dropped else "")
            for a in record.approvals
        ]
    if record.moves:
        lines += ["", "## Manual moves", ""]
        lines += [_move_line(m) for m in record.moves]
    if record.release is not None:
        r = record.release
        lines += ["", "## Old version", ""]
        lines.append(
            f"- {r.released_version} released through the operators' hook (HTTP {r.status}) at {r.at.isoformat()}"
            if r.outcome == "released"
            else f"- {r.released_version} **not released**: {r.error} (it still runs; free it by hand)"
        )
    if record.rejected_signals:
        lines += ["", "## Signals that changed nothing", ""]
        lines += [f"- {r.at.isoformat()} `{r.signal}` from {r.by or '?'}: {r.reason}" for r in record.rejected_signals]
    lines += ["", "## Timeline", ""]
    lines += [
        f"- {e.at.isoformat()} [{e.phase}] {e.event}" + (f": {e.detail}" if e.detail else "") for e in record.timeline
    ]
    return "\n".join(lines) + "\n"


def _custom_phrase(verdict: CustomVerdict) -> str:
    """One custom metric's last verdict in words: ``fail (3 vs 0)``."""
    return f"{verdict.verdict} ({_fmt(verdict.observed, 3)} vs {verdict.limit:g})" + (
        f": {verdict.note}" if verdict.note else ""
    )


def _move_line(move: ManualMove) -> str:
    where = "to 100% now" if move.to_step is None else f"to step {move.to_step}"
    left = ", ".join(str(n) for n in move.left_out) or "none"
    made = f"made {move.made_at.isoformat()}" if move.made_at else "not made"
    return (
        f"- {move.at.isoformat()} {move.decision} from step {move.from_step} {where} by {move.by}"
        f"{_proof(move.verified, move.key)}: {move.reason} (steps left out: {left}; {made})"
    )


def recovery_phrase(report: RecoveryReport) -> str:
    """``recovered in 3m``, ``not recovered within 5m`` or ``unverified``: the words of the result summary."""
    if report.verdict == "recovered" and report.after_seconds is not None:
        return f"recovered in {format_duration_seconds(report.after_seconds)}"
    if report.verdict == "not_recovered":
        return f"not recovered within {format_duration_seconds(report.watched_seconds)}"
    return report.verdict


def format_duration_seconds(seconds: float) -> str:
    """Seconds as the short duration form the spec uses (``"1h30m"``)."""
    from datetime import timedelta

    return format_duration(timedelta(seconds=round(seconds)))
