"""A worker killed mid-step (SIGKILL, no goodbye) and restarted: the rollout finishes, router calls in order."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from temporalio.client import Client

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.servers import ROOT, DevServer
from tests.workflows.helpers import SIM_TARGET, start_rollout, status, targeted_spec, unique_service, wait_until


@contextmanager
def worker_process(server: DevServer, task_queue: str, log: Path, policy: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m workers`` exactly as an operator runs it, with the operators' policy and its targets."""
    env = {
        **os.environ,
        "TEMPORAL_ADDRESS": server.address,
        "ROLLOUTS_TASK_QUEUE": task_queue,
        "ROLLOUTS_POLICY_PATH": str(policy),
        "WORKER_GRACEFUL_SHUTDOWN_SECONDS": "1",
    }
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=out, stderr=out)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


async def test_worker_killed_mid_step_and_restarted_finishes(
    client: Client, temporal_dev: DevServer, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    log = tmp_path / "worker.log"
    async with run_simulator(knobs={"rps": 200000}) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        spec = targeted_spec(sim, service, steps=[{"weight": 10, "observe": "4s"}, {"weight": 50, "observe": "3s"}])
        handle = await start_rollout(client, spec, task_queue)
        with worker_process(temporal_dev, task_queue, log, policy) as first:

            async def in_step_one() -> bool:
                return (await status(handle)).weight == 10

            await wait_until(in_step_one, what="step 1 at 10%", timeout=60)
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait)
        with worker_process(temporal_dev, task_queue, log, policy):
            result = await asyncio.wait_for(handle.result(), timeout=120)
        calls = [c["candidate"] for c in await sim.calls(service)]
    assert result.record.outcome == "promoted", result.markdown
    # Retries may repeat a call (idempotent), but the weights never go back: no call applied out of order.
    assert calls == sorted(calls), calls
    assert [w for i, w in enumerate(calls) if i == 0 or calls[i - 1] != w] == [10.0, 50.0, 100.0]
    assert b'"worker started"' in log.read_bytes()
