"""``simulator.procs.running``: errors that quote the process's output, the deadline, and a stop that reaches
the children a process forked."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from simulator.procs import ServerProcessError, free_port, running


def _gone(pid: int) -> bool:
    """No such process any more, or only a zombie waiting for a reaper (this sandbox's init may not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


async def _eventually_gone(pid: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while not _gone(pid):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def test_an_early_exit_is_reported_with_the_end_of_stderr() -> None:
    argv = [sys.executable, "-c", "import sys; sys.exit('config is broken')"]
    never = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(ServerProcessError, match=r"(?s)broken server: exited with 1 .*config is broken"):
        async with running(argv, ready=never, what="broken server", timeout=15):
            pytest.fail("never ready")


async def test_the_deadline_stops_the_process_and_quotes_its_output(tmp_path: Path) -> None:
    code = "import os, sys, time; print(os.getpid(), file=sys.stderr, flush=True); time.sleep(600)"
    log = tmp_path / "slow.log"
    with pytest.raises(ServerProcessError, match=r"slow server: not ready within 0.5 s:\n\d+"):
        async with running(
            [sys.executable, "-c", code], ready=lambda _p: _false(), what="slow server", timeout=0.5, log=log
        ):
            pytest.fail("never ready")
    assert await _eventually_gone(int(log.read_text()))


async def _false() -> bool:
    return False


async def test_stop_kills_children_that_ignore_sigterm() -> None:
    # The shell exits on SIGTERM; its child ignores it and is only stopped by the SIGKILL to the process group.
    script = '(trap "" TERM; exec sleep 600) & echo $!; wait'
    pids: list[int] = []

    async def child_started(process: asyncio.subprocess.Process) -> bool:
        assert process.stdout is not None
        pids.append(int(await process.stdout.readline()))
        return True

    async with running(
        ["sh", "-c", script], ready=child_started, what="shell", timeout=5, stdout=asyncio.subprocess.PIPE, grace=2
    ) as process:
        assert not _gone(pids[0])
    assert process.returncode is not None
    assert await _eventually_gone(pids[0])
