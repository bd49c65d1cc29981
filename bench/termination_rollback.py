"""Termination -> stable: a rollout terminated by a person at 25% is put back at stable 100% by its lease.

    python -m bench.termination_rollback [--rollouts 10]

Everything is real and on loopback: the Temporal dev server (SQLite), the production worker wiring in this
process, and the simulator's HTTP router in its own process. For each rollout the clock starts when
``terminate`` returns (the server has closed the run) and stops when the router answers ``GET`` with stable at
100%, polled every millisecond. The lease's own report splits that time: how long its watcher took to see the
ending (termination event -> compensation started) and how long the verified router call took.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHandle

from models.lease import LeaseReport, lease_id
from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.servers import dev_server
from workers.build import build_worker
from workers.client import connect
from workers.registry import open_activities, registered_workflows
from workers.settings import Settings
from workflows.rollout.state import RolloutResult, RolloutStatus


async def wait_for(probe: Callable[[], Awaitable[bool]], timeout: float = 60.0, interval: float = 0.001) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(interval)


async def main(rollouts: int) -> dict[str, list[float]]:
    figures: dict[str, list[float]] = {"terminate_to_stable": [], "lease_saw_ending": [], "lease_router_call": []}
    with tempfile.TemporaryDirectory() as data:
        async with dev_server(Path(data)) as server, run_simulator(knobs={"rps": 1000}) as sim:
            client = await connect(Settings(address=server.address))
            queue = "bench"
            policy = write_lab_policy(Path(data) / "policy.json", {"sim": sim.target()})
            async with open_activities(client, queue, policy_path=policy) as activities, httpx.AsyncClient() as http:
                worker = build_worker(client, task_queue=queue, workflows=registered_workflows(), activities=activities)
                async with worker:
                    for i in range(rollouts):
                        service = f"bench-{i}-{uuid.uuid4().hex[:6]}"
                        spec = {
                            "service": service,
                            "requested_by": "bench",
                            "stable": {"version": sim.stable_version},
                            "candidate": {"version": sim.candidate_version},
                            "target": "sim",
                            "steps": [{"weight": 25, "observe": "1h"}],
                            "analysis_interval": "1m",
                        }
                        handle = await client.start_workflow(
                            "Rollout", spec, id=f"rollout-{service}", task_queue=queue, result_type=RolloutResult
                        )

                        async def observing(handle: WorkflowHandle[Any, RolloutResult] = handle) -> bool:
                            st = await handle.query("status", result_type=RolloutStatus)
                            return bool(st.weight == 25 and st.phase == "canary")

                        await wait_for(observing, interval=0.05)
                        url = sim.routes_url(service)

                        async def stable_at_100(url: str = url) -> bool:
                            return bool((await http.get(url)).json() == {"stable": 100.0, "candidate": 0.0})

                        if await stable_at_100():
                            raise RuntimeError("the router was at stable 100% before the termination")
                        await handle.terminate(reason="benchmark: terminated by a person")
                        started = time.perf_counter()
                        await wait_for(stable_at_100)
                        figures["terminate_to_stable"].append(time.perf_counter() - started)

                        report = await client.get_workflow_handle(lease_id(service), result_type=LeaseReport).result()
                        orphan = report.orphan_rollback
                        if orphan is None or not orphan.router_verified or orphan.ended != "terminated":
                            raise RuntimeError(f"lease of {service} did not roll back: {report}")
                        terminated_at = 0.0
                        async for event in handle.fetch_history_events():
                            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
                                terminated_at = event.event_time.ToDatetime(tzinfo=UTC).timestamp()
                        figures["lease_saw_ending"].append(orphan.started_at.timestamp() - terminated_at)
                        figures["lease_router_call"].append(orphan.duration_seconds)
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=10)
    args = parser.parse_args()
    results = asyncio.run(main(args.rollouts))
    for key, values in results.items():
        ms = [v * 1000 for v in values]
        print(f"{key:>20} (ms): median {statistics.median(ms):8.1f}   max {max(ms):8.1f}   n={len(ms)}")
