"""The worker's telemetry and tuning settings: defaults, values, and one message naming every bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.settings import SettingsError
from workers.tuning import DEFAULT_MAX_CACHED_WORKFLOWS, DEFAULT_MAX_CONCURRENT_WATCHES, WorkerTuning


def test_defaults_leave_metrics_off_and_make_room_for_rollouts_and_their_leases() -> None:
    tuning = WorkerTuning.from_env({})
    assert tuning == WorkerTuning()
    assert tuning.metrics_bind is None and tuning.ready_file is None
    assert tuning.max_cached_workflows == DEFAULT_MAX_CACHED_WORKFLOWS > 2 * 1000
    # One long lease watcher per rollout holds a watcher slot: room for every cached rollout's lease.
    assert DEFAULT_MAX_CONCURRENT_WATCHES > DEFAULT_MAX_CACHED_WORKFLOWS // 2


def test_the_number_of_rollouts_sizes_the_cache_and_both_slot_pools() -> None:
    small, large = WorkerTuning.from_env({"WORKER_ROLLOUTS": "100"}), WorkerTuning.from_env({"WORKER_ROLLOUTS": "4000"})
    assert small.max_cached_workflows == 200 and large.max_cached_workflows == 8000
    assert small.max_concurrent_watches > 100 and large.max_concurrent_watches > 4000
    assert small.max_concurrent_activities == 100 < large.max_concurrent_activities
    explicit = WorkerTuning.from_env({"WORKER_ROLLOUTS": "4000", "WORKER_MAX_CONCURRENT_WATCHES": "10"})
    assert explicit.max_concurrent_watches == 10, "an explicit limit wins over the sizing"


def test_values_are_read() -> None:
    tuning = WorkerTuning.from_env(
        {
            "WORKER_METRICS_BIND": "0.0.0.0:9464",
            "WORKER_MAX_CACHED_WORKFLOWS": "500",
            "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "8",
            "WORKER_MAX_CONCURRENT_ACTIVITIES": "50",
            "WORKER_READY_FILE": "/tmp/ready",
        }
    )
    assert tuning == WorkerTuning(
        "0.0.0.0:9464", 500, 8, 50, max_concurrent_watches=DEFAULT_MAX_CONCURRENT_WATCHES, ready_file=Path("/tmp/ready")
    )


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        WorkerTuning.from_env(
            {
                "WORKER_METRICS_BIND": "9464",
                "WORKER_MAX_CACHED_WORKFLOWS": "-1",
                "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "1",
                "WORKER_MAX_CONCURRENT_ACTIVITIES": "many",
                "WORKER_MAX_CONCURRENT_WATCHES": "0",
                "WORKER_ROLLOUTS": "none",
            }
        )
    message = str(caught.value)
    for name in (
        "WORKER_METRICS_BIND",
        "WORKER_MAX_CACHED_WORKFLOWS",
        "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS",
        "WORKER_MAX_CONCURRENT_ACTIVITIES",
        "WORKER_MAX_CONCURRENT_WATCHES",
        "WORKER_ROLLOUTS",
    ):
        assert name in message


@pytest.mark.parametrize("bind", ["host:", ":9464", "127.0.0.1:0", "127.0.0.1:70000"])
def test_a_metrics_address_needs_a_host_and_a_port(bind: str) -> None:
    with pytest.raises(SettingsError, match="WORKER_METRICS_BIND"):
        WorkerTuning.from_env({"WORKER_METRICS_BIND": bind})
