"""Manual moves (``skip`` to a later step, ``full``: 100% now): whether one is safe, as pure rules.

A move is promote's kind of authority (an overrider, signed where the policy asks), but it changes which items
run, so it has one rule of its own: it never passes an item that waits for a decision of its own, an approval
quorum or an A/B test's winner. Such an item may be the step a skip lands on (it then runs in full), never one
left out. The step a skip lands on runs as it would have (its weight, observation, approvals, decision); a
``full`` still ends with the strategy's watch when it has one (``workflows.rollout.moves`` applies both).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from models.strategy import ABTestStep, ApprovalStep, CanaryStep, StrategyStep


@dataclass(frozen=True)
class MoveContext:
    """What a move is judged by: the plan before promotion and where the walk is in it."""

    step: int
    """1-based item the walk is in."""
    kinds: tuple[str, ...]
    """Kind of each item before promotion (a watch is after it)."""
    waits_for: tuple[str, ...]
    """What each item waits for that a move may not pass ("" for nothing): its approval quorum, its A/B decision."""
    in_item: bool
    """The walk is inside an item (its weight set): not in a gate, a deploy-window wait, the cutover or a watch."""
    pending: str | None = None
    """A move accepted but not made yet: a second one waits until it is."""


def waits_for(item: StrategyStep) -> str:
    """What ``item`` decides that a move may not pass; "" when a move may leave it out."""
    if isinstance(item, ApprovalStep) or (isinstance(item, CanaryStep) and item.approval):
        return "approval quorum"
    if isinstance(item, ABTestStep):
        return "A/B test decision"
    return ""


def move_context(plan: Sequence[StrategyStep], step_index: int, *, in_item: bool, pending: str | None) -> MoveContext:
    """The context of a move for a walk at 0-based ``step_index`` of ``plan`` (the items before promotion)."""
    return MoveContext(
        step=step_index + 1,
        kinds=tuple(item.kind for item in plan),
        waits_for=tuple(waits_for(item) for item in plan),
        in_item=in_item,
        pending=pending,
    )


def move_decision(to: int | None) -> str:
    """The decision a move's signature is bound to: the target is part of it, so a skip to 2 is not one to 5."""
    return "full" if to is None else f"skip to step {to}"


def describe(to: int | None) -> str:
    """A move in words, for notes and answers."""
    return "to 100% now" if to is None else f"to step {to}"


def move_refusal(to: int | None, ctx: MoveContext) -> str | None:
    """Why a skip to ``to`` (``full`` when None) is refused, naming the field; None when it is safe."""
    field = "to" if to is not None else "full"
    if ctx.pending is not None:
        return f"duplicate: a move {ctx.pending} is already requested and not made yet"
    if not ctx.in_item:
        return "meaningless: no step is running (a gate, a deploy-window wait, the cutover or the watch is)"
    count = len(ctx.kinds)
    if to is not None:
        if to > count:
            return f"to: step {to} does not exist; the plan has {count} step(s) before 100% (use full for 100%)"
        if to <= ctx.step:
            return f"to: step {to} is not ahead of the current step {ctx.step}; skip moves forward only"
    end = to - 1 if to is not None else count
    for index in range(ctx.step - 1, end):
        if ctx.waits_for[index]:
            number = index + 1
            where = "the current step" if number == ctx.step else f"step {number}"
            return (
                f"{field}: {where} ({ctx.kinds[index]}) waits for its {ctx.waits_for[index]}, which a move never "
                f"passes; " + ("decide it first" if number == ctx.step else f"skip to step {number} (it runs in full)")
            )
    return None
