"""What the worker serves: every workflow type and the activities, with their shared HTTP client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import Client

from activities.drill import DrillActivities
from activities.eval_gate import EvalActivities
from activities.lease import LeaseActivities
from activities.notify import NotifyActivities
from activities.pipeline import PipelineActivities
from activities.policy import PolicyActivities
from activities.release import ReleaseActivities
from activities.rollout import RolloutActivities
from workflows.drill import RollbackDrill
from workflows.lease import RolloutLease
from workflows.pipeline import PipelineWorkflow
from workflows.rollout import RolloutWorkflow

HTTP_TIMEOUT = httpx.Timeout(10.0, connect=5.0)


def registered_workflows() -> Sequence[type]:
    """Every workflow type served on the rollouts task queue."""
    return [RolloutWorkflow, RolloutLease, PipelineWorkflow, RollbackDrill]


@contextlib.asynccontextmanager
async def open_activities(
    client: Client, task_queue: str, *, policy_path: Path | None = None, lab_mode: bool = False
) -> AsyncIterator[Sequence[Callable[..., Any]]]:
    """Activities bound to their collaborators.

    One shared HTTP client (closed when the worker stops), the Temporal client, and the operators' policy path
    (None: no policy, the secure default); ``lab_mode`` lets a spec's inline target run when there is no policy.
    """
    async with httpx.AsyncClient(timeout=HTTP_TIMEOUT) as http:
        activities: list[object] = [
            *RolloutActivities(http).all(),
            *LeaseActivities(client, task_queue).all(),
            *PolicyActivities(policy_path, lab_mode=lab_mode).all(),
            *NotifyActivities(http).all(),
            *EvalActivities(http).all(),
            *PipelineActivities(client).all(),
            *DrillActivities(http).all(),
            *ReleaseActivities(http).all(),
        ]
        yield activities  # type: ignore[misc]
