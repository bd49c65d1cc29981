"""Metrics ``prometheus``: cumulative counters of one version from PromQL instant queries.

Every query of one reading is evaluated at the same instant (the ``time`` parameter), so requests, errors and
buckets describe one moment even if a scrape lands between two queries. A query that returns no series is an
error, never a zero: a version Prometheus has never seen (a wrong label, a target that is not scraped) must
surface as an analysis error for the workflow's policy, not pass as a perfect candidate.
"""

from __future__ import annotations

import math
import time
from typing import Any

import httpx

from activities.errors import ProviderRejected, ProviderUnavailable
from activities.http_errors import provider_call
from models.counters import Counters
from models.spec import PrometheusMetrics

_LE_SCALE = {"seconds": 1000.0, "milliseconds": 1.0}


class PrometheusMetricsProvider:
    """A ``MetricsProvider`` over Prometheus' ``/api/v1/query``."""

    def __init__(self, spec: PrometheusMetrics, http: httpx.AsyncClient) -> None:
        self._spec = spec
        self._url = spec.url.rstrip("/") + "/api/v1/query"
        self._http = http

    async def counters(self, version: str) -> Counters:
        """Requests, errors, latency buckets and quality sums of ``version``, every query at the same instant.

        Quality queries the spec leaves out read as zero samples rather than an error: quality is optional.
        """
        queries = self._spec.queries
        at = f"{time.time():.3f}"
        requests = await self._scalar(queries.requests, version, at)
        errors = await self._scalar(queries.errors, version, at)
        buckets = await self._buckets(queries.latency_buckets, version, at)
        quality = [
            await self._scalar(q, version, at) if q is not None else 0.0
            for q in (queries.quality_sum, queries.quality_sum_squares, queries.quality_count)
        ]
        inputs = await self._inputs(queries.input_features, version, at) if queries.input_features else {}
        try:
            return Counters(
                requests=round(requests),
                errors=round(errors),
                latency_ms_buckets=buckets,
                quality_sum=quality[0],
                quality_sum_squares=quality[1],
                quality_count=round(quality[2]),
                inputs=inputs,
            )
        except ValueError as exc:
            raise ProviderRejected(f"prometheus: counters of {version!r} are unusable: {exc}") from exc

    async def _query(self, template: str, version: str, at: str) -> list[dict[str, Any]]:
        query = template.replace("$version", version)
        what = f"prometheus query {query!r}"
        async with provider_call(what):
            response = await self._http.get(self._url, params={"query": query, "time": at})
            if response.status_code in {400, 422}:  # bad PromQL: the spec is wrong, retrying will not help
                raise ProviderRejected(f"{what}: {_error_of(response)}")
            response.raise_for_status()
            body = response.json()
        if not isinstance(body, dict) or body.get("status") != "success":
            raise ProviderUnavailable(f"{what}: {str(body)[:300]}")
        data = body.get("data") or {}
        if data.get("resultType") != "vector":
            raise ProviderRejected(f"{what}: expected an instant vector, got {data.get('resultType')!r}")
        result: list[dict[str, Any]] = data.get("result") or []
        if not result:
            raise ProviderUnavailable(f"{what}: no data (is version {version!r} scraped?)")
        return result

    async def _scalar(self, template: str, version: str, at: str) -> float:
        result = await self._query(template, version, at)
        if len(result) != 1:
            labels = [series.get("metric") for series in result[:3]]
            raise ProviderRejected(
                f"prometheus: {template!r} returned {len(result)} series, expected 1 (sum it): {labels}"
            )
        return _value(result[0], template)

    async def _inputs(self, template: str, version: str, at: str) -> dict[str, dict[str, int]]:
        """Requests per input feature and value; none exported yet is no histogram, not an error (it is optional)."""
        try:
            result = await self._query(template, version, at)
        except ProviderUnavailable as exc:
            if "no data" in str(exc):
                return {}
            raise
        inputs: dict[str, dict[str, int]] = {}
        for series in result:
            labels = series.get("metric") or {}
            feature, value = labels.get("feature"), labels.get("value")
            if not isinstance(feature, str) or not isinstance(value, str):
                raise ProviderRejected(f"prometheus: {template!r} returned a series without feature and value labels")
            inputs.setdefault(feature, {})[value] = round(_value(series, template))
        return inputs

    async def _buckets(self, template: str, version: str, at: str) -> list[tuple[float, int]]:
        scale = _LE_SCALE[self._spec.queries.latency_unit]
        buckets: list[tuple[float, int]] = []
        for series in await self._query(template, version, at):
            le = (series.get("metric") or {}).get("le")
            if le is None:
                raise ProviderRejected(f"prometheus: {template!r} returned a series without an le label")
            try:
                bound = float(le)
            except ValueError as exc:
                raise ProviderRejected(f"prometheus: le={le!r} is not a number") from exc
            buckets.append((bound if math.isinf(bound) else round(bound * scale, 6), round(_value(series, template))))
        buckets.sort()
        return buckets


def _value(series: dict[str, Any], template: str) -> float:
    try:
        value = float(series["value"][1])
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        raise ProviderRejected(f"prometheus: {template!r}: malformed sample {series!r:.200}") from exc
    if math.isnan(value) or value < 0:
        raise ProviderUnavailable(f"prometheus: {template!r} evaluated to {value}")
    return value


def _error_of(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"HTTP {response.status_code}: {body.get('errorType')}: {body.get('error')}"
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
