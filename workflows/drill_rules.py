"""The rollback drill's decisions, pure: which target, whether the router is at rest, how the drill is graded.

The ``RollbackDrill`` workflow (workflows/drill.py) orchestrates; everything it decides is here, tested case by
case (tests/unit/test_drill_rules.py). Nothing reads a clock: times come in.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from models.activities import RouterState
from models.drill import DrillInput, DrillOutcome, DrillPolicy, DrillResult
from models.policy import GoverningPolicy
from models.targets import Target

TOLERANCE = 1e-6


class InvalidDrillInput(ValueError):
    """The drill's input is not a service and a target name; the message names each bad field."""


def parse_input(raw: object) -> DrillInput:
    """The drill's input, validated as untrusted (a schedule's stored arguments, a command line)."""
    if not isinstance(raw, dict):
        raise InvalidDrillInput('input: expected {"service": ..., "target": ...}')
    try:
        return DrillInput.model_validate(raw)
    except ValidationError as exc:
        problems = [f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in exc.errors()[:10]]
        raise InvalidDrillInput("; ".join(problems)) from None


@dataclass(frozen=True)
class DrillPlan:
    """What the drill will touch (a target of the operators' policy) and how (the policy's drill settings)."""

    target_name: str
    target: Target
    settings: DrillPolicy


def plan(request: DrillInput, governing: GoverningPolicy | None) -> DrillPlan | str:
    """The drill's target and settings, or why there is none (naming the field to fix).

    Only the operators' targets are drilled: an inline target is a spec's, and a drill has no spec.
    """
    if governing is None:
        return f"service {request.service!r}: no policy on the worker, and drills run only on a policy's targets"
    settings = governing.policy.drill or DrillPolicy()
    name = request.target or settings.target
    known = ", ".join(sorted(governing.policy.targets)) or "none"
    if name is None:
        return f"target: none given, and policy {governing.scope} sets no drill.target (targets: {known})"
    target = governing.policy.targets.get(name)
    if target is None:
        return f"target: {name!r} is not a target of {request.service!r} in policy {governing.scope} (targets: {known})"
    return DrillPlan(target_name=name, target=target, settings=settings)


def at_stable(state: RouterState) -> bool:
    """Stable 100%, candidate 0%: where a service rests between rollouts, and where a rollback must end."""
    return abs(state.stable - 100.0) <= TOLERANCE and abs(state.candidate) <= TOLERANCE


def not_at_rest(state: RouterState) -> str:
    """Why a drill does not touch this router.

    It serves the candidate side too (a promotion not yet folded into stable, or traffic moved by hand), and
    putting stable back would undo that.
    """
    return (
        f"router reads stable {state.stable:g}% / candidate {state.candidate:g}%, not at rest on stable: a drill "
        "would move real users; nothing was changed"
    )


def grade(seconds: float, target_seconds: float) -> DrillOutcome:
    """Passed within the target, slow beyond it (the rollback still worked: slow is a warning, not a failure)."""
    return "passed" if seconds <= target_seconds else "slow"


def notifies(outcome: DrillOutcome) -> bool:
    """Whether the operators are told: the path is slow or broken, or the drill cannot run where they pointed it.

    A refusal (a rollout holds the lease) is the normal state of a busy service: recorded, not sent.
    """
    return outcome in ("slow", "failed", "invalid")


def details(result: DrillResult) -> str:
    """Current Details of the drill (Markdown)."""
    where = f"`{result.service}` on target `{result.target}`" if result.target else f"`{result.service}`"
    lines = [f"**Rollback drill** of {where}: **{result.outcome}**"]
    if result.seconds_to_stable is not None:
        lines.append(
            f"time to verified stable: **{result.seconds_to_stable:.3f}s** (target {result.target_seconds:g}s)"
        )
    if result.weight:
        lines.append(f"candidate side given {result.weight:g}% before the rollback")
    if result.detail:
        lines.append(result.detail)
    if result.timeline:
        lines.append("\n".join(f"- {e.at:%H:%M:%S} {e.event}: {e.detail}" for e in result.timeline[-12:]))
    return "\n\n".join(lines)
