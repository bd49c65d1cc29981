"""The worker's pollers, workflow-task slots and sticky timeout follow from the rollouts it carries (ADR 16)."""

from __future__ import annotations

import pytest

from workers.settings import SettingsError
from workers.tuning import (
    STICKY_TIMEOUT_SECONDS,
    WorkerTuning,
    activity_pollers_for,
    workflow_pollers_for,
    workflow_slots_for,
)


@pytest.mark.parametrize(("rollouts", "pollers"), [(1, 5), (100, 5), (1000, 10), (2000, 20), (10_000, 20)])
def test_pollers_grow_with_the_rollouts_between_the_sdk_default_and_twenty(rollouts: int, pollers: int) -> None:
    assert workflow_pollers_for(rollouts) == pollers
    assert activity_pollers_for(rollouts) == pollers


@pytest.mark.parametrize("rollouts", [1, 100, 1000, 2000, 5000, 100_000])
def test_every_poller_finds_a_free_slot_and_few_tasks_share_the_python_thread(rollouts: int) -> None:
    slots = workflow_slots_for(rollouts)
    assert 2 * workflow_pollers_for(rollouts) == slots <= 40


def test_the_sizing_reaches_the_worker_and_explicit_values_win() -> None:
    sized = WorkerTuning.from_env({"WORKER_ROLLOUTS": "1000"})
    assert sized.workflow_pollers == sized.activity_pollers == 10
    assert sized.max_concurrent_workflow_tasks == 20
    # A lease take holds its activity slot while it waits: a burst of 1,000 takes needs 1,000 slots.
    assert sized.max_concurrent_activities == 1000
    assert sized.sticky_timeout_seconds == STICKY_TIMEOUT_SECONDS == 30
    explicit = WorkerTuning.from_env(
        {
            "WORKER_ROLLOUTS": "1000",
            "WORKER_WORKFLOW_TASK_POLLERS": "7",
            "WORKER_ACTIVITY_TASK_POLLERS": "3",
            "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "50",
            "WORKER_STICKY_TIMEOUT_SECONDS": "10",
        }
    )
    assert (explicit.workflow_pollers, explicit.activity_pollers) == (7, 3)
    assert explicit.max_concurrent_workflow_tasks == 50 and explicit.sticky_timeout_seconds == 10
    assert WorkerTuning.from_env({}) == WorkerTuning(), "the defaults are the sizing of DEFAULT_ROLLOUTS"


def test_bad_values_are_refused_by_name() -> None:
    with pytest.raises(SettingsError) as raised:
        WorkerTuning.from_env({"WORKER_WORKFLOW_TASK_POLLERS": "1", "WORKER_STICKY_TIMEOUT_SECONDS": "soon"})
    message = str(raised.value)
    assert "WORKER_WORKFLOW_TASK_POLLERS='1'" in message and "WORKER_STICKY_TIMEOUT_SECONDS='soon'" in message
