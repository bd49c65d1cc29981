"""The normaliser: either shape of a spec (``steps``, or a ``strategy``) as the one plan the workflow walks.

Pure, so it is tested directly and gives the same plan on every replay. A spec in the steps shape becomes one
canary item per step, in order: the walker then issues exactly the commands it issued before strategies existed.
The gates (preflight, eval, shadow) are not items: they run before any plan, as they always did.
"""

from __future__ import annotations

from collections.abc import Sequence

from models.spec import RolloutSpec
from models.strategy import CanaryStep, StrategyStep, WatchStep


def plan_of(spec: RolloutSpec) -> list[StrategyStep]:
    """The items the walker runs, in order; 100% follows the last item that is not a watch."""
    if spec.strategy is not None:
        return list(spec.strategy)
    return [
        CanaryStep(kind="canary", weight=s.weight, observe=s.observe, approval=s.approval, segments=list(s.segments))
        for s in spec.steps
    ]


def split_watch(plan: Sequence[StrategyStep]) -> tuple[list[StrategyStep], WatchStep | None]:
    """The items before promotion, and the watch after it (None when the plan ends at promotion)."""
    if plan and isinstance(plan[-1], WatchStep):
        return list(plan[:-1]), plan[-1]
    return list(plan), None
