"""Record lease histories for the replay test: ``python -m tests.lease.record LABEL``.

Files are ``histories/LABEL--WORKFLOW_ID.json``. The ``v1-unwatched`` files were recorded with the lease as it
was before it watched its holder (and with a take-over scenario in place of the termination one, since an
unwatched lease outlives its terminated holder): they prove that leases running when the watcher was deployed
still replay. ``v2-watched`` is the lease that watches. Record a new label whenever the lease's behaviour
changes on purpose (behind ``workflow.patched``), and keep the old files.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from temporalio.client import Client, WorkflowHandle

from models.lease import lease_id
from simulator.testing import Simulator, run_simulator
from tests.servers import dev_server
from tests.workflows.helpers import compressed_spec, rollout_worker, start_rollout, status, wait_until
from workers.client import connect
from workers.settings import Settings
from workflows.rollout.state import RolloutResult

HERE = Path(__file__).resolve().parent / "histories"
QUEUE = "record-lease"


async def _save(client: Client, label: str, workflow_id: str) -> None:
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    (HERE / f"{label}--{workflow_id}.json").write_text(history.to_json())


async def _in_step(handle: WorkflowHandle[Any, RolloutResult]) -> None:
    async def stepping() -> bool:
        return (await status(handle)).weight > 0

    await wait_until(stepping, what="first step")


async def record(label: str) -> None:
    HERE.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as data:
        async with dev_server(Path(data)) as server, run_simulator(knobs={"rps": 200000}) as sim:
            client = await connect(Settings(address=server.address))
            async with rollout_worker(client, QUEUE):
                await _promoted(client, sim, label)
                await _terminated(client, sim, label)
                await _held(client, sim, label)


async def _promoted(client: Client, sim: Simulator, label: str) -> None:
    """1. Acquired, the holder promoted and released: the lease completed."""
    service = "recorded-lease-promote"
    handle = await start_rollout(client, compressed_spec(sim, service), QUEUE)
    await handle.result()
    await client.get_workflow_handle(lease_id(service)).result()
    await _save(client, label, lease_id(service))


async def _terminated(client: Client, sim: Simulator, label: str) -> None:
    """2. The holder was terminated at 25%: the lease put stable back at 100% and ended."""
    service = "recorded-lease-terminated"
    spec = compressed_spec(sim, service, steps=[{"weight": 25, "observe": "1h"}])
    handle = await start_rollout(client, spec, QUEUE)
    await _in_step(handle)
    await handle.terminate(reason="recording: a person terminated the rollout")
    await client.get_workflow_handle(lease_id(service)).result()
    await _save(client, label, lease_id(service))


async def _held(client: Client, sim: Simulator, label: str) -> None:
    """3. A lease still held when the new code is deployed: the history ends in the middle."""
    service = "recorded-lease-held"
    handle = await start_rollout(client, compressed_spec(sim, service, steps=[{"weight": 25, "observe": "1h"}]), QUEUE)
    await _in_step(handle)
    await _save(client, label, lease_id(service))
    await handle.signal("abort", {"by": "recorder", "reason": "done recording"})
    await handle.result()


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v2-watched"))
