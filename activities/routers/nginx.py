"""Router ``nginx``: weights in a ``split_clients`` include file, tested, reloaded gracefully and verified.

One weight change is: take the file lock, write the include atomically (temporary file + rename), run
``nginx -t``, and if the test fails put the previous bytes back and raise ``ProviderRejected`` with nginx's own
message, so nginx is never left with a configuration it cannot load. Then reload (SIGHUP to the master named
by ``pid_file``, else ``nginx -s reload``) and wait until the new configuration is seen serving: the
``verify_url`` answers with the new revision, and (with ``pid_file``) the master runs a new generation of
workers while every old worker has stopped accepting connections.

A file edited by an outside hand is refused for any forward move, a mirror switched on included (someone may be
fixing something by hand, and we cannot tell what they meant), but a move to candidate 0% without a mirror always
rewrites it: stable at 100% is the state users need back, and a valid file of ours is the way to get there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from pathlib import Path

import httpx

from activities.errors import ProviderRejected, ProviderUnavailable, RouterNotConverged
from activities.routers.files import file_lock, read_bytes, write_atomic
from activities.routers.nginx_include import IncludeError, Weights, parse, parse_served, render
from models.activities import RouterState
from models.spec import NginxRouter

_COMMAND_TIMEOUT_S = 20.0
_POLL_S = 0.02


class NginxTrafficRouter:
    """A ``TrafficRouter`` over a local nginx (the worker must run on the nginx host, or share its files)."""

    def __init__(self, spec: NginxRouter, http: httpx.AsyncClient | None = None) -> None:
        # ``http`` is unused on purpose: verification needs fresh connections (a pooled keep-alive connection
        # may still reach an old worker generation that is draining after the reload).
        del http
        self._spec = spec
        self._path = Path(spec.config_path)

    async def apply(self, state: RouterState) -> None:
        """Write, test, reload and verify; a no-op when nginx already serves these weights."""
        try:
            text, revision = render(self._spec, state)
        except ValueError as exc:
            raise ProviderRejected(f"nginx: {exc}") from None
        async with file_lock(self._path, who="nginx"):
            previous = await asyncio.to_thread(read_bytes, self._path)
            if (state.candidate > 0 or state.mirror) and previous is not None:
                await self._refuse_foreign(previous)
            if previous == text.encode() and self._spec.verify_url is not None:
                served = await self._served_or_none()
                if served is not None and served.revision == revision:
                    return
            await asyncio.to_thread(write_atomic, self._path, text.encode())
            problem = await self._test()
            if problem is not None:
                await asyncio.to_thread(_restore, self._path, previous)
                raise ProviderRejected(f"nginx -t refused the new weights (previous file restored): {problem}")
            workers = self._workers()
            await self._reload()
            await self._await_serving(revision, workers)

    async def read(self) -> RouterState:
        """What nginx serves (``verify_url``), else what the include file nginx loaded holds."""
        if self._spec.verify_url is not None:
            return (await self._served()).state
        data = await asyncio.to_thread(read_bytes, self._path)
        if data is None:
            raise ProviderRejected(f"nginx: {self._path} does not exist")
        try:
            return parse(self._spec, data.decode(errors="replace")).state
        except IncludeError as exc:
            raise ProviderRejected(f"nginx: {self._path} cannot be read: {exc}") from None

    # ------------------------------------------------------------------ steps of apply

    async def _refuse_foreign(self, previous: bytes) -> None:
        try:
            parse(self._spec, previous.decode(errors="replace"))
        except IncludeError as exc:
            problem = await self._test()
            verdict = f"nginx -t fails on it: {problem}" if problem else "nginx -t still accepts it"
            raise ProviderRejected(
                f"nginx: {self._path} was changed outside the rollout ({exc}; {verdict}); refusing to move "
                "traffic forward over it. A rollback (candidate 0%) rewrites it with a valid file."
            ) from None  # the message says it all; the record shows the innermost cause

    def _nginx(self, *args: str) -> list[str]:
        prefix = ["-p", self._spec.prefix] if self._spec.prefix else []
        return [self._spec.nginx_bin, "-e", "stderr", *prefix, "-c", self._spec.nginx_conf, *args]

    async def _test(self) -> str | None:
        """``None`` when ``nginx -t`` accepts the configuration, else nginx's message."""
        code, output = await _run(self._nginx("-t", "-q"))
        return None if code == 0 else (output.strip() or f"nginx -t exited with {code}")

    async def _reload(self) -> None:
        if self._spec.pid_file is not None:
            pid = self._master_pid()
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError as exc:
                raise ProviderUnavailable(f"nginx: master pid {pid} from {self._spec.pid_file} is not running") from exc
            return
        code, output = await _run(self._nginx("-s", "reload"))
        if code != 0:
            raise ProviderUnavailable(f"nginx -s reload failed ({code}): {output.strip()}")

    async def _await_serving(self, revision: str, old_workers: set[int] | None) -> None:
        """Wait until the new configuration serves, else raise ``RouterNotConverged`` (retried).

        Serving means: the verify URL answers with the new revision, and (with a pid file) the master runs a new
        worker generation while every old worker has stopped accepting connections.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._spec.reload_timeout.total_seconds()
        seen = "nothing yet"
        while loop.time() < deadline:
            served_ok = generation_ok = True
            if self._spec.verify_url is not None:
                served = await self._served_or_none()
                served_ok = served is not None and served.revision == revision
                seen = f"revision {served.revision}" if served else "no answer"
            if old_workers is not None:
                current = self._workers() or set()
                accepting = {pid for pid in current & old_workers if not _shutting_down(pid)}
                generation_ok = bool(current - old_workers) and not accepting
                if not generation_ok:
                    seen = f"old workers still accepting: {sorted(accepting)}, new: {sorted(current - old_workers)}"
            if served_ok and generation_ok:
                return
            await asyncio.sleep(_POLL_S)
        raise RouterNotConverged(
            f"nginx: revision {revision} not serving {self._spec.reload_timeout.total_seconds():g}s after the "
            f"reload (saw {seen}); see nginx's error log"
        )

    # ------------------------------------------------------------------ what nginx runs

    async def _served(self) -> Weights:
        assert self._spec.verify_url is not None
        url = self._spec.verify_url
        try:
            async with httpx.AsyncClient(timeout=2.0) as client:
                response = await client.get(url, headers={"Connection": "close"})
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(f"nginx: GET {url}: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise ProviderUnavailable(f"nginx: GET {url}: HTTP {response.status_code}: {response.text[:200]}")
        try:
            return parse_served(response.text)
        except IncludeError as exc:
            raise ProviderRejected(f"nginx: GET {url}: {exc}") from None

    async def _served_or_none(self) -> Weights | None:
        try:
            return await self._served()
        except ProviderUnavailable:
            return None

    def _master_pid(self) -> int:
        assert self._spec.pid_file is not None
        try:
            return int(Path(self._spec.pid_file).read_text().strip())
        except (OSError, ValueError) as exc:
            raise ProviderUnavailable(f"nginx: no master pid in {self._spec.pid_file}: {exc}") from exc

    def _workers(self) -> set[int] | None:
        """The master's worker pids (from /proc), or ``None`` when there is no pid file to start from."""
        if self._spec.pid_file is None:
            return None
        return _children(self._master_pid())


def _shutting_down(pid: int) -> bool:
    """An old worker that has closed its listening sockets says so in its process title (or is gone)."""
    try:
        return b"shutting down" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def _children(pid: int) -> set[int]:
    children: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                children.add(int(entry.name))
    return children


async def _run(args: list[str]) -> tuple[int, str]:
    """Run a command without blocking the event loop; its exit code and combined output."""
    try:
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
        )
    except FileNotFoundError as exc:
        raise ProviderRejected(f"nginx: {args[0]} not found: {exc}") from exc
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=_COMMAND_TIMEOUT_S)
    except TimeoutError as exc:
        process.kill()
        await process.wait()
        raise ProviderUnavailable(f"nginx: {' '.join(args)} took longer than {_COMMAND_TIMEOUT_S:g}s") from exc
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


def _restore(path: Path, previous: bytes | None) -> None:
    if previous is None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        write_atomic(path, previous)
