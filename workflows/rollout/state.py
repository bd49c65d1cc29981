"""The Rollout workflow's whole mutable state, as one model: what continue-as-new carries to the next run."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from models.activities import CounterPair
from models.counters import Counters
from models.phases import Phase
from models.policy import GoverningPolicy
from models.record import CriterionEvidence, DeploymentRecord, Outcome, RollbackReport, StepEvidence
from models.targets import ChosenTarget
from models.verdicts import AnalysisDecision
from workflows.judge import JudgeState

JudgeRules = Literal["per-step", "whole-rollout", "evidence", "evidence-2", "evidence-3"]
"""The judges a rollout can use: ADR 7's per-step one, ADR 13's whole-rollout one, issue 19's robust one, issue
19's second robust one (faster detection, ``JudgeState.detection``) and its third (``JudgeState.third``: kappa's
score bound, restarts weighted to the planned polls, the margin's pass only where the ratio does not bind)."""


class StepClock(BaseModel):
    """Observation time of the current step; a pause stops it, resume starts it again."""

    model_config = ConfigDict(extra="forbid")

    observed_before: float = 0.0
    running_since: datetime | None = None

    def observed(self, now: datetime) -> timedelta:
        """Observation time so far, paused time excluded."""
        running = (now - self.running_since).total_seconds() if self.running_since else 0.0
        return timedelta(seconds=self.observed_before + max(running, 0.0))

    def stop(self, now: datetime) -> None:
        """Stop counting (pause, rollback); idempotent."""
        if self.running_since is not None:
            self.observed_before = self.observed(now).total_seconds()
            self.running_since = None

    def start(self, now: datetime) -> None:
        """Count from ``now`` (step start, resume); idempotent."""
        if self.running_since is None:
            self.running_since = now


class CustomCounts(BaseModel):
    """Custom count metrics' tallies (``workflows.judge.custom.tally_counts``), carried across steps and runs."""

    last: dict[str, float] = Field(default_factory=dict, description="The candidate's last raw reading per metric.")
    totals: dict[str, float] = Field(default_factory=dict, description="Events since the first reading per metric.")


class RolloutState(BaseModel):
    """Everything a run changes; continue-as-new hands it to the next run as it is."""

    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    phase: Phase = Phase.VALIDATING
    gates_done: bool = False
    step_index: int = 0
    step_applied: bool = Field(default=False, description="The current step's weight is set and verified.")
    weight: float = 0.0
    clock: StepClock = Field(default_factory=StepClock)
    paused_by: str | None = None
    next_analysis_at: datetime | None = None
    judge_state: JudgeState | None = None
    judge_carried: JudgeState | None = Field(
        default=None, description="The whole-rollout judge's last state of an earlier step, carried to the next."
    )
    judge_rules: JudgeRules | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent from older runs' states: their digests still match
        description="The judge this rollout uses, chosen at its first step under the judge-evidence patch and kept "
        "for every later step and across continue-as-new. None: chosen per step (runs before the patch).",
    )
    consecutive_failures: int = 0
    approved_by: list[str] = Field(default_factory=list)
    approval_deadline: datetime | None = None
    compensations: list[str] = Field(default_factory=list, description="Registered undo actions, oldest first.")
    awaiting_decision: bool = Field(
        default=False, description="The step's observation ended without passing evidence (extended or held)."
    )
    held_since: datetime | None = Field(default=None, description="When the step was held for a person.")
    governed: bool = Field(default=False, description="Started under signed approvals: the policy decides.")
    policy: GoverningPolicy | None = Field(default=None, description="The policy read at start, kept as read.")
    requester_keys: list[str] = Field(default_factory=list, description="Fingerprints of the requester's keys.")
    target: ChosenTarget | None = Field(
        default=None,
        description="The target chosen at start (trust-boundary rules): every router, metrics and gate call uses "
        "it. None: a rollout that predates targets, which uses the spec's router and metrics.",
    )
    carried_digest: str | None = Field(
        default=None, description="SHA-256 of this state without this field, written just before continue-as-new."
    )
    trust_operations: bool = Field(
        default=False,
        description="Started under the trust-operations patch (bounded pause, early signals wait for the policy, "
        "revoked keys honoured, proofs kept, decisions bound to the first run): kept so continue-as-new keeps it.",
    )
    paused_at: datetime | None = Field(default=None, description="When the current pause began (max_pause).")
    revoked: list[str] = Field(
        default_factory=list, description="Fingerprints found revoked in the policy while the rollout ran."
    )
    notify_patch: bool = Field(
        default=False,
        description="Started under the notifications patch (webhooks, verified recovery): kept across continue-as-new.",
    )
    notify_sequence: int = Field(default=0, description="Notification events sent so far (idempotency keys).")
    recovery_baseline: Counters | None = Field(
        default=None, description="Stable's cumulative counters read at the rollout's first step: its baseline."
    )
    # Fields added after the carried digest existed stay out of the JSON at their default, so a state an older
    # release carried keeps its digest (tests/unit/test_carried_state_compat.py).
    window_wait: str | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="A forward move waits for a deploy window: the line status shows (deploy-windows).",
    )
    window_opens_at: datetime | None = Field(
        default=None, exclude_if=lambda value: value is None, description="When the awaited deploy window opens."
    )
    window_override: bool = Field(
        default=False,
        exclude_if=lambda value: not value,
        description="A signed promote moved the waiting forward move on outside its window.",
    )
    input_baseline: CounterPair | None = Field(
        default=None,
        description="Both versions' counters at the rollout's first analysis with the input_drift criterion: the "
        "start of the window the input distributions are compared over.",
        exclude_if=lambda value: value is None,  # absent from the JSON (and the carried digest) of older rollouts
    )
    input_drift_noted: str = Field(default="", exclude_if=lambda value: not value)
    """The features that moved, as last noted in the timeline: a note is added only when they change."""
    untestable_once: bool | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent from older runs' states: their digests still match
        description="Started under the untestable-once patch (testability decided once per step, accepting an "
        "untestable p95 bounded by its smallest detectable ratio); chosen before the first step and kept. None: not "
        "chosen yet.",
    )
    watch_baseline: Counters | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="A strategy's watch after promotion: stable's cumulative counters read at the cutover, what the "
        "promoted candidate is judged against while stable serves nothing.",
    )
    watching: bool = Field(
        default=False, exclude_if=lambda value: not value, description="The promoted candidate is being watched."
    )
    custom_counts: CustomCounts | None = Field(
        default=None,
        exclude_if=lambda value: value is None,  # absent from rollouts without count metrics
        description="The candidate's events per custom count metric since the rollout's first analysis.",
    )
    moves_patch: bool = Field(
        default=False,
        exclude_if=lambda value: not value,
        description="Started under the manual-moves patch: skip and full count (kept across continue-as-new).",
    )
    move_pending: int | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="An accepted move not made yet: the 0-based item the walk lands on (the plan's length: 100%).",
    )
    record: DeploymentRecord


class RolloutResult(BaseModel):
    """What the workflow returns: the outcome and the Markdown first, then the record (bounded) as JSON.

    The field order is the order the Web UI shows: a reader sees how it ended before the analyses.
    """

    outcome: Outcome = "running"
    summary: str = Field(default="", description="One line: the outcome, the final weight, the rollback cause.")
    markdown: str
    record: DeploymentRecord


class LastAnalysis(BaseModel):
    """The latest analysis, with each criterion's verdict at the end of the current step."""

    at: datetime
    decision: AnalysisDecision
    reason: str
    evidence: list[str]
    criteria: dict[str, CriterionEvidence]


class RolloutStatus(BaseModel):
    """The ``status`` query: what an operator wants to know at a glance."""

    service: str
    phase: Phase
    step: int | None = Field(description="1-based step in progress; None before the canary or after it.")
    steps: int
    weight: float
    time_left_in_step: str | None = Field(description="Observation left in the step (paused time excluded).")
    observed_in_step: str | None = Field(default=None, description="Observation so far in the step.")
    paused: bool
    paused_by: str | None
    next_analysis_at: datetime | None
    last_analysis: LastAnalysis | None
    step_evidence: StepEvidence | None = Field(
        default=None, description="The current step's evidence: pass, inconclusive, none (no analysis yet), override."
    )
    inconclusive: bool = Field(
        default=False, description="The step's observation ended without passing evidence (extended or held)."
    )
    extensions: int = Field(default=0, description="Times the current step was extended on inconclusive evidence.")
    hold_deadline: datetime | None = Field(default=None, description="When a held step rolls back.")
    approvals_received: list[str]
    approvals_missing: int
    approval_deadline: datetime | None = Field(default=None, description="When the approval wait times out.")
    approvers: list[str]
    rejected_signals: int
    rollback: RollbackReport | None
    criteria_sha256: str
    outcome: Outcome = "running"
    waiting_for_window: str | None = Field(
        default=None, description="Why the next forward move waits, and when its deploy window opens."
    )
    shadow: list[str] = Field(
        default_factory=list,
        description="Each shadow item's comparison: its step, passed or failed, requests compared and agreement.",
    )


def state_digest(state: RolloutState) -> str:
    """SHA-256 of the state's JSON without ``carried_digest``: written by a run just before it continues as new."""
    body = state.model_dump_json(exclude={"carried_digest"})
    return hashlib.sha256(body.encode()).hexdigest()


def carried_refusal(carried: RolloutState, *, workflow_id: str, continued_run_id: str | None) -> str | None:
    """Why ``carried`` may not be this run's state, or None when the workflow handed it to itself.

    Only a continue-as-new of this workflow sets ``continued_run_id`` (the server sets it; a client's start cannot),
    and the state must be this workflow's, with the digest its previous run wrote where it wrote one.
    """
    if continued_run_id is None:
        return (
            "carried: a rollout's state is handed over only by its own continue-as-new; a start takes the spec "
            "alone (start again with just the spec)"
        )
    if carried.record.rollout_id != workflow_id:
        return f"carried: the state belongs to rollout {carried.record.rollout_id!r}, not {workflow_id!r}"
    if carried.carried_digest is not None and carried.carried_digest != state_digest(carried):
        return "carried: the state does not match the digest its run wrote"
    if carried.target is not None and carried.carried_digest is None:
        return "carried: the state has no digest, but every run under targets writes one"
    return None
