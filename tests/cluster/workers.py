"""Real worker processes (``python -m workers``) for the cluster tests, configured as an operator would."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from simulator.procs import free_port, running
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


BUILD = ROOT / "scripts" / "build_worker_image.sh"
MANIFEST = ROOT / "deploy" / "kubernetes.yaml"
IMAGE = "durable-rollouts-worker:dev"


def manifest_env(text: str | None = None) -> dict[str, str]:
    """The worker's settings as deploy/kubernetes.yaml's ConfigMap sets them (every ``KEY: "value"`` under data)."""
    data = (text if text is not None else MANIFEST.read_text()).split("data:", 1)[1].split("---", 1)[0]
    return dict(re.findall(r'^  ([A-Z_]+): "([^"]*)"', data, flags=re.MULTILINE))


def manifest_mount(name: str, text: str | None = None) -> str:
    """Where the manifest's Deployment mounts the volume ``name`` in the worker's container."""
    text = text if text is not None else MANIFEST.read_text()
    found = re.search(r"\{name: " + re.escape(name) + r", mountPath: ([^,}]+)", text)
    assert found is not None, f"deploy/kubernetes.yaml mounts no volume {name!r}"
    return found.group(1).strip()


async def _docker(*args: str, check: bool = True) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "docker", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    text = output.decode(errors="replace")
    if check and process.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args[:2])} failed ({process.returncode}): {text[-2000:]}")
    return process.returncode or 0, text


async def build_image(tag: str = IMAGE) -> str:
    """The worker image, built by the script CI and operators use (seconds when nothing changed)."""
    process = await asyncio.create_subprocess_exec(
        "bash", str(BUILD), tag, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=ROOT
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"{BUILD} failed ({process.returncode}):\n{output.decode(errors='replace')[-3000:]}")
    return tag


class ImageWorker:
    """One worker container of the built image, run as the Kubernetes manifest runs it, on the host's network."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self._argv = argv
        self._log = log

    async def start(self, timeout: float = 120.0) -> None:
        """Create and start the container, or start it again after a kill, and wait for the readiness probe.

        A worker that exits before it polls (its start-up calls fail while a history instance's shards move) is
        started again, as Kubernetes restarts a pod's container (``restartPolicy: Always``), until the deadline.
        """
        code, _ = await _docker("container", "inspect", self.name, check=False)
        await _docker(*(["start", self.name] if code == 0 else self._argv))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        # The manifest's readiness probe: the file exists while the worker polls.
        while (await _docker("exec", self.name, "test", "-f", "/tmp/worker-ready", check=False))[0] != 0:
            _, state = await _docker("container", "inspect", "-f", "{{.State.Status}}", self.name)
            if loop.time() > deadline:
                raise AssertionError(f"worker container {self.name} not ready ({state.strip()}):\n{await self.logs()}")
            if state.strip() == "exited":
                await _docker("start", self.name)
            await asyncio.sleep(0.2)

    async def kill(self) -> None:
        """SIGKILL, as a node failure or an OOM kill delivers it: no drain."""
        await _docker("kill", "--signal", "KILL", self.name)
        await _docker("wait", self.name, check=False)

    async def logs(self) -> str:
        """Everything the container wrote, all its starts included."""
        return (await _docker("logs", self.name, check=False))[1]

    async def remove(self) -> None:
        """SIGTERM and the drain (docker stop), then the container goes; its output stays in the log file."""
        await _docker("stop", "--time", "10", self.name, check=False)
        self._log.write_text(await self.logs())
        await _docker("rm", "--force", self.name, check=False)


@contextlib.asynccontextmanager
async def image_worker(
    address: str, task_queue: str, log: Path, policy: Path, env: Mapping[str, str] | None = None
) -> AsyncIterator[ImageWorker]:
    """A worker from the built image, started as deploy/kubernetes.yaml starts one, stopped at the end.

    The manifest's ConfigMap is its environment, changed only where loopback differs from a cluster: the frontend's
    address, plaintext, this test's task queue, a short drain, and a free metrics port (host networking shares
    ports). ``policy`` (a file) becomes ``default.json`` of a directory mounted read-only where the manifest mounts the
    policy ConfigMap. The root filesystem is read-only with a small /tmp, the user unprivileged, no capabilities.
    """
    tag = await build_image()
    log.parent.mkdir(parents=True, exist_ok=True)
    folder = log.parent / f"{log.stem}-policy"
    folder.mkdir()
    (folder / "default.json").write_bytes(policy.read_bytes())
    folder.chmod(0o755)  # a ConfigMap volume is world-readable; the container's user is not the test's
    (folder / "default.json").chmod(0o644)
    settings = {
        **manifest_env(),
        "TEMPORAL_ADDRESS": address,
        "TEMPORAL_TLS": "false",
        "ROLLOUTS_TASK_QUEUE": task_queue,
        "WORKER_GRACEFUL_SHUTDOWN_SECONDS": "2",
        "WORKER_METRICS_BIND": f"127.0.0.1:{free_port()}",
        **(env or {}),
    }
    name = f"rollouts-worker-{uuid.uuid4().hex[:12]}"
    argv = [
        "run", "--detach", "--name", name, "--network", "host",
        "--user", "10001", "--read-only", "--tmpfs", "/tmp:size=16m",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--volume", f"{folder}:{manifest_mount('policy')}:ro",
        *(arg for key, value in settings.items() for arg in ("--env", f"{key}={value}")),
        tag,
    ]  # fmt: skip
    worker = ImageWorker(name, argv, log)
    try:
        await worker.start()
        yield worker
    finally:
        await worker.remove()
