"""``make run``'s demo decides on evidence: its own spec file, its traffic, the real judge, no override.

The stand is the demo's (two model servers at the demo's error rates behind nginx, Prometheus) and the load is
``simulator.loadgen`` at ``DEMO_RPS`` in its own process, as ``make run`` drives it. The spec is
docs/examples/demo-rollout.json as shipped (steps, criteria), only its service name unique and its target this
stand; approvals are sent as ``make run`` prints them, once the last step asks. Nothing here asserts a time: the
time each decision took is measured in docs/rollouts.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

from simulator.demo import DEMO_RPS, DEMO_USERS, ERROR_RATES, LATENCY, REPLAY, demo_spec
from simulator.procs import REPO_ROOT
from simulator.stand import Stand, run_stand
from tests.e2e.helpers import STAND_TARGET, stand_policy
from tests.workflows.helpers import rollout_worker, start_rollout, status, unique_service

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

APPROVERS = ("ml-lead", "sre-oncall")
"""The two approvals ``make run`` prints for the last step (quorum 2 of the spec's three approvers)."""


@contextlib.asynccontextmanager
async def demo_load(stand: Stand) -> AsyncIterator[list[dict[str, Any]]]:
    """``python -m simulator.loadgen`` at the demo's rate through nginx, in its own process as in ``make run``.

    Its own process so the load generator's CPU does not slow this process's worker; yields a list that holds the
    load's JSON summary once the block ends.
    """
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulator.loadgen",
        "--url",
        stand.answer_url,
        "--rps",
        str(DEMO_RPS),
        "--users",
        str(DEMO_USERS),
        "--duration",
        "3600",
        stdout=asyncio.subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    summary: list[dict[str, Any]] = []
    try:
        yield summary
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, _ = await asyncio.wait_for(process.communicate(), timeout=30)
        if stdout.strip():
            summary.append(json.loads(stdout))


@contextlib.asynccontextmanager
async def approve_when_asked(handle: WorkflowHandle[Any, Any]) -> AsyncIterator[list[str]]:
    """The two approvers of ``make run``'s printout, each approving once the rollout awaits approval."""
    sent: list[str] = []

    async def approvers() -> None:
        while True:
            current = await status(handle)
            if current.phase == "awaiting_approval":
                for approver in APPROVERS:
                    if approver not in sent:
                        await handle.execute_update("approve", {"approver": approver})
                        sent.append(approver)
            if current.phase in ("promoted", "rolled_back", "failed"):
                return
            await asyncio.sleep(0.5)

    task = asyncio.create_task(approvers())
    try:
        yield sent
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def the_demo_spec(stand: Stand) -> dict[str, Any]:
    """The shipped demo spec on this stand, under a service name of its own and the e2e policy's target."""
    return {**demo_spec(stand), "service": unique_service(), "target": STAND_TARGET}


async def run_demo(client: Client, task_queue: str, tmp_path: Path, candidate: str) -> tuple[Any, list[str]]:
    """The demo rollout on a fresh stand, to its end, with ``candidate`` at the demo's error rate for it."""
    stable = {"error_rate": ERROR_RATES["stable"], **LATENCY}
    candidate_knobs = {"error_rate": ERROR_RATES[candidate], **LATENCY}
    async with run_stand(stable=stable, candidate=candidate_knobs) as stand:
        policy = stand_policy(stand, tmp_path, **{"support-requests": str(REPLAY)})
        async with rollout_worker(client, task_queue, policy_path=policy), demo_load(stand):
            handle = await start_rollout(client, the_demo_spec(stand), task_queue)
            async with approve_when_asked(handle) as approvals:
                result = await handle.result()
    return result, approvals


async def test_healthy_demo_promotes_on_passing_evidence(client: Client, task_queue: str, tmp_path: Path) -> None:
    result, approvals = await run_demo(client, task_queue, tmp_path, "healthy")
    record = result.record
    assert record.outcome == "promoted", result.markdown
    assert record.overrides == [], "no person moved a step on"
    canary = [s for s in record.steps if s.kind == "canary"]
    shipped = json.loads((REPO_ROOT / "docs" / "examples" / "demo-rollout.json").read_text())
    assert [s.weight for s in canary] == [step["weight"] for step in shipped["steps"]]
    for step in canary:
        assert step.evidence == "pass", f"step {step.index}: {step.evidence}\n{result.markdown}"
        assert step.deciding_analysis is not None and step.deciding_analysis.decision == "pass", step
        verdicts = {c.name: c.verdict for c in step.final}  # the structured evidence the step ended on
        assert verdicts and set(verdicts.values()) == {"pass"}, verdicts
    assert approvals == list(APPROVERS)


async def test_regressed_demo_rolls_back_on_a_failed_criterion(client: Client, task_queue: str, tmp_path: Path) -> None:
    result, _ = await run_demo(client, task_queue, tmp_path, "regressed")
    record = result.record
    assert record.outcome == "rolled_back", result.markdown
    assert record.overrides == []
    assert record.rollback is not None and record.rollback.cause == "analysis", record.rollback
    last = record.analyses[-1]
    assert last.decision == "rollback", last
    failed = [c.name for c in last.criteria if c.verdict == "fail"]
    assert "error_rate" in failed or "error_rate" in last.triggers_breached, last
