"""Session fixtures: a real dev server, a real time-skipping server, and clients wired like production."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from tests.servers import TEST_SERVER, DevServer, dev_server, register_search_attributes, require
from workers.client import connect, interceptors
from workers.logging import configure_logging
from workers.settings import Settings


@pytest.fixture(scope="session", autouse=True)
def _logging() -> None:
    configure_logging("WARNING")


@pytest.fixture(scope="session")
async def temporal_dev(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[DevServer]:
    """One dev server for the whole session (each test uses its own task queue and workflow ids)."""
    async with dev_server(tmp_path_factory.mktemp("temporal-dev")) as server:
        yield server


@pytest.fixture(scope="session")
async def client(temporal_dev: DevServer) -> Client:
    """A client of the dev server with the production converter and interceptors."""
    return await connect(Settings(address=temporal_dev.address, namespace=temporal_dev.namespace))


@pytest.fixture
async def time_skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """The Java time-skipping test server: real timers, skipped when every workflow is waiting on one.

    One server per test, not per session: the test server skips time only while no workflow task is outstanding
    anywhere on it, and it once kept a run whose task had ended in a continue-as-new open with that task started
    (the new run went on). Every later test on that server then waited for time that never moved, until its
    timeout. A server of its own costs a test a few seconds.
    """
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=str(require(TEST_SERVER)),
        data_converter=pydantic_data_converter,
        interceptors=interceptors(),
    )
    await register_search_attributes(env.client)
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    """A task queue of the test's own, so a worker never picks up another test's tasks."""
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
