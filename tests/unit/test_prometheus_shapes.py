"""Shapes of Prometheus answers the provider must handle, on ``httpx.MockTransport`` (no process needed)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from activities.errors import ProviderRejected, ProviderUnavailable
from activities.metrics.prometheus import PrometheusMetricsProvider
from models.spec import PrometheusMetrics

BAD_DATA = {"status": "error", "errorType": "bad_data", "error": "parse error"}
MATRIX = {"status": "success", "data": {"resultType": "matrix", "result": []}}


def vector(*series: tuple[dict[str, str], str]) -> dict[str, Any]:
    result = [{"metric": labels, "value": [1700000000.0, value]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def provider(answer: Callable[[str], httpx.Response], **queries: Any) -> PrometheusMetricsProvider:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/query"
        assert "time" in request.url.params
        return answer(request.url.params["query"])

    spec = PrometheusMetrics.model_validate({"kind": "prometheus", "url": "http://prom:9090", "queries": queries})
    return PrometheusMetricsProvider(spec, httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def healthy(query: str) -> httpx.Response:
    assert 'version="v2"' in query
    if "bucket" in query:
        return httpx.Response(200, json=vector(({"le": "+Inf"}, "10"), ({"le": "0.05"}, "9"), ({"le": "0.005"}, "2")))
    value = {"model_requests_total": "10", "5..": "1", "sum_squares": "4.5", "quality_sum": "7", "count": "9"}
    key = next(k for k in ("5..", "sum_squares", "quality_sum", "count", "model_requests_total") if k in query)
    return httpx.Response(200, json=vector(({}, value[key])))


async def test_buckets_in_milliseconds_ascending_with_inf() -> None:
    counters = await provider(healthy).counters("v2")
    assert counters.requests == 10
    assert counters.errors == 1
    assert counters.quality_count == 9
    assert counters.quality_sum == 7
    assert counters.quality_sum_squares == 4.5
    assert counters.latency_ms_buckets == [(5.0, 2), (50.0, 9), (math.inf, 10)]


async def test_quality_queries_may_be_switched_off() -> None:
    counters = await provider(healthy, quality_sum=None, quality_sum_squares=None, quality_count=None).counters("v2")
    assert (counters.quality_sum, counters.quality_count) == (0.0, 0)


@pytest.mark.parametrize(
    ("response", "error", "match"),
    [
        (httpx.Response(503, text="starting"), ProviderUnavailable, "503"),
        (httpx.Response(200, json=vector()), ProviderUnavailable, "no data"),
        (httpx.Response(200, json=vector(({}, "NaN"))), ProviderUnavailable, "nan"),
        (httpx.Response(200, json=vector(({"a": "1"}, "1"), ({"a": "2"}, "1"))), ProviderRejected, "2 series"),
        (httpx.Response(400, json=BAD_DATA), ProviderRejected, "bad_data"),
        (httpx.Response(200, json=MATRIX), ProviderRejected, "matrix"),
    ],
)
async def test_failures_map_onto_the_error_tree(response: httpx.Response, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        await provider(lambda _query: response).counters("v2")


def per_instance(query: str) -> httpx.Response:
    assert "$series" not in query
    a, b = {"instance": "pod-a:8000"}, {"instance": "pod-b:8000"}
    if "bucket" in query:
        return httpx.Response(
            200,
            json=vector(
                ({**a, "le": "0.05"}, "5"),
                ({**a, "le": "+Inf"}, "6"),
                ({**b, "le": "+Inf"}, "4"),
                ({**b, "le": "0.05"}, "3"),
            ),
        )
    if "5.." in query:
        return httpx.Response(200, json=vector((b, "1")))  # pod A has no errors: no series at all
    if "model_requests_total" in query:
        return httpx.Response(200, json=vector((a, "6"), (b, "4")))
    return httpx.Response(200, json=vector((a, "1"), (b, "2")))


async def test_counters_per_instance_with_their_sums_on_top() -> None:
    counters = await provider(per_instance).counters("v2")  # default series_by: instance
    assert sorted(counters.series) == ["pod-a:8000", "pod-b:8000"]
    assert (counters.requests, counters.errors) == (10, 1)
    assert counters.series["pod-a:8000"].errors == 0
    assert counters.series["pod-b:8000"].latency_ms_buckets == [(50.0, 3), (math.inf, 4)]
    assert counters.latency_ms_buckets == [(50.0, 8), (math.inf, 10)]
    assert counters.quality_count == 3


async def test_without_series_by_every_query_must_answer_one_series() -> None:
    with pytest.raises(ProviderRejected, match="expected 1"):
        await provider(per_instance, series_by=None).counters("v2")


async def test_a_scrape_ingested_mid_reading_is_read_again() -> None:
    """Samples of a scrape show up between two queries at the same instant: the reading is taken again."""
    ingested = False

    def answer(query: str) -> httpx.Response:
        nonlocal ingested
        scale = 2 if ingested else 1
        if "quality_sum{" in query and not ingested:
            ingested = True  # the next scrape lands right after this query: quality_count will already see it
        return healthy_scaled(query, scale)

    counters = await provider(answer).counters("v2")
    assert (counters.requests, counters.quality_sum, counters.quality_count) == (20, 14, 18)


def healthy_scaled(query: str, scale: int) -> httpx.Response:
    """``healthy`` with every counter multiplied by ``scale`` (a later scrape of the same traffic)."""
    if "bucket" in query:
        buckets = [({"le": "+Inf"}, 10), ({"le": "0.05"}, 9), ({"le": "0.005"}, 2)]
        return httpx.Response(200, json=vector(*((labels, str(n * scale)) for labels, n in buckets)))
    value = {"model_requests_total": 10, "5..": 1, "sum_squares": 4.5, "quality_sum": 7, "count": 9}
    key = next(k for k in ("5..", "sum_squares", "quality_sum", "count", "model_requests_total") if k in query)
    return httpx.Response(200, json=vector(({}, str(value[key] * scale))))


def restarted_pod(current: str, *, search: int = 200) -> Callable[[str], httpx.Response]:
    """Pod ``a`` read per instance: its requests went 100, 200, then down to 20 over the window, ``current`` now."""

    def answer(query: str) -> httpx.Response:
        if query.startswith("resets("):
            return httpx.Response(200, json=vector(({"instance": "a"}, "1")))
        if "and on(instance)" in query:
            if search != 200:
                return httpx.Response(search, text="overloaded")
            assert '"instance", "a"' in query, query  # only the restarted pod's points are asked for
            per = {"bucket": "1", "5..": "0", "sum_squares": "1", "quality_sum": "1", "count": "1"}
            factor = next((v for k, v in per.items() if k in query), None)
            values = [
                [1000.0 + 3 * i, str(v if factor is None else int(factor) * v // 10)]
                for i, v in enumerate((100, 200, 20))
            ]
            labels = {"instance": "a", **({"le": "+Inf"} if "bucket" in query else {})}
            return httpx.Response(
                200,
                json={
                    "status": "success",
                    "data": {"resultType": "matrix", "result": [{"metric": labels, "values": values}]},
                },
            )
        if "bucket" in query:
            return httpx.Response(200, json=vector(({"instance": "a", "le": "+Inf"}, current)))
        zero = any(k in query for k in ("5..", "sum_squares", "quality_sum", "count"))
        return httpx.Response(200, json=vector(({"instance": "a"}, "0" if zero else current)))

    return answer


async def test_a_pod_below_its_old_count_carries_what_it_held_before_restarting() -> None:
    counters = await provider(restarted_pod("30")).counters("v2", since=time.time() - 300)
    before = counters.series["a"].before_restart
    assert before is not None
    assert (before.requests, before.errors, before.latency_ms_buckets) == (200, 0, [(math.inf, 20)])
    assert counters.at is not None


async def test_a_dip_that_came_back_is_not_a_restart() -> None:
    """Back above the old count (a target that missed a scrape), the drop was no restart: nothing is added."""
    counters = await provider(restarted_pod("250")).counters("v2", since=time.time() - 300)
    assert counters.series["a"].before_restart is None


async def test_a_failed_search_leaves_the_reading_as_it_was() -> None:
    counters = await provider(restarted_pod("30", search=503)).counters("v2", since=time.time() - 300)
    assert counters.requests == 30
    assert counters.series["a"].before_restart is None
