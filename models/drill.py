"""Rollback drills: the operators' drill settings, the drill's untrusted input, and what it records.

A drill exercises the rollback path on a real target while nothing is rolling out, so the path is known to work
before a bad candidate needs it (docs/drills.md). The settings are the operators' (``ServicePolicy.drill``); the
input (from a Temporal Schedule or ``rollouts drill run``) names only a service and one of its policy targets, and
is validated like a spec: size-limited, each refusal naming its field.

Pure models, no I/O.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.activities import RouterState
from models.durations import Duration
from models.limits import MAX_DESCRIPTION_CHARS
from models.spec import RouterSpec

DRILL_WORKFLOW = "RollbackDrill"
"""The workflow type a schedule starts, by name (the CLI imports no workflow code)."""

MAX_DRILL_WEIGHT = 10.0
"""Largest share a drill may give the candidate side before rolling it back: a drill tests the path, not a version."""
MAX_DWELL = timedelta(minutes=10)
MAX_TARGET_SECONDS = 3600.0
MAX_DRILL_EVENTS = 50
"""A drill has a handful of steps; the bound keeps a broken one from growing its result."""

ServiceName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]
TargetRef = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$")]


def drill_schedule_id(service: str) -> str:
    """One schedule per service: ``rollback-drill-<service>`` (creating it again updates it)."""
    return f"rollback-drill-{service}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


class DrillPolicy(_Model):
    """How a service's rollback drills run, as the operators set it in the policy (``ServicePolicy.drill``)."""

    target: TargetRef | None = Field(
        default=None,
        description="The target drilled when the drill's input names none (one of the service's targets).",
    )
    target_seconds: float = Field(
        default=30.0,
        gt=0,
        le=MAX_TARGET_SECONDS,
        description="The rollback must reach verified stable within this many seconds; a slower drill notifies.",
    )
    weight: float = Field(
        default=0.0,
        ge=0,
        le=MAX_DRILL_WEIGHT,
        description="Candidate share (percent) set before the rollback is exercised. 0: stable re-applied at "
        "100% and verified, no user sees the other side. Above 0 only where the candidate side serves a "
        "known-good version (at most 10).",
    )
    dwell: Duration = Field(
        default=timedelta(seconds=5),
        description="How long that weight stays before the rollback (at most 10m); unused when weight is 0.",
    )

    @model_validator(mode="after")
    def _bounded_dwell(self) -> DrillPolicy:
        if self.dwell > MAX_DWELL:
            raise ValueError("dwell: at most 10m")
        return self


class DrillInput(_Model):
    """What starts a drill: a service and, optionally, which of its policy targets (else ``drill.target``)."""

    service: ServiceName
    target: TargetRef | None = None


DrillOutcome = Literal["passed", "slow", "failed", "refused", "invalid"]
"""``passed``: verified stable within the target time. ``slow``: verified, but later than that. ``failed``: the
rollback path did not reach verified stable (or the drill could not run on the target). ``refused``: not run,
because a rollout holds the service's lease or the router was not at rest on stable; a later drill will run.
``invalid``: the input or the policy does not name a drillable target."""


class DrillEvent(_Model):
    """One line of the drill's timeline."""

    at: datetime
    event: str
    detail: str = ""


class DrillResult(BaseModel):
    """What a drill returns (and shows in Current Details): the outcome and the time to verified stable."""

    model_config = ConfigDict(extra="forbid")

    service: str
    target: str | None = None
    outcome: DrillOutcome = "failed"
    seconds_to_stable: float | None = Field(
        default=None,
        description="From the rollback call's start to the router reading back stable 100% / candidate 0%.",
    )
    target_seconds: float | None = None
    weight: float = 0.0
    router_before: RouterState | None = None
    router_after: RouterState | None = None
    detail: str = Field(default="", max_length=MAX_DESCRIPTION_CHARS)
    started_at: datetime | None = None
    finished_at: datetime | None = None
    notifications_sent: int = 0
    notifications_failed: int = 0
    timeline: list[DrillEvent] = Field(default_factory=list)

    def summary(self) -> str:
        """One line: ``passed: svc on production, verified stable in 0.412s (target 30s)``."""
        where = f"{self.service} on {self.target}" if self.target else self.service
        if self.seconds_to_stable is not None:
            took = f"verified stable in {self.seconds_to_stable:.3f}s (target {self.target_seconds:g}s)"
            return f"{self.outcome}: {where}, {took}" + (f"; {self.detail}" if self.detail else "")
        return f"{self.outcome}: {where}: {self.detail}"


class ReadWeightsInput(_Model):
    """Input of ``read_weights``: the router to read (a policy target's), and the service it routes."""

    router: RouterSpec
    service: ServiceName
