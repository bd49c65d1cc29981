"""The one way this project runs a server process for tests, benchmarks and the demo, plus the runners' plumbing.

:func:`running` starts a process, waits until it is ready and stops it, for the stand-ins (``simulator/testing.py``),
nginx, Prometheus and the Temporal dev server (``tests/servers.py``) alike, so every one of them gets the same
deadline, the same error message (with the end of the process's output) and the same clean stop of the whole
process group.

nginx, HAProxy and Prometheus run as plain child processes of ours (never the system services), with their configuration
and data in a fresh folder under the git-ignored ``.run/`` of the repository, removed when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_ROOT = REPO_ROOT / ".run"
_INSTALL_HINT = "run `sudo bash scripts/install_servers.sh` (Debian packages nginx-light, haproxy and prometheus)"
_TAIL_BYTES = 4096

Ready = Callable[[asyncio.subprocess.Process], Awaitable[bool]]
"""A readiness probe: true once the process serves. It may block (reading a ready line); the deadline applies."""


class ServerProcessError(RuntimeError):
    """A server process could not be found, started, or reached."""


def binary(name: str) -> str:
    """Absolute path of ``name`` (also looked for in /usr/sbin, which is not on every PATH)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise ServerProcessError(f"{name} not found: {_INSTALL_HINT}")
    return found


def free_port() -> int:
    """A loopback port free right now (the server binds it moments later; callers retry on a lost race)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_port(url: str) -> str:
    """``127.0.0.1:8080`` from ``http://127.0.0.1:8080/anything``."""
    return url.split("://", 1)[1].split("/", 1)[0]


@contextlib.contextmanager
def run_folder(kind: str, keep: bool = False) -> Iterator[Path]:
    """A fresh folder ``.run/<kind>-XXXX`` for one server's configuration, logs and data."""
    RUN_ROOT.mkdir(exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=RUN_ROOT))
    try:
        yield folder
    finally:
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)


@contextlib.asynccontextmanager
async def running(
    argv: Sequence[str],
    *,
    ready: Ready | str,
    what: str,
    timeout: float,
    log: Path | None = None,
    stdout: int | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    grace: float = 10.0,
    interval: float = 0.05,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run ``argv`` for the block, yielding the process once it is ready; stop it (and its children) at the end.

    Args:
        argv: the program and its arguments.
        ready: a probe polled until it is true, or a URL that must answer ``GET`` with 200.
        what: names the process in error messages (``"nginx on port 8080"``).
        timeout: seconds the process has to become ready.
        log: file that receives its stderr and stdout, appended to (a restart keeps the earlier output);
            a temporary file when None. Its end is quoted in every error.
        stdout: ``asyncio.subprocess.PIPE`` to read stdout (e.g. a ready line) instead of logging it.
        env: the environment (the parent's when None).
        cwd: the working directory.
        grace: seconds between SIGTERM and SIGKILL.
        interval: pause between two probes that said no.

    Raises:
        ServerProcessError: the process exited, or was not ready within ``timeout``; it is stopped first.
    """
    with log.open("a+b") if log is not None else tempfile.TemporaryFile("a+b") as output:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdout=output if stdout is None else stdout,
            stderr=output,
            env=env,
            cwd=cwd,
            start_new_session=True,  # its own process group, so the stop reaches the children it forks
        )
        try:
            try:
                async with asyncio.timeout(timeout):
                    await _until_ready(process, ready, what, interval, output)
            except TimeoutError:
                raise ServerProcessError(f"{what}: not ready within {timeout:g} s{_tail(output)}") from None
            yield process
        finally:
            await _stop(process, grace)


async def _until_ready(
    process: asyncio.subprocess.Process, ready: Ready | str, what: str, interval: float, output: IO[bytes]
) -> None:
    if isinstance(ready, str):
        async with httpx.AsyncClient(timeout=1.0) as client:  # one client: each costs ~20 ms to build
            await _until_ready(process, _answers_200(client, ready), what, interval, output)
        return
    while not await ready(process):
        if process.returncode is not None:
            raise ServerProcessError(f"{what}: exited with {process.returncode} before it was ready{_tail(output)}")
        await asyncio.sleep(interval)


def _answers_200(client: httpx.AsyncClient, url: str) -> Ready:
    async def probe(_process: asyncio.subprocess.Process) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return (await client.get(url)).status_code == 200
        return False

    return probe


async def _stop(process: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM to the process group, SIGKILL to whatever is left of it after ``grace``; always reaped."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(process.wait(), timeout=grace)
    with contextlib.suppress(ProcessLookupError):  # the leader if it lingers, or children it left behind
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def _tail(output: IO[bytes]) -> str:
    """The end of the process's output, for an error message (read without moving the file's shared offset)."""
    fd = output.fileno()
    size = os.fstat(fd).st_size
    text = os.pread(fd, _TAIL_BYTES, max(0, size - _TAIL_BYTES)).decode(errors="replace").strip()
    return f":\n{text}" if text else " (no output)"
