"""Real worker processes (``python -m workers``) for the cluster tests, configured as an operator would."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from simulator.procs import running
from tests.servers import ROOT
from tests.workflows.helpers import LAB_POLICY


@contextlib.asynccontextmanager
async def worker_process(
    address: str, task_queue: str, log: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[int]:
    """One worker process, yielded (as its pid) once it logged that it polls; stopped with SIGTERM at the end."""
    log.parent.mkdir(parents=True, exist_ok=True)
    settings = {
        **os.environ,
        "TEMPORAL_ADDRESS": address,
        "ROLLOUTS_TASK_QUEUE": task_queue,
        "WORKER_GRACEFUL_SHUTDOWN_SECONDS": "2",
        "PYTHONPATH": str(ROOT),
        # The orchestration tests' lab policy: unsigned approvals count, recorded as unverified (docs/approvals.md).
        "ROLLOUTS_POLICY_PATH": str(LAB_POLICY),
        **(env or {}),
    }

    async def polling(_process: object) -> bool:
        return log.exists() and b'"worker started"' in log.read_bytes()

    async with running(
        [sys.executable, "-m", "workers"],
        ready=polling,
        what=f"worker on {task_queue}",
        timeout=60,
        log=log,
        env=settings,
        cwd=ROOT,
        grace=10,
        interval=0.1,
    ) as process:
        yield process.pid
