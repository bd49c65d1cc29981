"""Fifty rollouts on a real cluster (PostgreSQL, two history and two matching instances, three workers: one a
container of the built worker image, run as deploy/kubernetes.yaml runs it) while that container and one history
instance are killed with SIGKILL: every rollout ends as it should, and every router holds the weights its
rollout's outcome promises. The container comes back (as Kubernetes restarts a pod) and serves the rest."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, TypeVar

import pytest
from temporalio.client import Client, WorkflowHandle, WorkflowQueryFailedError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError

from simulator.testing import Simulator, run_simulator
from tests.cluster.cluster import Cluster
from tests.cluster.diagnosis import failure_chain, read, report
from tests.cluster.workers import image_worker, worker_process
from tests.workflows.helpers import LAB_POLICY, compressed_spec, start_rollout, status, unique_service, wait_until
from workflows.rollout.state import RolloutResult

APPROVALS = {"approvers": ["ml-lead", "sre-oncall", "product-owner"], "quorum": 2}
MIX = {"healthy": 20, "regressed": 12, "aborted": 10, "approved": 8}
"""Fifty rollouts: what each kind must end as is in ``_expected``."""

T = TypeVar("T")


async def _through_failover(call: Callable[[], Awaitable[T]], what: str, timeout: float = 120.0) -> T:
    """Call until the cluster answers: while a killed history instance's shards move, calls fail Unavailable."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            return await call()
        except RPCError:
            if loop.time() > deadline:
                raise AssertionError(f"the cluster did not answer {what} within {timeout:g} s") from None
            await asyncio.sleep(0.5)


def _signal(handle: WorkflowHandle[Any, Any], name: str, arg: dict[str, str]) -> Callable[[], Awaitable[None]]:
    async def send() -> None:
        await handle.signal(name, arg)

    return send


def _start(
    client: Client, spec: dict[str, Any], task_queue: str
) -> Callable[[], Awaitable[WorkflowHandle[Any, RolloutResult]]]:
    async def send() -> WorkflowHandle[Any, RolloutResult]:
        try:
            return await start_rollout(client, spec, task_queue)
        except WorkflowAlreadyStartedError:
            # An earlier attempt reached the server but its answer was lost in the failover: that start stands (the
            # workflow id names this test's own, unique service).
            return client.get_workflow_handle(f"rollout-{spec['service']}", result_type=RolloutResult)

    return send


def _expected(kind: str) -> tuple[str, str | None, dict[str, float]]:
    """Outcome, rollback cause and final router weights for each kind of rollout."""
    if kind in ("healthy", "approved"):
        return "promoted", None, {"stable": 0.0, "candidate": 100.0}
    cause = "analysis" if kind == "regressed" else "abort"
    return "rolled_back", cause, {"stable": 100.0, "candidate": 0.0}


def _spec(kind: str, sim: Simulator, service: str) -> dict[str, Any]:
    if kind == "healthy":  # a first step long enough to be under way when the kills come
        return compressed_spec(sim, service, steps=[{"weight": 10, "observe": "60s"}, {"weight": 50, "observe": "3s"}])
    if kind == "regressed":
        return compressed_spec(sim, service, steps=[{"weight": 10, "observe": "1h"}, {"weight": 50, "observe": "1h"}])
    if kind == "aborted":
        return compressed_spec(sim, service, steps=[{"weight": 25, "observe": "1h"}])
    return compressed_spec(sim, service, steps=[{"weight": 10, "observe": "2s", "approval": True}], approvals=APPROVALS)


@pytest.mark.slow
@pytest.mark.timeout(900)  # a fresh machine first builds the server (~5 min)
async def test_fifty_rollouts_survive_a_killed_worker_and_history_instance(
    cluster: Cluster, cluster_client: Client, task_queue: str, tmp_path: Path
) -> None:
    client = cluster_client
    async with AsyncExitStack() as stack:
        good = await stack.enter_async_context(run_simulator(knobs={"rps": 200000}))
        bad = await stack.enter_async_context(
            run_simulator(knobs={"rps": 200000, "stable": {"error_rate": 0.01}, "candidate": {"error_rate": 0.03}})
        )
        container = await stack.enter_async_context(
            image_worker(cluster.address, task_queue, tmp_path / "worker-image.log", LAB_POLICY)
        )
        for i in (1, 2):
            await stack.enter_async_context(worker_process(cluster.address, task_queue, tmp_path / f"worker-{i}.log"))
        rollouts: list[tuple[str, Simulator, str, WorkflowHandle[Any, RolloutResult]]] = []

        async def explain(what: str, wrong: list[tuple[str, str]]) -> str:
            """The diagnosis CI prints (tests/cluster/diagnosis.py), while the container's log can still be read."""
            logs = {"image worker": await container.logs()}
            logs.update({f"worker-{i}": read(tmp_path / f"worker-{i}.log") for i in (1, 2)})
            return report(what=what, wrong=wrong, worker_logs=logs, cluster=cluster)

        async def start(kind: str) -> None:
            sim = bad if kind == "regressed" else good
            service = unique_service()
            handle = await _through_failover(_start(client, _spec(kind, sim, service), task_queue), "a start")
            rollouts.append((kind, sim, service, handle))

        async def all_under_way() -> bool:
            try:
                states = await asyncio.gather(*(status(h) for _, _, _, h in rollouts))
            except (RPCError, WorkflowQueryFailedError):  # a run handing over to the next, a worker busy: ask again
                return False
            wanted = {"healthy": lambda st: st.weight == 10, "aborted": lambda st: st.weight == 25}
            return all(
                wanted.get(kind, lambda st: st.phase == "awaiting_approval")(st)
                for (kind, _, _, _), st in zip(rollouts, states, strict=True)
            )

        try:
            # Healthy last: their 60 s first step must outlast the wait below, which counts from the first start.
            for kind in ("aborted", "approved", "healthy"):
                for _ in range(MIX[kind]):
                    await start(kind)

            await wait_until(all_under_way, what="every rollout under way, mid-step", timeout=180, interval=1.0)

            # Mid-run: no goodbye from the image's worker and from the history instance that owns about half the shards.
            await container.kill()
            os.kill(cluster.pid("history-2"), signal.SIGKILL)

            for _ in range(MIX["regressed"]):  # started while the killed instance's shards move
                await start("regressed")
            for kind, _, _, handle in rollouts:
                if kind == "aborted":
                    abort = {"by": "sre-oncall", "reason": "cluster test"}
                    await _through_failover(_signal(handle, "abort", abort), "an abort")
                elif kind == "approved":
                    for approver in ("ml-lead", "sre-oncall"):
                        await _through_failover(_signal(handle, "approve", {"approver": approver}), "an approval")
            await container.start()  # the same container again, as a pod's restart brings it back
            results = await asyncio.wait_for(
                asyncio.gather(
                    *(_through_failover(h.result, "a result", 300) for _, _, _, h in rollouts), return_exceptions=True
                ),
                timeout=360,
            )
            routes = [await sim.routes(service) for _, sim, service, _ in rollouts]
        except Exception as exc:  # a start, a signal, a wait or the container's restart gave up
            raise AssertionError(await explain(f"the test stopped: {failure_chain(exc)}", [])) from exc
        served = await container.logs()
        wrong = _judge(rollouts, results, routes)
        if wrong:
            raise AssertionError(await explain(f"{len(wrong)} of {len(rollouts)} rollouts went wrong", wrong))

    # The container's worker read the policy where the manifest mounts it: rollouts started on it.
    assert "policy loaded" in served and "/etc/rollouts/policy/default.json" in served, served[-3000:]


def _judge(
    rollouts: list[tuple[str, Simulator, str, WorkflowHandle[Any, RolloutResult]]],
    results: list[RolloutResult | BaseException],
    routes: list[dict[str, float]],
) -> list[tuple[str, str]]:
    """Each rollout that did not end as its kind must, with its workflow id: a failure, a wrong outcome or route."""
    wrong = []
    for (kind, _, service, handle), result, route in zip(rollouts, results, routes, strict=True):
        if isinstance(result, BaseException):
            wrong.append((f"{kind} {service}: no result: {failure_chain(result)}", handle.id))
            continue
        outcome, cause, weights = _expected(kind)
        record = result.record
        got_cause = record.rollback.cause if record.rollback else None
        if (record.outcome, got_cause, route) != (outcome, cause, weights):
            wrong.append((f"{kind} {service}: {record.outcome}, {got_cause}, {route}", handle.id))
        elif record.rollback is not None and record.rollback.router_verified is not True:
            wrong.append((f"{kind} {service}: rollback not verified at the router", handle.id))
    return wrong
