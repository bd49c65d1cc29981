"""What the worker serves: every workflow type and the activities, with their shared HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any


def registered_workflows() -> Sequence[type]:
    """Every workflow type served on the rollouts task queue."""
    return []


@contextlib.asynccontextmanager
async def open_activities() -> AsyncIterator[Sequence[Callable[..., Any]]]:
    """Activities bound to one shared HTTP client, closed when the worker stops."""
    yield []
