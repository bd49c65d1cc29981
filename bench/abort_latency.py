"""Abort latency: ``abort`` signal -> router verified at stable 100%, against a bare signal round trip.

    python -m bench.abort_latency [--rollouts 30]

Everything is real and on loopback: the Temporal dev server (SQLite), the production worker wiring in this
process, and the simulator's HTTP router in its own process. For each rollout the clock starts when the
signal is sent and stops when the router answers ``GET`` with stable at 100%, polled every millisecond.
The baseline is the same server's round trip for a signal that completes a trivial workflow.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.signal_round_trip import SignalRoundTrip
from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.servers import dev_server
from workers.build import build_worker
from workers.client import connect
from workers.registry import open_activities, registered_workflows
from workers.settings import Settings
from workflows.rollout.state import RolloutResult, RolloutStatus


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def wait_for(probe: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not await probe():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.001)


async def main(rollouts: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as data:
        async with dev_server(Path(data)) as server, run_simulator(knobs={"rps": 1000}) as sim:
            client = await connect(Settings(address=server.address))
            queue = "bench"
            policy = write_lab_policy(Path(data) / "policy.json", {"sim": sim.target()})
            async with open_activities(client, queue, policy_path=policy) as activities, httpx.AsyncClient() as http:
                worker = build_worker(
                    client,
                    task_queue=queue,
                    workflows=[*registered_workflows(), SignalRoundTrip],
                    activities=activities,
                )
                async with worker:
                    trivial: list[float] = []
                    for _ in range(rollouts):
                        trivial_handle = await client.start_workflow(
                            SignalRoundTrip.run, id=f"trivial-{uuid.uuid4()}", task_queue=queue
                        )
                        started = time.perf_counter()
                        await trivial_handle.signal(SignalRoundTrip.finish)
                        await trivial_handle.result()
                        trivial.append(time.perf_counter() - started)

                    abort: list[float] = []
                    in_workflow: list[float] = []
                    for i in range(rollouts):
                        service = f"bench-{i}-{uuid.uuid4().hex[:6]}"
                        spec = {
                            "service": service,
                            "requested_by": "bench",
                            "stable": {"version": sim.stable_version},
                            "candidate": {"version": sim.candidate_version},
                            "target": "sim",
                            "steps": [{"weight": 10, "observe": "1h"}],
                            "analysis_interval": "1m",
                        }
                        handle = await client.start_workflow(
                            "Rollout", spec, id=f"rollout-{service}", task_queue=queue,
                            result_type=RolloutResult,
                        )  # fmt: skip

                        async def observing(handle: Any = handle) -> bool:
                            st = await handle.query("status", result_type=RolloutStatus)
                            return bool(st.weight == 10 and st.phase == "canary")

                        await wait_for(observing)
                        url = sim.routes_url(service)

                        async def stable_at_100(url: str = url) -> bool:
                            return bool((await http.get(url)).json()["stable"] == 100.0)

                        started = time.perf_counter()
                        await handle.signal("abort", {"by": "bench", "reason": "latency benchmark"})
                        await wait_for(stable_at_100)
                        abort.append(time.perf_counter() - started)
                        result = await handle.result()
                        rollback = result.record.rollback
                        if rollback is None or not rollback.router_verified:
                            raise RuntimeError(f"rollout {handle.id} did not roll back: {result.record.outcome}")
                        in_workflow.append(rollback.duration_seconds or 0.0)
    figures = {
        "abort_p50_ms": percentile(abort, 0.5) * 1000,
        "abort_p99_ms": percentile(abort, 0.99) * 1000,
        "signal_p50_ms": percentile(trivial, 0.5) * 1000,
        "signal_p99_ms": percentile(trivial, 0.99) * 1000,
        "rollback_in_workflow_p50_ms": statistics.median(in_workflow) * 1000,
    }
    figures["ratio_p50"] = figures["abort_p50_ms"] / figures["signal_p50_ms"]
    figures["ratio_p99"] = figures["abort_p99_ms"] / figures["signal_p99_ms"]
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rollouts", type=int, default=30)
    args = parser.parse_args()
    results = asyncio.run(main(args.rollouts))
    for key, value in results.items():
        print(f"{key:>28}: {value:8.2f}")
