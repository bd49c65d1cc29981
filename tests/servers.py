"""Start the real Temporal servers for tests: the CLI's dev server and the Java time-skipping server.

Nothing here fakes Temporal: the binaries are the ones ``scripts/setup.sh`` builds from the Go module proxy and
Maven Central into ``.tools/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.client import Client

from simulator.procs import free_port, running
from workers.client import connect
from workers.settings import Settings
from workflows import search_attributes

ROOT = Path(__file__).resolve().parent.parent
TEMPORAL_CLI = ROOT / ".tools" / "bin" / "temporal"
TEST_SERVER = ROOT / ".tools" / "temporal-test-server" / "temporal-test-server"


DEV_SERVER_FLAGS = (
    "--dynamic-config-value",
    "system.enableActivityEagerExecution=true",
    "--sqlite-pragma",
    "journal_mode=wal",
    "--sqlite-pragma",
    "synchronous=normal",
)
"""Eager activities: the worker that schedules the rollback's router call runs it at once, without a poll hop.
SQLite in WAL mode with ``synchronous=normal``: with the default rollback journal and ``FULL`` the dev server's one
connection serialises every write and failed workflow tasks under load (ADR 16, docs/benchmarks.md rows 4 and 1)."""


def require(path: Path) -> Path:
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make test` (or scripts/setup.sh) to build the Temporal binaries")
    return path


@dataclass(frozen=True)
class DevServer:
    """A running dev server: where to reach it and the process to stop."""

    address: str
    namespace: str
    process: asyncio.subprocess.Process


@contextlib.asynccontextmanager
async def dev_server(data_dir: Path, *, ui_port: int | None = None) -> AsyncIterator[DevServer]:
    """The CLI's dev server with SQLite in ``data_dir``, with our search attributes registered.

    Headless unless ``ui_port`` is given: then the Web UI it embeds listens there (the UI test opens it).
    """
    port = free_port()
    address = f"127.0.0.1:{port}"

    async def namespace_ready(_process: asyncio.subprocess.Process) -> bool:
        try:
            client: Client = await connect(Settings(address=address))
            await client.count_workflows()  # the frontend answers only once the namespace is ready
        except Exception:  # not up yet
            return False
        return True

    argv = [
        str(require(TEMPORAL_CLI)),
        "server",
        "start-dev",
        *(["--headless"] if ui_port is None else ["--ui-port", str(ui_port)]),
        "--ip",
        "127.0.0.1",
        "--port",
        str(port),
        "--db-filename",
        str(data_dir / "temporal.db"),
        "--log-level",
        "warn",
        *DEV_SERVER_FLAGS,
        *search_attributes.cli_flags(),
    ]
    async with running(
        argv,
        ready=namespace_ready,
        what=f"temporal dev server at {address}",
        timeout=60,
        log=data_dir / "temporal.log",
        env={**os.environ, "TEMPORAL_ADDRESS": ""},
        interval=0.2,
    ) as process:
        yield DevServer(address=address, namespace="default", process=process)


async def register_search_attributes(client: Client, namespace: str = "default") -> None:
    """Register our search attributes on a server that was not started with them (the time-skipping one)."""
    await client.operator_service.add_search_attributes(
        AddSearchAttributesRequest(
            namespace=namespace,
            search_attributes={
                key.name: IndexedValueType.ValueType(key.indexed_value_type.value) for key in search_attributes.ALL
            },
        )
    )
