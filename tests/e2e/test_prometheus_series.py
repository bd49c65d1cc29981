"""One pod of a version restarting, read through a real Prometheus: only its own new counts are an increment."""

from __future__ import annotations

import contextlib

import httpx
import pytest

from activities.metrics.prometheus import PrometheusMetricsProvider
from models.counters import Counters
from models.spec import PrometheusMetrics
from simulator.prometheus_proc import PrometheusProcess, run_prometheus
from simulator.testing import ModelServer, run_model_server
from tests.workflows.helpers import wait_until
from workflows.judge.increments import increment

pytestmark = pytest.mark.e2e


async def _serve(client: httpx.AsyncClient, server: ModelServer, requests: int) -> None:
    for i in range(requests):
        await client.post(server.answer_url, json={"prompt": f"p{i}"})


def _provider(prometheus: PrometheusProcess, http: httpx.AsyncClient, **queries: object) -> PrometheusMetricsProvider:
    spec = PrometheusMetrics.model_validate(prometheus.metrics_spec(queries=queries))
    return PrometheusMetricsProvider(spec, http)


async def _settled(provider: PrometheusMetricsProvider, requests: int) -> Counters:
    async def scraped() -> bool:
        return (await provider.counters("v2")).requests == requests

    await wait_until(scraped, timeout=20, what=f"Prometheus to show {requests} requests")
    return await provider.counters("v2")


async def test_a_pod_restart_adds_only_its_own_new_requests() -> None:
    async with (
        run_model_server(version="v2", error_rate=0.2, seed=1) as pod_a,
        contextlib.AsyncExitStack() as pod_b_life,
        httpx.AsyncClient(timeout=5.0) as client,
    ):
        pod_b = await pod_b_life.enter_async_context(run_model_server(version="v2", error_rate=0.2, seed=2))
        a, b = f"127.0.0.1:{pod_a.port}", f"127.0.0.1:{pod_b.port}"
        async with run_prometheus([pod_a.url, pod_b.url]) as prometheus:
            per_pod = _provider(prometheus, client)
            summed = _provider(prometheus, client, series_by=None)
            await _serve(client, pod_a, 60)
            await _serve(client, pod_b, 90)
            before = await _settled(per_pod, 150)
            before_sum = await summed.counters("v2")
            assert sorted(before.series) == sorted([a, b])
            assert before_sum.series == {}
            # Pod B restarts on the same address: its counters start again from zero.
            await pod_b_life.aclose()
            async with run_model_server(version="v2", error_rate=0.2, seed=3, port=pod_b.port) as pod_b_again:
                await _serve(client, pod_a, 20)
                await _serve(client, pod_b_again, 10)
                after = await _settled(per_pod, 60 + 20 + 10)
                after_sum = await summed.counters("v2")
    step = increment(before, after)
    assert step.requests == 30  # 20 on pod A, 10 on the restarted pod B
    assert step.reset
    assert step.errors == after.series[a].errors - before.series[a].errors + after.series[b].errors
    # Read as one sum, the drop looks like the whole version restarting: pod A's lifetime counts again.
    assert increment(before_sum, after_sum).requests == 90
