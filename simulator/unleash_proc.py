"""A real Unleash server on its own PostgreSQL, both plain processes of ours on loopback, for tests, bench and demo.

PostgreSQL is Debian's (the binaries ``scripts/install_cluster.sh`` and ``scripts/install_unleash.sh`` install),
with a fresh data directory under ``/tmp`` (PostgreSQL refuses to run as root, so as root it runs as the
``postgres`` user, who must reach its data: the repository's ``.run/`` may not be reachable). Unleash is npm's
``unleash-server`` from ``.tools/unleash`` (``scripts/install_unleash.sh``), started by ``scripts/unleash_server.js``
with an admin and a client API token created at start-up (``INIT_ADMIN_API_TOKENS``, ``INIT_CLIENT_API_TOKENS``):
the operators' tokens, which the rollout's worker and the gateway read from their environment.

Example::

    async with run_unleash() as unleash:
        os.environ[unleash.token_env] = unleash.admin_token      # what an operator gives the worker
        spec = unleash.router_spec(flag="chat-candidate")       # {"kind": "unleash", ...} for a policy target
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import pwd
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.procs import REPO_ROOT, ServerProcessError, free_port, running

UNLEASH_DIR = REPO_ROOT / ".tools" / "unleash"
ENVIRONMENT = "development"
"""The Unleash environment the stand's flags live in (one of the two a fresh Unleash has)."""
_INSTALL_HINT = "run `bash scripts/install_unleash.sh` (unleash-server from npm, PostgreSQL from Debian)"
_PG_READY_S = 30.0
_UNLEASH_READY_S = 90.0  # migrations of a fresh database: 3 s on a quiet machine, far more on a loaded one


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise ServerProcessError(f"PostgreSQL not found: {_INSTALL_HINT}")
    return Path(found[-1]).parent


def _as_postgres() -> list[str]:
    """The prefix that runs a PostgreSQL program as a user it accepts (root is refused)."""
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


@contextlib.contextmanager
def _data_folder() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="rollouts-unleash-pg-"))
    try:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(folder, user.pw_uid, user.pw_gid)
        folder.chmod(0o700)
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass(frozen=True)
class UnleashProcess:
    """Handle on a running Unleash: its URL, the tokens created at start-up, and router specs for it."""

    url: str
    admin_token: str
    client_token: str
    token_env: str
    """The environment variable the router spec names for the admin token (unique per server)."""

    def router_spec(self, *, flag: str, **overrides: Any) -> dict[str, Any]:
        """The ``router`` part of a target that drives ``flag`` on this Unleash."""
        return {
            "kind": "unleash",
            "url": self.url,
            "token_env": self.token_env,
            "environment": ENVIRONMENT,
            "flag": flag,
            **overrides,
        }


async def _run_checked(argv: list[str], what: str) -> None:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise ServerProcessError(f"{what} failed ({process.returncode}): {out.decode(errors='replace')[-2000:]}")


@contextlib.asynccontextmanager
async def run_postgres() -> AsyncIterator[str]:
    """A fresh PostgreSQL on a free loopback port with a database ``unleash``; yields its URL."""
    bin_dir = _pg_bin()
    with _data_folder() as folder:
        data = folder / "data"
        await _run_checked(
            [*_as_postgres(), str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync"],
            "initdb",
        )
        port = free_port()
        argv = [
            *_as_postgres(),
            str(bin_dir / "postgres"),
            "-D", str(data),
            "-h", "127.0.0.1",
            "-p", str(port),
            "-k", str(folder),
            "-c", "fsync=off",  # a test stand's database: throwaway, so no durability to pay for
            "-c", "synchronous_commit=off",
        ]  # fmt: skip
        url = f"postgres://postgres@127.0.0.1:{port}"

        async def ready(_process: asyncio.subprocess.Process) -> bool:
            probe = await asyncio.create_subprocess_exec(
                str(bin_dir / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(port)
            )
            return await probe.wait() == 0

        async with running(argv, ready=ready, what=f"postgres on port {port}", timeout=_PG_READY_S, interval=0.1):
            await _run_checked(
                [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "unleash"],
                "createdb unleash",
            )
            yield f"{url}/unleash"


@contextlib.asynccontextmanager
async def run_unleash() -> AsyncIterator[UnleashProcess]:
    """Unleash on a free loopback port over a fresh PostgreSQL, until the block ends."""
    node = shutil.which("node")
    if node is None or not (UNLEASH_DIR / "node_modules" / "unleash-server").is_dir():
        raise ServerProcessError(f"unleash-server not installed in {UNLEASH_DIR}: {_INSTALL_HINT}")
    admin = f"*:*.{secrets.token_hex(16)}"
    client = f"default:{ENVIRONMENT}.{secrets.token_hex(16)}"
    async with run_postgres() as database:
        port = free_port()
        env = {
            **os.environ,
            "NODE_PATH": str(UNLEASH_DIR / "node_modules"),
            "DATABASE_URL": database,
            "DATABASE_SSL": "false",
            "HTTP_HOST": "127.0.0.1",
            "HTTP_PORT": str(port),
            "INIT_ADMIN_API_TOKENS": admin,
            "INIT_CLIENT_API_TOKENS": client,
            "LOG_LEVEL": "warn",
            "CHECK_VERSION": "false",
            "SEND_TELEMETRY": "false",
        }
        url = f"http://127.0.0.1:{port}"
        log = Path(tempfile.gettempdir()) / f"rollouts-unleash-{port}.log"
        async with running(
            [node, str(REPO_ROOT / "scripts" / "unleash_server.js")],
            ready=f"{url}/health",
            what=f"unleash on port {port}",
            timeout=_UNLEASH_READY_S,
            env=env,
            log=log,
            interval=0.2,
        ):
            try:
                yield UnleashProcess(
                    url=url, admin_token=admin, client_token=client, token_env=f"UNLEASH_ADMIN_TOKEN_{port}"
                )
            finally:
                log.unlink(missing_ok=True)
