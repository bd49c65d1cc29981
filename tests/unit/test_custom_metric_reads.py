"""How both metrics providers read custom metrics, on ``httpx.MockTransport``: Prometheus by the definitions'
PromQL (summed over the series answered), http-json from the answer's ``custom`` object; a metric that cannot be
found is an error, never a zero."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from activities.errors import ProviderUnavailable
from activities.metrics.http_json import HttpJsonMetricsProvider
from activities.metrics.prometheus import PrometheusMetricsProvider
from models.counters import Counters, CustomValue
from models.custom_metrics import CustomMetric
from models.spec import HttpJsonMetrics, PrometheusMetrics


def vector(*values: str) -> dict[str, Any]:
    result = [{"metric": {"instance": f"pod-{i}"}, "value": [1700000000.0, v]} for i, v in enumerate(values)]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


def metric(**fields: Any) -> CustomMetric:
    return CustomMetric.model_validate(fields)


async def test_prometheus_reads_each_query_summed_over_series() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        seen.append(query)
        answers = {
            "critical": vector("1", "2"),
            "rating_sum": vector("40"),
            "rating_sq": vector("170"),
            "rating_n": vector("10"),
        }
        return httpx.Response(200, json=next(a for k, a in answers.items() if k in query))

    spec = PrometheusMetrics.model_validate({"kind": "prometheus", "url": "http://prom:9090"})
    provider = PrometheusMetricsProvider(spec, httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    definitions = {
        "critical_errors": metric(kind="count", limit=0, query={"value": 'critical{version="$version"}'}),
        "rating": metric(
            kind="mean",
            limit=0.5,
            bounds=[1.0, 5.0],
            query={
                "value": 'rating_sum{version="$version"}',
                "sum_squares": 'rating_sq{version="$version"}',
                "count": 'rating_n{version="$version"}',
            },
        ),
    }
    values = await provider.custom("v2", definitions, Counters(requests=1, errors=0))
    assert values == {
        "critical_errors": CustomValue(value=3.0),
        "rating": CustomValue(value=40.0, sum_squares=170.0, count=10.0),
    }
    assert all('version="v2"' in q for q in seen)


async def test_prometheus_without_data_is_an_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=vector())

    spec = PrometheusMetrics.model_validate({"kind": "prometheus", "url": "http://prom:9090"})
    provider = PrometheusMetricsProvider(spec, httpx.AsyncClient(transport=httpx.MockTransport(handler)))
    definitions = {"c": metric(kind="count", limit=0, query={"value": 'c{version="$version"}'})}
    with pytest.raises(ProviderUnavailable, match="no data"):
        await provider.custom("v2", definitions, Counters(requests=1, errors=0))


async def test_http_json_takes_the_field_and_refuses_a_missing_one() -> None:
    provider = HttpJsonMetricsProvider(
        HttpJsonMetrics(kind="http-json", url="http://sim/metrics/svc"), httpx.AsyncClient()
    )
    answer = Counters(requests=5, errors=0, custom={"refused": CustomValue(value=2), "other": CustomValue(value=9)})
    definitions = {"refusals": metric(kind="rate", limit=1.5, field="refused")}
    assert await provider.custom("v2", definitions, answer) == {"refusals": CustomValue(value=2)}
    with pytest.raises(ProviderUnavailable, match=r"no custom\.critical_errors .*\(custom fields: other, refused\)"):
        await provider.custom("v2", {"critical_errors": metric(kind="count", limit=0)}, answer)
    assert await provider.custom("v2", {}, answer) == {}
