"""Record histories of issue 23's later paths for the replay test: ``python -m tests.histories.record_aftercare LABEL``.

Three workflows, each a path ``record.py`` does not take: a ``RollbackDrill`` that moves 5% and back; a rollout
rolled back by the ``input_drift`` criterion; and a rollout after which stable stays bad (``not_recovered``, the
``recovery-outcome`` upsert). Files are ``LABEL--WORKFLOW_ID.json`` beside the others; tests/test_replay.py
replays them all on today's code.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path
from typing import Any

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.servers import dev_server
from tests.workflows.helpers import SIM_TARGET, rollout_worker, start_rollout, status, targeted_spec, wait_until
from workers.client import connect
from workers.settings import Settings

HERE = Path(__file__).resolve().parent


async def record(label: str) -> None:
    with tempfile.TemporaryDirectory() as data:
        async with dev_server(Path(data)) as server:
            client = await connect(Settings(address=server.address))

            async def save(handle: Any) -> None:
                await handle.result()
                (HERE / f"{label}--{handle.id}.json").write_text((await handle.fetch_history()).to_json())

            # 1. A drill: lease, read, 5% and back, verified; 2. an input-drift rollback.
            async with run_simulator(knobs={"rps": 200000, "candidate": {"input_shift": 0.8}}) as sim:
                policy = write_lab_policy(
                    Path(data) / "policy.json",
                    {SIM_TARGET: sim.target()},
                    drill={"target": SIM_TARGET, "weight": 5, "dwell": "1s"},
                )
                async with rollout_worker(client, "record", policy_path=policy):
                    drill = await client.start_workflow(
                        "RollbackDrill", {"service": "drilled"}, id="rollback-drill-drilled", task_queue="record"
                    )
                    await save(drill)
                    criteria = {"min_requests": 5000, "input_drift": {"limit": 0.2, "on_drift": "rollback"}}
                    await save(await start_rollout(client, targeted_spec(sim, "drifted", criteria=criteria), "record"))

            # 3. Stable stays bad after the rollback: not recovered, shown in the outcome column.
            async with run_simulator(knobs={"rps": 200000, "candidate": {"error_rate": 0.2}}) as sim:
                await sim.metrics("unrecovered", sim.stable_version)
                await sim.advance(60)
                policy = write_lab_policy(
                    Path(data) / "policy2.json",
                    {SIM_TARGET: sim.target()},
                    recovery={"watch": "5s", "min_requests": 400_000},
                )
                async with rollout_worker(client, "record", policy_path=policy):
                    handle = await start_rollout(client, targeted_spec(sim, "unrecovered"), "record")

                    async def rolling_back() -> bool:
                        return (await status(handle)).phase in ("rolling_back", "rolled_back")

                    await wait_until(rolling_back, what="the rollback")
                    await sim.set_knobs("stable", error_rate=0.3)
                    await save(handle)


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1] if len(sys.argv) > 1 else "v6-aftercare"))
