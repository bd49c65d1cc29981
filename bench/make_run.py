"""``python -m bench.make_run``: `make run` from a fresh clone, as a newcomer runs it, timed to its decision.

Each run clones this checkout's HEAD into a new directory, runs ``make run`` there (with ``CANDIDATE=regressed``
for the regressed case), sends the two signed approvals the script prints when the rollout asks for them, waits
for the outcome, then stops ``make run`` with Ctrl-C (SIGINT) as a person would. It reports, per run: the time
from ``make run`` to the rollout's start (set-up, stand, worker), from the start to the outcome, the outcome, and
whether the record holds any override (a decision on evidence has none).

Example::

    python -m bench.make_run --runs 3 --candidate healthy --candidate regressed
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from temporalio.client import Client, WorkflowExecutionStatus

from workers.client import connect
from workers.settings import Settings
from workflows.rollout import RolloutWorkflow

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW_ID = "rollout-support-assistant"
ADDRESS = "127.0.0.1:7233"
APPROVERS = ("ml-lead", "sre-oncall")


@dataclass
class Run:
    candidate: str
    to_start: float
    to_outcome: float
    outcome: str
    why: str
    overrides: int


async def _client(deadline: float) -> Client:
    while True:
        try:
            return await connect(Settings(address=ADDRESS))
        except Exception:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(1)


async def _started(client: Client, deadline: float) -> None:
    while True:
        try:
            description = await client.get_workflow_handle(WORKFLOW_ID).describe()
            if description.status is not None:
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("make run: the demo rollout never started")
        await asyncio.sleep(1)


def _approve(clone: Path, who: str) -> None:
    env = {**os.environ, "TEMPORAL_ADDRESS": ADDRESS}
    command = [".venv/bin/rollouts", "approve", WORKFLOW_ID, "--key", f".run/keys/{who}", "--yes"]
    subprocess.run([*command, "--reason", "bench.make_run"], cwd=clone, env=env, check=True, capture_output=True)


async def one(candidate: str, timeout: float) -> Run:
    with tempfile.TemporaryDirectory(prefix="make-run-") as tmp:
        clone = Path(tmp) / "durable-rollouts"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {**os.environ, "CANDIDATE": candidate}
        began = time.monotonic()
        deadline = began + timeout
        with (clone / "make-run.log").open("w") as log:
            make = subprocess.Popen(["make", "run"], cwd=clone, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            client = await _client(deadline)
            await _started(client, deadline)
            started = time.monotonic()
            handle = client.get_workflow_handle_for(RolloutWorkflow.run, WORKFLOW_ID)
            sent = 0
            while True:
                description = await handle.describe()
                if description.status != WorkflowExecutionStatus.RUNNING:
                    break
                status = await handle.query(RolloutWorkflow.status)
                if status.phase == "awaiting_approval" and sent == 0:
                    for who in APPROVERS:
                        _approve(clone, who)
                    sent = len(APPROVERS)
                if time.monotonic() > deadline:
                    raise TimeoutError("make run: no outcome in time")
                await asyncio.sleep(2)
            ended = time.monotonic()
            result = await handle.result()
            record = result.record
            rollback = record.rollback
            why = f"{rollback.cause}: {rollback.reason[:90]}" if rollback else "every criterion passed"
            return Run(candidate, started - began, ended - started, record.outcome, why, len(record.overrides))
        finally:
            os.killpg(make.pid, signal.SIGINT)
            try:
                make.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(make.pid, signal.SIGKILL)
                make.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3, help="runs per candidate")
    parser.add_argument("--candidate", action="append", choices=["healthy", "regressed"])
    parser.add_argument("--timeout", type=float, default=1800, help="seconds a run may take in all")
    args = parser.parse_args()
    print("| candidate | run | make run to rollout start | start to outcome | outcome | why | overrides | load |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for candidate in args.candidate or ["healthy", "regressed"]:
        for index in range(args.runs):
            run = asyncio.run(one(candidate, args.timeout))
            load = os.getloadavg()[0]
            print(
                f"| {candidate} | {index + 1} | {run.to_start:.0f} s | {run.to_outcome:.0f} s | {run.outcome} | "
                f"{run.why} | {run.overrides} | {load:.2f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
