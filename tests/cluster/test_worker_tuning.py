"""The worker's telemetry and tuning settings: defaults, values, and one message naming every bad variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from workers.settings import SettingsError
from workers.tuning import DEFAULT_MAX_CACHED_WORKFLOWS, DEFAULT_MAX_CONCURRENT_ACTIVITIES, WorkerTuning


def test_defaults_leave_metrics_off_and_make_room_for_rollouts_and_their_leases() -> None:
    tuning = WorkerTuning.from_env({})
    assert tuning == WorkerTuning()
    assert tuning.metrics_bind is None and tuning.ready_file is None
    assert tuning.max_cached_workflows == DEFAULT_MAX_CACHED_WORKFLOWS > 2 * 1000
    # One long lease watcher per rollout holds a slot: room for the cache's rollouts and the analyses besides.
    assert DEFAULT_MAX_CONCURRENT_ACTIVITIES > DEFAULT_MAX_CACHED_WORKFLOWS // 2


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
    assert tuning == WorkerTuning("0.0.0.0:9464", 500, 8, 50, Path("/tmp/ready"))


def test_every_bad_variable_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as caught:
        WorkerTuning.from_env(
            {
                "WORKER_METRICS_BIND": "9464",
                "WORKER_MAX_CACHED_WORKFLOWS": "-1",
                "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS": "1",
                "WORKER_MAX_CONCURRENT_ACTIVITIES": "many",
            }
        )
    message = str(caught.value)
    for name in (
        "WORKER_METRICS_BIND",
        "WORKER_MAX_CACHED_WORKFLOWS",
        "WORKER_MAX_CONCURRENT_WORKFLOW_TASKS",
        "WORKER_MAX_CONCURRENT_ACTIVITIES",
    ):
        assert name in message


@pytest.mark.parametrize("bind", ["host:", ":9464", "127.0.0.1:0", "127.0.0.1:70000"])
def test_a_metrics_address_needs_a_host_and_a_port(bind: str) -> None:
    with pytest.raises(SettingsError, match="WORKER_METRICS_BIND"):
        WorkerTuning.from_env({"WORKER_METRICS_BIND": bind})
