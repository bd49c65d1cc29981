"""Record a signed pipeline for the replay test: ``python -m tests.histories.record_pipeline LABEL``.

Two stages under a strict policy (the requester's one signature for both, a signed promotion between them), driven
with the ``rollouts pipeline`` commands. It writes the ``Pipeline`` history and its staging stage's ``Rollout``
history (the eval gate, and the stage signed through its parent); the replay test picks each one's workflow class
by the type in its history. Keys are generated for the recording and thrown away.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

from models.pipeline import PipelineRecord, pipeline_id
from simulator.testing import run_simulator
from tests.servers import dev_server
from tests.signing import make_person
from tests.workflows.helpers import rollout_worker, wait_until
from tests.workflows.test_pipeline import FAST, pipeline_spec
from tests.workflows.test_pipeline_signed import strict_policy
from workers.cli.__main__ import main as rollouts_main
from workers.client import connect
from workers.settings import Settings

HERE = Path(__file__).resolve().parent
SERVICE = "recorded-pipeline"


async def record(label: str) -> None:
    with tempfile.TemporaryDirectory() as data:
        keys = Path(data)
        requester, manager = make_person(keys, "ml-engineer"), make_person(keys, "release-manager")
        (keys / "server").mkdir()
        async with dev_server(keys / "server") as server, run_simulator(knobs=FAST) as sim:
            policy = strict_policy(keys / "policy.json", sim, [requester, manager])
            spec = keys / "pipeline.json"
            spec.write_text(json.dumps(pipeline_spec(sim, SERVICE)))
            client = await connect(Settings(address=server.address))
            os.environ["ROLLOUTS_TASK_QUEUE"] = "record"
            address = ["--address", server.address]
            async with rollout_worker(client, "record", policy_path=policy):
                argv = ["pipeline", "start", str(spec), "--key", str(requester.key), *address]
                assert await asyncio.to_thread(rollouts_main, argv) == 0
                handle = client.get_workflow_handle(pipeline_id(SERVICE))

                async def canary_waits() -> bool:
                    record: PipelineRecord = await handle.query("status", result_type=PipelineRecord)
                    return record.stages[1].state == "awaiting_promotion"

                await wait_until(canary_waits, what="the canary's promotion", timeout=120)
                promote = ["pipeline", "promote", SERVICE, "--stage", "canary", "--yes", "--reason", "green", *address]
                assert await asyncio.to_thread(rollouts_main, [*promote, "--key", str(manager.key)]) == 0
                await handle.result()
                for workflow_id in (handle.id, f"{handle.id}--staging"):
                    history = await client.get_workflow_handle(workflow_id).fetch_history()
                    (HERE / f"{label}--{workflow_id}.json").write_text(history.to_json())


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v8-pipeline"))
