"""Shared plumbing of the nginx and Prometheus runners: run folders under ``.run/``, binaries, free ports, polling.

Both servers run as plain child processes of ours (never the system services), with their configuration and
data in a fresh folder under the git-ignored ``.run/`` of the repository, removed when the block ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
RUN_ROOT = REPO_ROOT / ".run"
_INSTALL_HINT = "run `sudo bash scripts/install_servers.sh` (Debian packages nginx-light and prometheus)"


class ServerProcessError(RuntimeError):
    """nginx or Prometheus could not be found, started, or reached."""


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


async def poll(
    probe: Callable[[], Awaitable[bool]],
    *,
    timeout: float,
    what: str,
    alive: Callable[[], str | None] = lambda: None,
    interval: float = 0.05,
) -> None:
    """Await ``probe()`` turning true; ``alive()`` names a reason to give up early (the process died)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await probe():
        if (dead := alive()) is not None:
            raise ServerProcessError(f"{what}: {dead}")
        if loop.time() > deadline:
            raise ServerProcessError(f"{what}: not ready within {timeout:g}s")
        await asyncio.sleep(interval)


async def stop_process(process: asyncio.subprocess.Process, grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it lingers; always reaped."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), timeout=grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def tail(path: Path, lines: int = 15) -> str:
    """The end of a log file, for error messages."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
