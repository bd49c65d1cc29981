"""One module per strategy item kind; ``walk`` runs an item by its kind (the watch runs after promotion)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.strategy import StrategyStep
    from workflows.rollout.context import RolloutRun
    from workflows.rollout.kinds import ab_test, analysis, approval, blue_green, canary, pause, shadow

_RUNNERS: dict[str, Callable[[RolloutRun, int, Any], Awaitable[None]]] = {
    "canary": canary.run,
    "analysis": analysis.run,
    "pause": pause.run,
    "approval": approval.run,
    "blue_green": blue_green.run,
    "ab_test": ab_test.run,
    "shadow": shadow.run,
}


async def walk(run: RolloutRun, index: int, item: StrategyStep) -> None:
    """Run one item before promotion, resuming it where a continued-as-new run left off."""
    await _RUNNERS[item.kind](run, index, item)
