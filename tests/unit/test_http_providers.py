"""HTTP providers against httpx.MockTransport: request shapes and the mapping of failures to our errors."""

from __future__ import annotations

import json
import math
from collections.abc import Callable

import httpx
import pytest

from activities.errors import ProviderError, ProviderRejected, ProviderUnavailable
from activities.http_errors import provider_call
from activities.metrics.http_json import HttpJsonMetricsProvider
from activities.routers.http import HttpTrafficRouter
from models.activities import RouterState
from models.spec import HttpJsonMetrics, HttpRouter

ROUTE = "http://router.test/routes/support-assistant"
METRICS = "http://metrics.test/metrics/support-assistant"

Handler = Callable[[httpx.Request], httpx.Response]


def client(handler: Handler, seen: list[httpx.Request] | None = None) -> httpx.AsyncClient:
    def record(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return handler(request)

    return httpx.AsyncClient(transport=httpx.MockTransport(record))


def router(handler: Handler, seen: list[httpx.Request] | None = None) -> HttpTrafficRouter:
    return HttpTrafficRouter(HttpRouter(kind="http", url=ROUTE), client(handler, seen))


def metrics(handler: Handler, seen: list[httpx.Request] | None = None, url: str = METRICS) -> HttpJsonMetricsProvider:
    return HttpJsonMetricsProvider(HttpJsonMetrics(kind="http-json", url=url), client(handler, seen))


def refuse_connection(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


# ---------------------------------------------------------------- provider_call


async def test_provider_call_passes_results_through() -> None:
    async with provider_call("thing"):
        value = 1
    assert value == 1


async def test_provider_call_maps_value_error_to_rejected() -> None:
    with pytest.raises(ProviderRejected, match=r"^thing: unusable answer: bad number$"):
        async with provider_call("thing"):
            raise ValueError("bad number")


async def test_provider_call_leaves_other_errors_alone() -> None:
    with pytest.raises(RuntimeError):
        async with provider_call("thing"):
            raise RuntimeError("boom")


def test_error_tree_retryability() -> None:
    assert ProviderUnavailable("x").retryable is True
    assert ProviderRejected("x").retryable is False
    assert issubclass(ProviderRejected, ProviderError)
    error = ProviderRejected("no").to_application_error()
    assert error.non_retryable is True
    assert error.type == "ProviderRejected"


# ---------------------------------------------------------------- router


async def test_router_apply_puts_the_weights_as_json() -> None:
    seen: list[httpx.Request] = []
    await router(lambda r: httpx.Response(204), seen).apply(RouterState(stable=90.0, candidate=10.0))
    (request,) = seen
    assert request.method == "PUT"
    assert str(request.url) == ROUTE
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"stable": 90.0, "candidate": 10.0}


async def test_router_read_gets_the_weights() -> None:
    seen: list[httpx.Request] = []
    state = await router(lambda r: httpx.Response(200, json={"stable": 75, "candidate": "25", "x": 1}), seen).read()
    assert state == RouterState(stable=75.0, candidate=25.0)
    (request,) = seen
    assert request.method == "GET"
    assert str(request.url) == ROUTE


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
async def test_router_server_errors_are_unavailable(status: int) -> None:
    with pytest.raises(ProviderUnavailable, match=rf"^router PUT {ROUTE}: HTTP {status}: overloaded$"):
        await router(lambda r: httpx.Response(status, text="overloaded")).apply(RouterState(stable=99, candidate=1))
    with pytest.raises(ProviderUnavailable, match=rf"^router GET {ROUTE}: HTTP {status}"):
        await router(lambda r: httpx.Response(status, text="overloaded")).read()


@pytest.mark.parametrize("status", [400, 401, 403, 404, 409, 422])
async def test_router_client_errors_are_rejected(status: int) -> None:
    with pytest.raises(ProviderRejected, match=rf"^router PUT {ROUTE}: HTTP {status}: no such route$"):
        await router(lambda r: httpx.Response(status, text="no such route")).apply(RouterState(stable=99, candidate=1))


async def test_error_body_is_truncated() -> None:
    with pytest.raises(ProviderRejected) as info:
        await router(lambda r: httpx.Response(400, text="x" * 1000)).read()
    assert str(info.value).endswith(": " + "x" * 300)


async def test_router_transport_error_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match=r"ConnectError: connection refused"):
        await router(refuse_connection).apply(RouterState(stable=99, candidate=1))


async def test_router_malformed_json_is_rejected() -> None:
    with pytest.raises(ProviderRejected, match="unusable answer"):
        await router(lambda r: httpx.Response(200, text="{not json")).read()


async def test_router_non_numeric_weight_is_rejected() -> None:
    with pytest.raises(ProviderRejected, match="unusable answer"):
        await router(lambda r: httpx.Response(200, json={"stable": "lots", "candidate": 1})).read()


@pytest.mark.parametrize("body", [{}, {"stable": 90}, [90, 10], {"stable": None, "candidate": 10}])
async def test_router_answer_without_weights_is_rejected(body: object) -> None:
    with pytest.raises(ProviderRejected):
        await router(lambda r: httpx.Response(200, json=body)).read()


# ---------------------------------------------------------------- metrics http-json

COUNTERS = {
    "requests": 1000,
    "errors": 3,
    "latency_ms_buckets": [[50, 600], [100, 950], ["+Inf", 1000]],
    "quality_sum": 850.5,
    "quality_sum_squares": 760.25,
    "quality_count": 1000,
}


async def test_metrics_get_with_version_parameter() -> None:
    seen: list[httpx.Request] = []
    counters = await metrics(lambda r: httpx.Response(200, json=COUNTERS), seen).counters("v2")
    (request,) = seen
    assert request.method == "GET"
    assert request.url.copy_with(query=None) == httpx.URL(METRICS)
    assert request.url.params["version"] == "v2"
    assert counters.requests == 1000
    assert counters.errors == 3
    assert counters.quality_count == 1000


async def test_metrics_inf_bucket_bound_is_parsed() -> None:
    counters = await metrics(lambda r: httpx.Response(200, json=COUNTERS)).counters("v1")
    assert counters.latency_ms_buckets[:2] == [(50.0, 600), (100.0, 950)]
    bound, count = counters.latency_ms_buckets[2]
    assert math.isinf(bound)
    assert bound > 0
    assert count == 1000


async def test_metrics_minimal_counters() -> None:
    counters = await metrics(lambda r: httpx.Response(200, json={"requests": 0, "errors": 0})).counters("v1")
    assert counters.latency_ms_buckets == []
    assert counters.quality_count == 0


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_metrics_server_errors_are_unavailable(status: int) -> None:
    with pytest.raises(ProviderUnavailable, match=rf"^metrics GET {METRICS}\?version=v2: HTTP {status}"):
        await metrics(lambda r: httpx.Response(status, text="down")).counters("v2")


@pytest.mark.parametrize("status", [400, 404])
async def test_metrics_client_errors_are_rejected(status: int) -> None:
    with pytest.raises(ProviderRejected, match=rf"HTTP {status}: unknown version"):
        await metrics(lambda r: httpx.Response(status, text="unknown version")).counters("v2")


async def test_metrics_transport_error_is_unavailable() -> None:
    with pytest.raises(ProviderUnavailable, match="ConnectError"):
        await metrics(refuse_connection).counters("v2")


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        json.dumps({"requests": -1, "errors": 0}).encode(),
        json.dumps({"requests": 1}).encode(),
        json.dumps({"requests": 1, "errors": 0, "surprise": True}).encode(),
        json.dumps({"requests": 1, "errors": 0, "latency_ms_buckets": [["-Inf?", 1]]}).encode(),
    ],
)
async def test_metrics_unusable_answer_is_rejected(body: bytes) -> None:
    with pytest.raises(ProviderRejected, match="unusable answer"):
        await metrics(lambda r: httpx.Response(200, content=body)).counters("v2")


async def test_metrics_url_query_is_kept() -> None:
    seen: list[httpx.Request] = []
    provider = metrics(lambda r: httpx.Response(200, json=COUNTERS), seen, url=METRICS + "?service=support")
    await provider.counters("v2")
    (request,) = seen
    assert request.url.params.get("service") == "support"
    assert request.url.params.get("version") == "v2"
