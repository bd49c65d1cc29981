"""Files that routers own on the worker's host: an exclusive lock beside them, and atomic rewrites.

Shared by the ``nginx`` router (its weights include) and the ``haproxy`` router (its server state file): both
rewrite a file that their server reads on its own schedule (a reload, a restart), so a reader must only ever see
the old file or the new one, and two attempts (or two workers) must never interleave their steps.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from activities.errors import ProviderRejected, ProviderUnavailable

LOCK_TIMEOUT_S = 20.0
_POLL_S = 0.02


@contextlib.asynccontextmanager
async def file_lock(path: Path, *, who: str) -> AsyncIterator[None]:
    """An exclusive lock on ``<path>.lock`` for the block, so two attempts never interleave their steps.

    It raises ``ProviderUnavailable`` (retried) when the lock stays taken, and ``ProviderRejected`` when the lock
    file cannot be created at all (a missing folder, no permission: retrying would not help).

    Args:
        path: the file the lock protects; the lock file sits beside it.
        who: the router's name, first in the error message (``nginx``, ``haproxy``).
    """
    lock_path = path.with_name(path.name + ".lock")
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a missing folder or no permission: the target's settings, not a passing fault
        raise ProviderRejected(f"{who}: cannot open the lock file {lock_path}: {exc}") from exc
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + LOCK_TIMEOUT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if loop.time() > deadline:
                    raise ProviderUnavailable(f"{who}: {lock_path} stayed locked {LOCK_TIMEOUT_S:g}s") from None
                await asyncio.sleep(_POLL_S)  # flock offers nothing to await; a short poll keeps the loop free
        yield
    finally:
        os.close(fd)  # closing releases the lock


def read_bytes(path: Path) -> bytes | None:
    """The file's bytes, or ``None`` when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_atomic(path: Path, data: bytes) -> None:
    """Readers (nginx -t, a reload, a HAProxy start) see the old file or the new one, never half of one."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
