"""Leases started before the watcher existed must replay on today's lease code, unwatched to their end."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workers.registry import registered_workflows
from workers.sandbox import sandbox_runner

HISTORIES = sorted((Path(__file__).parent / "histories").glob("*.json"))


def test_lease_histories_are_recorded() -> None:
    assert any(p.name.startswith("v1-unwatched--") for p in HISTORIES), "run python -m tests.lease.record"


@pytest.mark.parametrize("path", HISTORIES, ids=[p.stem for p in HISTORIES])
async def test_lease_history_replays(path: Path) -> None:
    history = WorkflowHistory.from_json(path.stem.split("--", 1)[1], path.read_text())
    replayer = Replayer(
        workflows=registered_workflows(), data_converter=pydantic_data_converter, workflow_runner=sandbox_runner()
    )
    result = await replayer.replay_workflow(history, raise_on_replay_failure=True)
    assert result.replay_failure is None
