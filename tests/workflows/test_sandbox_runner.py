"""The precompiled sandbox (workers/sandbox.py) is still the sandbox: restricted calls fail, contexts still flow.

The runner replaces two private pieces of the SDK's sandboxed run; these tests run real workflows through it on
the dev server, so an SDK upgrade that moves those pieces, or a change that lets workflow code escape the sandbox,
fails here rather than in a rollout.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import datetime, timedelta

from temporalio import activity, workflow
from temporalio.client import Client
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox._runner import _Instance

from workers.converter import data_converter
from workers.sandbox import IN_SANDBOX, PrecompiledSandboxRunner, sandbox_runner


@activity.defn
async def echo(text: str) -> str:
    """An activity whose argument and result cross the payload visitors the runner feeds contexts to."""
    return f"echo {text}"


@workflow.defn(sandboxed=True)
class SandboxProbe:
    """Says whether it runs in the sandbox, and round-trips a payload through an activity."""

    @workflow.run
    async def run(self, text: str) -> list[str]:
        """The sandbox flag and an activity's answer."""
        answer = await workflow.execute_activity(echo, text, start_to_close_timeout=timedelta(seconds=10))
        return [str(workflow.unsafe.in_sandbox()), answer]


@workflow.defn(sandboxed=True)
class ClockReader:
    """Reads the wall clock, which the sandbox forbids in workflow code."""

    @workflow.run
    async def run(self) -> str:
        """The name of the error ``datetime.now()`` raised, or ``allowed``."""
        try:
            datetime.now()
        except Exception as exc:
            return type(exc).__name__
        return "allowed"


async def _run(client: Client, workflow_type: str, *args: str) -> object:
    queue = f"sandbox-{uuid.uuid4()}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=[SandboxProbe, ClockReader],
        activities=[echo],
        workflow_runner=sandbox_runner(),
    ):
        return await client.execute_workflow(
            workflow_type,
            args=list(args),
            id=f"probe-{uuid.uuid4()}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=30),
        )


def test_the_private_names_it_relies_on_are_still_there() -> None:
    """The SDK's methods the runner overrides, and the global it reads, are where the runner expects them."""
    for name in ("_run_code", "get_serialization_context", "get_external_store_context", "_create_instance"):
        assert callable(getattr(_Instance, name, None)), name
    assert f"{IN_SANDBOX} = InSandbox(" in inspect.getsource(_Instance._create_instance)
    assert isinstance(sandbox_runner(), PrecompiledSandboxRunner)


async def test_workflow_code_runs_in_the_sandbox_and_payloads_flow(client: Client) -> None:
    """The run sees itself sandboxed, and an activity's argument and result decode through the runner."""
    pydantic_client = Client(client.service_client, namespace=client.namespace, data_converter=data_converter)
    assert await _run(pydantic_client, "SandboxProbe", "hello") == ["True", "echo hello"]


async def test_a_restricted_call_is_still_refused(client: Client) -> None:
    """``datetime.now()`` in workflow code is refused by the sandbox's restrictions, as with the SDK's runner."""
    assert await _run(client, "ClockReader") == "RestrictedWorkflowAccessError"
