"""What the worker serves: every workflow type and the activities, with their shared HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import httpx

from activities.rollout import RolloutActivities
from workflows.rollout import RolloutWorkflow

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def registered_workflows() -> Sequence[type]:
    """Every workflow type served on the rollouts task queue."""
    return [RolloutWorkflow]


@contextlib.asynccontextmanager
async def open_activities() -> AsyncIterator[Sequence[Callable[..., Any]]]:
    """Activities bound to one shared HTTP client, closed when the worker stops."""
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        yield RolloutActivities(http).all()  # type: ignore[misc]
