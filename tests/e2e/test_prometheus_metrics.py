"""The ``prometheus`` metrics provider against a real Prometheus scraping real model servers."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from activities.errors import ProviderRejected, ProviderUnavailable
from activities.metrics.prometheus import PrometheusMetricsProvider
from models.counters import Counters
from models.custom_metrics import CustomMetric
from models.spec import PrometheusMetrics
from simulator.inputs import sample_body
from simulator.prometheus_proc import INPUT_FEATURES_QUERY, PrometheusProcess, run_prometheus
from simulator.testing import ModelServer, run_model_server
from tests.workflows.helpers import wait_until

pytestmark = pytest.mark.e2e


@dataclass
class World:
    server: ModelServer
    prometheus: PrometheusProcess
    http: httpx.AsyncClient

    def provider(self, **queries: str) -> PrometheusMetricsProvider:
        spec = PrometheusMetrics.model_validate(self.prometheus.metrics_spec(queries=queries))
        return PrometheusMetricsProvider(spec, self.http)


@pytest.fixture(scope="module")
async def world() -> AsyncIterator[World]:
    async with (
        run_model_server(version="v2", error_rate=0.2, seed=3) as server,
        run_prometheus([server.url]) as prometheus,
        httpx.AsyncClient(timeout=5.0) as http,
    ):
        yield World(server=server, prometheus=prometheus, http=http)


async def test_counters_equal_the_servers_own_once_scraped(world: World) -> None:
    async with httpx.AsyncClient() as client:
        for i in range(150):
            await client.post(world.server.answer_url, json={"prompt": f"p{i}"})
    truth = await world.server.counters()
    provider = world.provider()

    async def scraped() -> bool:
        return (await provider.counters("v2")).requests == truth.requests

    await wait_until(scraped, timeout=15, what="a scrape after the last request")
    got = await provider.counters("v2")
    assert (got.requests, got.errors, got.quality_count) == (truth.requests, truth.errors, truth.quality_count)
    assert got.errors > 0
    assert got.quality_sum == pytest.approx(truth.quality_sum)
    assert got.quality_sum_squares == pytest.approx(truth.quality_sum_squares)
    assert [count for _, count in got.latency_ms_buckets] == [count for _, count in truth.latency_ms_buckets]
    assert [b for b, _ in got.latency_ms_buckets] == pytest.approx([b for b, _ in truth.latency_ms_buckets])
    assert got.latency_ms_buckets[-1][0] == float("inf")


async def test_a_version_without_data_is_unavailable_never_zero(world: World) -> None:
    with pytest.raises(ProviderUnavailable, match="no data"):
        await world.provider().counters("v9")


async def test_bad_promql_is_rejected_at_once(world: World) -> None:
    with pytest.raises(ProviderRejected, match="bad_data"):
        await world.provider(requests='sum(model_requests_total{version="$version"}').counters("v2")


async def test_prometheus_down_is_unavailable_then_recovers(world: World) -> None:
    provider = world.provider()
    async with world.prometheus.down():
        with pytest.raises(ProviderUnavailable, match="ConnectError"):
            await provider.counters("v2")
    assert (await provider.counters("v2")).requests > 0


async def test_input_histograms_are_read_per_feature_and_value(world: World) -> None:
    """What the server was sent, by prompt length, language and tool use, as Prometheus scraped it."""
    rng = random.Random(5)
    async with httpx.AsyncClient() as client:
        for i in range(60):
            await client.post(world.server.answer_url, json=sample_body(rng, 1.0, i))
    truth = await world.server.counters()
    provider = world.provider(input_features=INPUT_FEATURES_QUERY)

    async def scraped() -> bool:
        return (await provider.counters("v2")).inputs == truth.inputs

    await wait_until(scraped, timeout=15, what="a scrape with the input histograms")
    got = (await provider.counters("v2")).inputs
    assert set(got) == {"prompt_length", "language", "tool_use"}
    assert sum(got["language"].values()) == truth.requests
    assert got["language"]["ja"] > 0 and got["prompt_length"]["long"] > 0
    assert (await world.provider().counters("v2")).inputs == {}, "not read unless the target's metrics ask"


async def test_custom_metrics_read_by_their_promql(world: World) -> None:
    """A count emitted on every request, read by the definition's query; an event never emitted is no data."""
    await world.server.set_knobs(events={"critical_errors": 1.0, "complaints": 0.0})
    async with httpx.AsyncClient() as client:
        for i in range(20):
            await client.post(world.server.answer_url, json={"prompt": f"c{i}"})
    truth = (await world.server.counters()).custom
    assert truth["critical_errors"].value == 20 and truth["complaints"].value == 0

    def count(event: str, zero: str = "") -> CustomMetric:
        query = f'sum(model_events_total{{version="$version",event="{event}"}}){zero}'
        return CustomMetric.model_validate({"kind": "count", "limit": 0, "query": {"value": query}})

    provider = world.provider()
    reading = Counters(requests=0, errors=0)

    async def scraped() -> bool:
        try:
            values = await provider.custom("v2", {"critical_errors": count("critical_errors")}, reading)
        except ProviderUnavailable:
            return False
        return values["critical_errors"].value == 20

    await wait_until(scraped, timeout=15, what="a scrape with the events")
    zero = await provider.custom("v2", {"complaints": count("complaints")}, reading)
    assert zero["complaints"].value == 0
    with pytest.raises(ProviderUnavailable, match="no data"):
        await provider.custom("v2", {"typo": count("critical_errorz")}, reading)
    padded = await provider.custom("v2", {"typo": count("critical_errorz", " or vector(0)")}, reading)
    assert padded["typo"].value == 0
