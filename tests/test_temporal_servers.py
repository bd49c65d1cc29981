"""The foundation: real workflows run on both real servers with the production worker wiring."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio import workflow
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from workers.build import build_worker


@workflow.defn
class Greeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name}"


@workflow.defn
class LongTimer:
    @workflow.run
    async def run(self) -> float:
        start = workflow.now()
        await workflow.sleep(timedelta(hours=48))
        return (workflow.now() - start).total_seconds()


async def test_workflow_runs_on_dev_server(client: Client, task_queue: str) -> None:
    async with build_worker(client, task_queue=task_queue, workflows=[Greeting], activities=[]):
        result = await client.execute_workflow(
            Greeting.run, "rollouts", id=f"greet-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == "hello rollouts"


@pytest.mark.timeskipping
async def test_48_hour_timer_skips_on_time_skipping_server(time_skipping_env: WorkflowEnvironment) -> None:
    client = time_skipping_env.client
    async with build_worker(client, task_queue="long-timer", workflows=[LongTimer], activities=[]):
        slept = await client.execute_workflow(LongTimer.run, id=f"timer-{uuid.uuid4()}", task_queue="long-timer")
    # Workflow time moved 48 h while the test ran: only a skipping server can finish this test at all.
    assert slept >= 48 * 3600
