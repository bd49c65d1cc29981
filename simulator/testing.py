"""Run the stand-ins (simulator, model servers) as real subprocesses on free loopback ports, for tests.

Subprocesses rather than in-process servers: the code under test (Temporal activities, workers) then talks to
the world over real sockets exactly as in production, and a test can kill the world like a real outage.

Example::

    async with run_simulator(knobs={"rps": 5000, "v2": {"error_rate": 0.05}}) as sim:
        await sim.set_routes("chat", stable=90, candidate=10)
        await sim.advance(60)  # a minute of synthetic traffic, instantly
        counters = await sim.metrics("chat", "v2")
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from models.counters import Counters
from simulator.eval_suite import suite_entry
from simulator.procs import REPO_ROOT, running

_READY_TIMEOUT_S = 15.0
_STOP_TIMEOUT_S = 5.0


class StandInError(RuntimeError):
    """A stand-in answered with an unexpected error (one that fails to start raises ``ServerProcessError``)."""


def _child_env() -> dict[str, str]:
    """The parent's environment with the repo root importable, whatever the test's working directory."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextlib.asynccontextmanager
async def _run_ready_process(args: list[str]) -> AsyncIterator[dict[str, Any]]:
    """Run ``python <args>`` until the block ends and yield the JSON ready line it prints once its ports are bound."""
    announced: dict[str, Any] = {}

    async def ready(process: asyncio.subprocess.Process) -> bool:
        assert process.stdout is not None
        line = await process.stdout.readline()  # empty at EOF: the process died, which `running` then reports
        if line:
            announced.update(json.loads(line))
        return bool(line)

    async with running(
        [sys.executable, *args],
        ready=ready,
        what=f"python {' '.join(args[:2])}",
        timeout=_READY_TIMEOUT_S,
        stdout=asyncio.subprocess.PIPE,
        env=_child_env(),
        cwd=REPO_ROOT,
        grace=_STOP_TIMEOUT_S,
    ):
        yield announced


async def _checked_json(response: httpx.Response) -> Any:
    if response.is_error:
        raise StandInError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}"
        )
    return response.json()


@dataclass
class Simulator:
    """Handle on a running ``python -m simulator``: URLs plus async helpers for the control API."""

    control_url: str
    stable_url: str
    candidate_url: str
    stable_version: str
    candidate_version: str
    pid: int
    client: httpx.AsyncClient = field(repr=False)

    def routes_url(self, service: str) -> str:
        """Where a router client PUTs/GETs the weights of ``service``."""
        return f"{self.control_url}/routes/{service}"

    def metrics_url(self, service: str) -> str:
        """Where a metrics client GETs counters (add ``?version=v``)."""
        return f"{self.control_url}/metrics/{service}"

    def target(self) -> dict[str, Any]:
        """The simulator as an operators' target: one route and counters per service, through ``{service}``."""
        return {
            "description": "the simulator's HTTP router and counters",
            "router": {"kind": "http", "url": self.routes_url("{service}")},
            "metrics": {"kind": "http-json", "url": self.metrics_url("{service}")},
            "url_prefixes": [self.stable_url, self.candidate_url],
        }

    def eval_target(self) -> dict[str, Any]:
        """``target()`` with the shipped eval suite, graded by the control port's ``/grade``."""
        return {**self.target(), "eval_suites": suite_entry(f"{self.control_url}/grade")}

    async def set_knobs(self, version: str, **knobs: Any) -> dict[str, Any]:
        """Partially update a version's knobs (``"stable"`` / ``"candidate"`` work as version names)."""
        result: dict[str, Any] = await _checked_json(
            await self.client.put(f"{self.control_url}/knobs/{version}", json=knobs)
        )
        return result

    async def set_rps(self, rps: float) -> None:
        """Change the modelled requests per second of every service."""
        await _checked_json(await self.client.put(f"{self.control_url}/knobs", json={"rps": rps}))

    async def knobs(self) -> dict[str, Any]:
        """All knobs: ``{"rps": ..., "versions": {version: {...}}}``."""
        result: dict[str, Any] = await _checked_json(await self.client.get(f"{self.control_url}/knobs"))
        return result

    async def set_faults(self, **faults: bool | float) -> dict[str, Any]:
        """Set injected faults, e.g. ``router_down=True`` or ``metrics_down=False`` (unset ones are kept)."""
        result: dict[str, Any] = await _checked_json(await self.client.put(f"{self.control_url}/faults", json=faults))
        return result

    async def routes(self, service: str) -> dict[str, float]:
        """Current weights ``{"stable": ..., "candidate": ...}`` (with ``mirror`` and ``mirrored`` while on)."""
        result: dict[str, float] = await _checked_json(await self.client.get(self.routes_url(service)))
        return result

    async def set_routes(
        self, service: str, *, stable: float, candidate: float, mirror: bool = False
    ) -> dict[str, float]:
        """Set weights (and the mirror) directly, as the router activity would."""
        body: dict[str, Any] = {"stable": stable, "candidate": candidate} | ({"mirror": True} if mirror else {})
        result: dict[str, float] = await _checked_json(await self.client.put(self.routes_url(service), json=body))
        return result

    async def calls(self, service: str | None = None) -> list[dict[str, Any]]:
        """Applied route changes in order: ``[{"seq", "service", "stable", "candidate", "at"}]``."""
        params = {"service": service} if service is not None else None
        result: list[dict[str, Any]] = await _checked_json(
            await self.client.get(f"{self.control_url}/calls", params=params)
        )
        return result

    async def metrics(self, service: str, version: str) -> Counters:
        """Cumulative counters of ``version`` in ``service``."""
        response = await self.client.get(self.metrics_url(service), params={"version": version})
        return Counters.model_validate(await _checked_json(response))

    async def reset(self, version: str) -> None:
        """Zero a version's counters (simulates its serving process restarting)."""
        await _checked_json(await self.client.post(f"{self.control_url}/reset/{version}"))

    async def advance(self, seconds: float) -> None:
        """Fast-forward synthetic traffic by ``seconds`` without waiting."""
        await _checked_json(await self.client.post(f"{self.control_url}/clock/advance", json={"seconds": seconds}))


@contextlib.asynccontextmanager
async def run_simulator(
    *,
    stable_version: str = "v1",
    candidate_version: str = "v2",
    knobs: dict[str, Any] | None = None,
    seed: int = 0,
) -> AsyncIterator[Simulator]:
    """Run ``python -m simulator`` on free loopback ports for the duration of the block.

    Args:
        stable_version: version name served as stable.
        candidate_version: version name served as candidate.
        knobs: initial knobs, shape ``{"rps": 200, "versions": {"v2": {"error_rate": 0.05}}}`` (versions may
            also be top-level keys; ``"stable"`` / ``"candidate"`` stand for the version names).
        seed: seed of the synthetic traffic.
    """
    with tempfile.TemporaryDirectory(prefix="simulator-") as tmp:
        args = [
            "-m",
            "simulator",
            "--host",
            "127.0.0.1",
            "--control-port",
            "0",
            "--stable-port",
            "0",
            "--candidate-port",
            "0",
            "--stable-version",
            stable_version,
            "--candidate-version",
            candidate_version,
            "--seed",
            str(seed),
        ]
        if knobs is not None:
            knobs_path = Path(tmp) / "knobs.json"
            knobs_path.write_text(json.dumps(knobs))
            args += ["--knobs", str(knobs_path)]
        async with _run_ready_process(args) as ready, httpx.AsyncClient(timeout=10.0) as client:
            yield Simulator(
                control_url=ready["control_url"],
                stable_url=ready["stable_url"],
                candidate_url=ready["candidate_url"],
                stable_version=ready["stable_version"],
                candidate_version=ready["candidate_version"],
                pid=ready["pid"],
                client=client,
            )


@dataclass
class ModelServer:
    """Handle on a running ``python -m simulator.model_server``."""

    url: str
    version: str
    port: int
    pid: int
    client: httpx.AsyncClient = field(repr=False)

    @property
    def answer_url(self) -> str:
        """Where clients POST requests."""
        return f"{self.url}/v1/answer"

    @property
    def metrics_url(self) -> str:
        """Where Prometheus scrapes."""
        return f"{self.url}/metrics"

    async def counters(self) -> Counters:
        """Cumulative counters of the requests served so far."""
        return Counters.model_validate(await _checked_json(await self.client.get(f"{self.url}/counters")))

    async def metrics_text(self) -> str:
        """The Prometheus exposition body."""
        response = await self.client.get(self.metrics_url)
        response.raise_for_status()
        return response.text

    async def set_knobs(self, **knobs: Any) -> dict[str, Any]:
        """Partially update this version's knobs (e.g. ``latency_p95_ms=80`` to regress mid-run)."""
        result: dict[str, Any] = await _checked_json(await self.client.put(f"{self.url}/knobs", json=knobs))
        return result


@contextlib.asynccontextmanager
async def run_model_server(
    *,
    version: str = "v2",
    error_rate: float = 0.01,
    latency_p50_ms: float = 20.0,
    latency_p95_ms: float = 50.0,
    quality_mean: float = 0.85,
    quality_sd: float = 0.1,
    disagreement: float = 0.0,
    seed: int = 0,
    port: int = 0,
) -> AsyncIterator[ModelServer]:
    """Run ``python -m simulator.model_server`` on a loopback port (free one by default) for the block."""
    args = [
        "-m",
        "simulator.model_server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--version",
        version,
        "--error-rate",
        str(error_rate),
        "--latency-p50-ms",
        str(latency_p50_ms),
        "--latency-p95-ms",
        str(latency_p95_ms),
        "--quality-mean",
        str(quality_mean),
        "--quality-sd",
        str(quality_sd),
        "--disagreement",
        str(disagreement),
        "--seed",
        str(seed),
    ]
    async with _run_ready_process(args) as ready, httpx.AsyncClient(timeout=10.0) as client:
        yield ModelServer(
            url=ready["url"], version=ready["version"], port=ready["port"], pid=ready["pid"], client=client
        )
