"""The real Temporal cluster for tests: built by scripts/install_cluster.sh, run by deploy/cluster/start.sh.

The test starts exactly what an operator starts (the same scripts, the same config template), in a state
directory of its own with free loopback ports, and stops it with deploy/cluster/stop.sh.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.servers import ROOT

INSTALL = ROOT / "scripts" / "install_cluster.sh"
START = ROOT / "deploy" / "cluster" / "start.sh"
STOP = ROOT / "deploy" / "cluster" / "stop.sh"


@dataclass(frozen=True)
class Cluster:
    """A running cluster: its frontend, and the pid of every service instance by name (``history-2``)."""

    address: str
    state: Path

    def pid(self, instance: str) -> int:
        """The process id of one service instance, as start.sh recorded it."""
        return int((self.state / "pids" / f"{instance}.pid").read_text().strip())

    def log(self, instance: str) -> str:
        """The end of one instance's log, for failure messages."""
        text = (self.state / "logs" / f"{instance}.log").read_text(errors="replace")
        return text[-3000:]


async def _run(*argv: str | Path, env: dict[str, str] | None = None) -> None:
    process = await asyncio.create_subprocess_exec(
        "bash",
        *map(str, argv),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({process.returncode}):\n{output.decode()[-3000:]}")


@contextlib.asynccontextmanager
async def running_cluster(state: Path, *, history: int = 2, matching: int = 2) -> AsyncIterator[Cluster]:
    """Install (reused when present), start, yield, and always stop the cluster kept in ``state``."""
    await _run(INSTALL, env={"CLUSTER_UI": "0"})  # no Web UI in tests: one build fewer on a fresh machine
    try:
        await _run(
            START, state, env={"CLUSTER_HISTORY": str(history), "CLUSTER_MATCHING": str(matching), "CLUSTER_UI": "0"}
        )
        settings = dict(line.split("=", 1) for line in (state / "cluster.env").read_text().splitlines() if "=" in line)
        yield Cluster(address=settings["TEMPORAL_ADDRESS"], state=state)
    finally:
        await _run(STOP, state)
