"""The Rollout workflow's whole mutable state, as one model: what continue-as-new carries to the next run."""

from __future__ import annotations

from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from workflows.judge import JudgeState
from workflows.phases import Phase
from workflows.record import DeploymentRecord, RollbackReport


class StepClock(BaseModel):
    """Observation time of the current step; a pause stops it, resume starts it again."""

    model_config = ConfigDict(extra="forbid")

    observed_before: float = 0.0
    running_since: datetime | None = None

    def observed(self, now: datetime) -> timedelta:
        running = (now - self.running_since).total_seconds() if self.running_since else 0.0
        return timedelta(seconds=self.observed_before + max(running, 0.0))

    def stop(self, now: datetime) -> None:
        if self.running_since is not None:
            self.observed_before = self.observed(now).total_seconds()
            self.running_since = None

    def start(self, now: datetime) -> None:
        if self.running_since is None:
            self.running_since = now


class RolloutState(BaseModel):
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
    consecutive_failures: int = 0
    approved_by: list[str] = Field(default_factory=list)
    approval_deadline: datetime | None = None
    compensations: list[str] = Field(default_factory=list, description="Registered undo actions, oldest first.")
    record: DeploymentRecord


class RolloutResult(BaseModel):
    """What the workflow returns: the record as JSON, and the same rendered as Markdown."""

    record: DeploymentRecord
    markdown: str


class RolloutStatus(BaseModel):
    """The ``status`` query: what an operator wants to know at a glance."""

    service: str
    phase: Phase
    step: int | None = Field(description="1-based step in progress; None before the canary or after it.")
    steps: int
    weight: float
    time_left_in_step: str | None
    paused: bool
    paused_by: str | None
    next_analysis_at: datetime | None
    last_analysis: dict[str, object] | None
    approvals_received: list[str]
    approvals_missing: int
    approvers: list[str]
    rejected_signals: int
    rollback: RollbackReport | None
    criteria_sha256: str
