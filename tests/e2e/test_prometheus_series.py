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


async def test_what_a_pod_served_before_its_restart_still_counts() -> None:
    """Read with ``since``, Prometheus' own samples give back the requests a restart would have hidden."""
    async with (
        run_model_server(version="v2", error_rate=0.2, seed=4) as pod_a,
        contextlib.AsyncExitStack() as pod_b_life,
        httpx.AsyncClient(timeout=5.0) as client,
    ):
        pod_b = await pod_b_life.enter_async_context(run_model_server(version="v2", error_rate=0.2, seed=5))
        a, b = f"127.0.0.1:{pod_a.port}", f"127.0.0.1:{pod_b.port}"
        async with run_prometheus([pod_a.url, pod_b.url]) as prometheus:
            per_pod = _provider(prometheus, client)
            await _serve(client, pod_a, 50)
            await _serve(client, pod_b, 80)
            before = await _settled(per_pod, 130)
            assert before.at is not None
            assert before.series[b].before_restart is None
            # After that reading pod B serves 40 more, scraped, and then restarts on the same address.
            await _serve(client, pod_b, 40)
            served_before_restart = (await _settled(per_pod, 170)).series[b]
            await pod_b_life.aclose()
            async with run_model_server(version="v2", error_rate=0.2, seed=6, port=pod_b.port) as pod_b_again:
                await _serve(client, pod_a, 20)
                await _serve(client, pod_b_again, 10)
                await _settled(per_pod, 50 + 20 + 10)
                after = await per_pod.counters("v2", since=before.at)
                without_since = await per_pod.counters("v2")
    assert after.series[a].before_restart is None
    recovered = after.series[b].before_restart
    assert recovered is not None
    assert (recovered.requests, recovered.errors) == (served_before_restart.requests, served_before_restart.errors)
    assert without_since.series[b].before_restart is None
    step = increment(before, after)
    assert step.requests == 20 + 40 + 10  # pod A's 20; pod B's 40 before its restart and 10 after
    assert step.reset
    assert step.errors == (
        after.series[a].errors
        - before.series[a].errors
        + served_before_restart.errors
        - before.series[b].errors
        + after.series[b].errors
    )
    assert step.latency_total == step.requests
    assert increment(before, without_since).requests == 20 + 10  # the 40 are lost without the samples
