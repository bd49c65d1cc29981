"""Issue 22's eval gate survives its worker: a worker process killed (SIGKILL) mid-suite, a replacement resumes
from the last heartbeat and grades only the cases the heartbeat did not hold.

The operators' grader here is the test's own (it grades as the simulator's does): it answers the suite's first
``FINISHED`` cases at once and holds every later one until the first worker is dead, so the kill lands mid-suite
without a sleep, and it counts what it saw per case and version: the proof that no finished case ran twice.
Most of the test's minute is the eval activity's 30 s heartbeat timeout: how long the server takes to notice the
dead worker and hand the activity, with its last heartbeat, to the replacement.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from temporalio.client import Client, WorkflowHandle

from simulator.eval_suite import cases, grade, suite_entry
from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.servers import DevServer
from tests.workflows.helpers import SIM_TARGET, start_rollout, targeted_spec, unique_service, wait_until
from tests.workflows.test_worker_crash import worker_process

FINISHED = 10
"""Cases the grader answers before the kill; every later one waits for the replacement worker."""
CONCURRENCY = 4


@dataclass
class HoldingGrader:
    """Grades like the simulator, counts each (case, version) it sees, holds cases past ``FINISHED`` until released."""

    url: str = ""
    seen: Counter[tuple[str, str]] = field(default_factory=Counter)
    held: set[str] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    order: dict[str, int] = field(default_factory=lambda: {c["id"]: i for i, c in enumerate(cases())})

    async def handle(self, request: web.Request) -> web.Response:
        document: dict[str, Any] = await request.json()
        case_id = str(document["case"]["id"])
        self.seen[(case_id, str(document["answer"].get("version")))] += 1
        if self.order[case_id] >= FINISHED and not self.release.is_set():
            self.held.add(case_id)
            await self.release.wait()
        return web.json_response(grade(document))


@contextlib.asynccontextmanager
async def holding_grader() -> AsyncIterator[HoldingGrader]:
    grader = HoldingGrader()
    app = web.Application()
    app.router.add_post("/grade", grader.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    grader.url = f"http://{host}:{port}/grade"
    try:
        yield grader
    finally:
        grader.release.set()
        await runner.cleanup()


async def eval_heartbeat(client: Client, handle: WorkflowHandle[Any, Any]) -> dict[str, Any] | None:
    """The running eval activity's last heartbeat details, as the server holds them (describe)."""
    description = await handle.describe()
    for pending in description.raw_description.pending_activities:
        if pending.activity_type.name == "run_eval" and pending.heartbeat_details.payloads:
            details = await client.data_converter.decode(pending.heartbeat_details.payloads)
            found: dict[str, Any] = details[0]
            return found
    return None


@pytest.mark.timeout(360)  # above its own deadlines (120 s to the heartbeat, 180 s for the result)
async def test_a_worker_killed_mid_eval_resumes_from_its_heartbeat(
    client: Client, temporal_dev: DevServer, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    log = tmp_path / "worker.log"
    async with run_simulator(knobs={"rps": 200000}) as sim, holding_grader() as grader:
        target = {**sim.target(), "eval_suites": suite_entry(grader.url)}
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: target})
        spec = targeted_spec(sim, service, eval={"suite": "support", "concurrency": CONCURRENCY})
        handle = await start_rollout(client, spec, task_queue)
        with worker_process(temporal_dev, task_queue, log, policy) as first:
            beat: dict[str, Any] = {}

            async def finished_cases_heartbeated() -> bool:
                beat.update(await eval_heartbeat(client, handle) or {})
                return beat.get("done") == FINISHED and len(grader.held) == CONCURRENCY

            await wait_until(finished_cases_heartbeated, what="a heartbeat holding the finished cases", timeout=120)
            first.send_signal(signal.SIGKILL)
            await asyncio.to_thread(first.wait)
        held_at_kill = set(grader.held)
        grader.release.set()  # the dead worker's requests, still open, are answered to no one
        with worker_process(temporal_dev, task_queue, log, policy):
            result = await asyncio.wait_for(handle.result(), timeout=180)

    assert result.record.outcome == "promoted", result.markdown
    gate = next(g for g in result.record.gates if g.name == "eval")
    assert gate.passed and gate.details["cases"] == len(cases())
    assert gate.details["resumed"] == FINISHED, gate.details
    assert "resumed from the last heartbeat" in gate.summary
    finished = {v["id"] for v in beat["verdicts"]}
    all_ids = {c["id"] for c in cases()}
    for version in (sim.stable_version, sim.candidate_version):
        graded_twice = {case for case in all_ids if grader.seen[(case, version)] > 1}
        assert not finished & graded_twice, f"finished cases graded again for {version}: {finished & graded_twice}"
        assert graded_twice <= held_at_kill, f"only the cases in flight at the kill run again: {graded_twice}"
        assert all(grader.seen[(case, version)] >= 1 for case in all_ids), "every case graded for both versions"
