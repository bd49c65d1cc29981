"""``python -m bench.rollback_nginx``: rollback latency, abort signal -> traffic observed at 100% stable.

For each router, 30 rollouts (by default) on a real Temporal dev server: start a rollout whose only step puts the
candidate at 50%, wait until the workflow reports 50%, then send the ``abort`` signal while probes watch what
the traffic really does. The latency of one rollback is the time from sending the signal to the start of the
first probe after which every probe saw stable (so a straggling candidate answer pushes it later).

* ``nginx``: probes are real requests through nginx (8 concurrent loops, fast model servers so a probe takes
  about a millisecond): the rollback is complete when nginx routes every new request to stable.
* ``haproxy``: the same probes through a real HAProxy whose weights move over its admin socket (no reload).
* ``unleash``: the flag router on a real Unleash server (PostgreSQL behind it); probes are requests from varied
  users through the gateway that evaluates the flag with Unleash's Python SDK, which polls the server every
  second, so the observed figure includes up to a second of the SDK's poll; the record's rollback column is the
  router's own verified read-back of the disabled flag.
* ``http``: the simulator's router (``simulator.testing.run_simulator``); probes are ``GET`` of the route, the
  figure the same workflow reaches when the router is a bare HTTP API.

Prints a Markdown table (p50 / p99 / max in milliseconds, with the abort signal's own round trip to the end of
the workflow task that handled it as the reference every router shares) and writes the raw figures to ``.run/bench/``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHandle

from simulator.flag_gateway import FlagGateway, run_flag_gateway
from simulator.policies import write_lab_policy
from simulator.procs import RUN_ROOT, run_folder
from simulator.stand import Stand, run_stand
from simulator.testing import Simulator, run_model_server, run_simulator
from simulator.unleash_proc import run_unleash
from tests.cluster.workers import worker_process
from tests.servers import dev_server
from tests.workflows.helpers import rollout_worker, start_rollout, status, wait_until
from workers.client import connect
from workers.logging import configure_logging
from workers.settings import Settings

_INLINE = False  # ``--inline``: the worker inside the benchmark's process, sharing its event loop with the probes
_PROBES = 8
_TAIL_S = 0.3  # keep probing this long after the workflow finished, to catch straggling candidate answers
_SDK_TAIL_S = 2.5  # the flag gateway's SDK polls every second: its last candidate answer may come a second later

_STAND_ROUTERS: dict[str, Literal["nginx", "haproxy"]] = {"nginx": "nginx", "haproxy": "haproxy"}
"""Routers measured on the real stand (probes are requests through them); ``http`` is the simulator's router."""

Probe = Callable[[httpx.AsyncClient], Awaitable[bool]]
"""One observation: True when it saw the candidate."""


@dataclass
class Observations:
    """Probe results as (start time, saw candidate), from several concurrent loops."""

    seen: list[tuple[float, bool]] = field(default_factory=list)

    def stable_since(self, after: float) -> float | None:
        """Start of the first probe after ``after`` from which on every probe saw stable."""
        last_candidate = max((t for t, candidate in self.seen if candidate), default=after)
        later = [t for t, candidate in self.seen if t > max(last_candidate, after)]
        return min(later) if later else None


async def _watch(probe: Probe, stop: asyncio.Event, out: Observations) -> None:
    async with httpx.AsyncClient(timeout=5.0) as client:
        while not stop.is_set():
            started = time.monotonic()
            try:
                out.seen.append((started, await probe(client)))
            except httpx.HTTPError:
                out.seen.append((started, True))  # an error is not "100% stable"


def _spec(service: str) -> dict[str, Any]:
    """A rollout on the operators' ``bench`` target (the stand's nginx, or the simulator's router)."""
    return {
        "service": service,
        "requested_by": "bench",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "target": "bench",
        "steps": [{"weight": 50, "observe": "1h"}],
        "analysis_interval": "30m",  # no analysis during the measurement: only the rollback is timed
    }


async def _signal_handled(handle: WorkflowHandle[Any, Any], sent: float) -> float:
    """Seconds from sending ``abort`` (wall clock) to the end of the workflow task that handled it.

    The reference every router shares: the signal's trip to the server, the worker's poll and the rollout's own
    processing of the task, before any router is called. Read from the history's event times (same machine clock).
    """
    signaled = False
    async for event in handle.fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signaled = True
        elif signaled and event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
            return event.event_time.ToDatetime(tzinfo=UTC).timestamp() - sent
    raise RuntimeError("no workflow task completed after the abort signal: measurement invalid")


async def _one_rollback(
    client: Client, task_queue: str, spec: dict[str, Any], probe: Probe, tail: float = _TAIL_S
) -> tuple[float, float, float]:
    """(observed latency, the record's own rollback duration, the signal's round trip), in seconds."""
    handle = await start_rollout(client, spec, task_queue)

    async def at_50() -> bool:
        return (await status(handle)).weight == 50

    await wait_until(at_50, timeout=30, interval=0.02, what="the step at 50%")
    stop, out = asyncio.Event(), Observations()
    watchers = [asyncio.create_task(_watch(probe, stop, out)) for _ in range(_PROBES)]

    async def candidate_seen() -> bool:  # proof the probes watch the candidate's share before the abort
        return any(candidate for _, candidate in out.seen)

    await wait_until(candidate_seen, timeout=10, interval=0.01, what="probes seeing the candidate")
    aborted, sent = time.monotonic(), time.time()
    await handle.signal("abort", {"by": "bench", "reason": "rollback latency"})
    result = await handle.result()
    await asyncio.sleep(tail)
    stop.set()
    await asyncio.gather(*watchers)
    since = out.stable_since(aborted)
    if since is None or not any(candidate for t, candidate in out.seen if t < aborted):
        raise RuntimeError("the probes did not see a 50% split then stable: measurement invalid")
    rollback = result.record.rollback
    assert rollback is not None and rollback.duration_seconds is not None
    return since - aborted, rollback.duration_seconds, await _signal_handled(handle, sent)


def _stand_probe(stand: Stand) -> Probe:
    async def probe(http: httpx.AsyncClient) -> bool:
        response = await http.post(stand.answer_url, json={"prompt": "bench"})
        return bool(response.json()["version"] == stand.candidate.version)

    return probe


def _http_probe(sim: Simulator, service: str) -> Probe:
    async def probe(http: httpx.AsyncClient) -> bool:
        return bool((await http.get(sim.routes_url(service))).json()["candidate"] > 0)

    return probe


def _gateway_probe(gateway: FlagGateway) -> Probe:
    users = itertools.cycle(f"user-{i}" for i in range(64))  # at 50%, about half of them on the candidate

    async def probe(http: httpx.AsyncClient) -> bool:
        response = await http.post(gateway.answer_url, json={"prompt": "bench"}, headers={"X-User-Id": next(users)})
        return bool(response.json()["version"] == "v2")

    return probe


@contextlib.asynccontextmanager
async def _worker(client: Client, task_queue: str, policy: Path) -> AsyncIterator[None]:
    """The worker under test: ``python -m workers`` in its own process (as operators run it), unless ``--inline``.

    In its own process the worker's event loop is not shared with the probes' loops, as in production; inline (the
    earlier figures) it is, which adds the probes' work to every workflow task and activity of the rollback.
    """
    if _INLINE:
        async with rollout_worker(client, task_queue, policy_path=policy):
            yield
        return
    address = client.service_client.config.target_host
    log = RUN_ROOT / "bench" / f"worker-{task_queue}.log"
    async with worker_process(address, task_queue, log, env={"ROLLOUTS_POLICY_PATH": str(policy)}):
        yield


async def _run_unleash(
    client: Client, task_queue: str, policy: Path, rollouts: int
) -> list[tuple[float, float, float]]:
    figures: list[tuple[float, float, float]] = []
    fast: dict[str, Any] = {"latency_p50_ms": 0.5, "latency_p95_ms": 1.0, "error_rate": 0.0}
    async with (
        run_unleash() as unleash,
        run_simulator() as sim,
        run_model_server(version="v1", seed=1, **fast) as stable,
        run_model_server(version="v2", seed=2, **fast) as candidate,
    ):
        os.environ[unleash.token_env] = unleash.admin_token
        target = {"router": unleash.router_spec(flag="{service}-candidate"), "metrics": sim.target()["metrics"]}
        write_lab_policy(policy, {"bench": target})
        async with _worker(client, task_queue, policy):
            for _ in range(rollouts):
                service = f"bench-{uuid.uuid4().hex[:8]}"
                async with run_flag_gateway(
                    unleash_url=unleash.url,
                    client_token=unleash.client_token,
                    flag=f"{service}-candidate",
                    stable_url=stable.url,
                    candidate_url=candidate.url,
                ) as gateway:
                    figures.append(
                        await _one_rollback(
                            client, task_queue, _spec(service), _gateway_probe(gateway), tail=_SDK_TAIL_S
                        )
                    )
    return figures


async def _run_router(kind: str, client: Client, rollouts: int) -> list[tuple[float, float, float]]:
    task_queue = f"bench-{uuid.uuid4().hex[:8]}"
    figures: list[tuple[float, float, float]] = []
    fast = {"latency_p50_ms": 0.5, "latency_p95_ms": 1.0, "error_rate": 0.0}
    policy = RUN_ROOT / "bench" / f"policy-{kind}.json"
    front = _STAND_ROUTERS.get(kind)
    if kind == "unleash":
        return await _run_unleash(client, task_queue, policy, rollouts)
    if front is not None:
        async with run_stand(stable=fast, candidate=fast, router=front) as stand:
            write_lab_policy(policy, {"bench": stand.target()})
            async with _worker(client, task_queue, policy):
                for _ in range(rollouts):
                    spec = _spec(f"bench-{uuid.uuid4().hex[:8]}")
                    figures.append(await _one_rollback(client, task_queue, spec, _stand_probe(stand)))
    else:
        async with run_simulator() as sim:
            write_lab_policy(policy, {"bench": sim.target()})
            async with _worker(client, task_queue, policy):
                for _ in range(rollouts):
                    service = f"bench-{uuid.uuid4().hex[:8]}"
                    figures.append(await _one_rollback(client, task_queue, _spec(service), _http_probe(sim, service)))
    return figures


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def _row(kind: str, figures: list[tuple[float, float, float]]) -> str:
    observed = [1000 * o for o, _, _ in figures]
    recorded = [1000 * r for _, r, _ in figures]
    signal = [1000 * s for _, _, s in figures]
    return (
        f"| {kind} | {len(figures)} | {_quantile(observed, 0.5):.0f} | {_quantile(observed, 0.99):.0f} | "
        f"{max(observed):.0f} | {statistics.median(recorded):.0f} | "
        f"{_quantile(signal, 0.5):.0f} | {_quantile(signal, 0.99):.0f} |"
    )


async def main(rollouts: int, routers: list[str]) -> None:
    configure_logging("WARNING")
    out_dir = RUN_ROOT / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    with run_folder("bench-temporal") as data_dir:
        async with dev_server(data_dir) as server:
            client = await connect(Settings(address=server.address, namespace=server.namespace))
            results = {kind: await _run_router(kind, client, rollouts) for kind in routers}
    print(
        "| router | rollouts | p50 ms | p99 ms | max ms | record's rollback p50 ms "
        "| signal handled p50 ms | signal handled p99 ms |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind, figures in results.items():
        print(_row(kind, figures))
    (out_dir / "rollback_nginx.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.rollback_nginx", description=__doc__)
    parser.add_argument("--rollouts", type=int, default=30)
    parser.add_argument(
        "--routers", nargs="+", default=["nginx", "http"], choices=["nginx", "haproxy", "http", "unleash"]
    )
    parser.add_argument(
        "--inline", action="store_true", help="run the worker in this process, beside the probes (earlier figures)"
    )
    args = parser.parse_args()
    _INLINE = args.inline
    asyncio.run(main(args.rollouts, args.routers))
