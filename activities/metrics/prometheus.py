"""Metrics ``prometheus``: cumulative counters of one version from PromQL instant queries.

Every query of one reading is evaluated at the same instant (the ``time`` parameter), so requests, errors and
buckets describe one moment; a scrape ingested while the queries run (its samples dated before that instant)
is caught by reading the requests again at the end, and the reading is then taken again. A query that returns no
series is an error, never a zero: a version Prometheus has never seen (a wrong label, a target that is not
scraped) must surface as an analysis error for the workflow's policy, not pass as a perfect candidate.

With ``queries.series_by`` (default ``instance``) every query is grouped by that label (``$series`` in the
template) and the reading carries one set of counters per process in ``Counters.series``, their sums on top: the
judge differences each process on its own, so a pod that restarts adds its new counts, not the fleet's lifetime.

Given ``since`` (the instant of the previous reading), the reader also looks for restarts in between: a subquery
of the requests over the window finds each series whose count went down, and for those the counters at the last
sample before each restart become the series' ``before_restart``. The judge counts them, so a restart loses only
what the pod served between its last scrape and the restart, not everything since the previous poll.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import structlog

from activities.errors import ProviderError, ProviderRejected, ProviderUnavailable
from activities.http_errors import provider_call
from models.counters import MAX_SERIES, Counters, CustomValue
from models.custom_metrics import CustomMetric
from models.spec import PrometheusMetrics
from workflows.judge.increments import validate_counters

_LE_SCALE = {"seconds": 1000.0, "milliseconds": 1.0}

MAX_RESTART_WINDOW_S = 6 * 3600.0
"""Longest gap since the previous reading searched for restarts: a few analysis intervals, or a pause's length,
within Prometheus' retention and small enough that the window's points stay a bounded answer."""

RESTART_POINTS = 120
"""Points per series over the window (a 5-minute window: one every 3 s, finer than a 15 s scrape): a restart's
old counts are read at the last point before it, so the points must be no coarser than the scrapes. Only the
restarted series' points are fetched; the others answer one number each (``resets()``)."""

MAX_RESTARTED_SERIES = 50
"""Restarted series of one version searched per reading: a rolling restart of a large fleet reads 50 pods' points
(a few MB at most), and the rest count their reset as before."""

_READ_ATTEMPTS = 3
"""Readings taken until one is consistent. A scrape's samples carry the scrape's start time but become visible
only once ingested, so a scrape ingested between two queries at the same ``time`` shows in the second and not
the first: at 1,000 requests a second quality_sum and quality_count then disagree by hundreds of scores (a mean
above 1 was seen). Each reading re-reads the requests at its end; when they moved, it is taken again at a fresh
instant (never an earlier one, which could read below the previous analysis). The last attempt is kept."""


def _log() -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger("activities")
    return logger


class PrometheusMetricsProvider:
    """A ``MetricsProvider`` over Prometheus' ``/api/v1/query``."""

    def __init__(self, spec: PrometheusMetrics, http: httpx.AsyncClient) -> None:
        self._spec = spec
        self._url = spec.url.rstrip("/") + "/api/v1/query"
        self._http = http

    async def counters(self, version: str, since: float | None = None) -> Counters:
        """Requests, errors, latency buckets and quality sums of ``version``, every query at the same instant.

        Quality queries the spec leaves out read as zero samples rather than an error: quality is optional.
        ``since``: the previous reading's instant; processes that restarted after it get ``before_restart``.
        """
        queries = self._spec.queries
        for _ in range(_READ_ATTEMPTS):
            at = f"{time.time():.3f}"
            requests = await self._values(queries.requests, version, at)
            errors = await self._values(queries.errors, version, at)
            buckets = await self._buckets(queries.latency_buckets, version, at)
            quality = [
                await self._values(q, version, at) if q is not None else {}
                for q in (queries.quality_sum, queries.quality_sum_squares, queries.quality_count)
            ]
            inputs = await self._inputs(queries.input_features, version, at) if queries.input_features else {}
            if await self._values(queries.requests, version, at) == requests:
                break  # no scrape landed at or before `at` while we read: every query saw the same samples
        restarts = await self._restarts(version, at, since, requests) if since is not None else {}
        try:
            series = {
                name: Counters(
                    requests=round(count),
                    errors=round(errors.get(name, 0.0)),
                    latency_ms_buckets=buckets.get(name, []),
                    quality_sum=quality[0].get(name, 0.0),
                    quality_sum_squares=quality[1].get(name, 0.0),
                    quality_count=round(quality[2].get(name, 0.0)),
                    before_restart=restarts.get(name),  # only a per-process breakdown is ever searched
                )
                for name, count in sorted(requests.items())
            }
            parts = list(series.values())
            total = Counters(
                requests=sum(part.requests for part in parts),
                errors=sum(part.errors for part in parts),
                latency_ms_buckets=_summed_buckets([part.latency_ms_buckets for part in parts]),
                quality_sum=math.fsum(part.quality_sum for part in parts),
                quality_sum_squares=math.fsum(part.quality_sum_squares for part in parts),
                quality_count=sum(part.quality_count for part in parts),
                series=series if queries.series_by is not None else {},
                inputs=inputs,
                at=float(at),
            )
        except ValueError as exc:
            raise ProviderRejected(f"prometheus: counters of {version!r} are unusable: {exc}") from exc
        return total

    async def _restarts(self, version: str, at: str, since: float, requests: dict[str, float]) -> dict[str, Counters]:
        """Each series that restarted after ``since``: its counters at the last point before each restart, added.

        A best effort: any error, a window longer than ``MAX_RESTART_WINDOW_S`` (a pause, metrics that were down) or
        a reading without a per-process breakdown (a drop in a sum over pods says nothing about which pod
        restarted) searches nothing, and the judge counts a reset as it always did.
        """
        label = self._spec.queries.series_by
        window = math.floor(float(at) - since)  # whole seconds, rounded down: every point is after `since`
        if label is None or not 0 < window <= MAX_RESTART_WINDOW_S:
            return {}
        step = max(1, math.ceil(window / RESTART_POINTS))
        try:
            return await self._search(version, at, requests, label, window, step)
        except ProviderError as exc:
            _log().warning("restart search failed; a reset counts as before", version=version, error=str(exc))
            return {}

    async def _search(
        self, version: str, at: str, requests: dict[str, float], label: str, window: int, step: int
    ) -> dict[str, Counters]:
        queries = self._spec.queries
        # One number per series first (how often its requests went down), so a poll without restarts stays cheap.
        counts = await self._values(f"resets({_subquery(queries.requests, window, step)})", version, at)
        restarted = sorted(name for name, count in counts.items() if count > 0 and name in requests)
        restarted = restarted[:MAX_RESTARTED_SERIES]
        if not restarted:
            return {}
        only = _only(restarted, label)
        windows = [
            await self._windows(_subquery(only(q), window, step), version, at) if q is not None else {}
            for q in (
                queries.requests,
                queries.errors,
                queries.quality_sum,
                queries.quality_sum_squares,
                queries.quality_count,
            )
        ]
        buckets = await self._bucket_windows(_subquery(only(queries.latency_buckets), window, step), version, at)
        found: dict[str, Counters] = {}
        for name in restarted:
            times = _before_drops(windows[0].get(name, {}))
            if not times or requests[name] >= windows[0][name][times[0]]:
                continue  # a dip that came back (a target missing a scrape), not a restart: nothing to add
            try:
                before = _counters_at(times, [w.get(name, {}) for w in windows], buckets.get(name, {}))
                validate_counters(before, f"{version}.series[{name!r}].before_restart")
            except ValueError:
                continue  # points that do not add up (a scrape half ingested): count the reset as before
            found[name] = before
        return found

    async def _windows(self, query: str, version: str, at: str) -> dict[str, dict[float, float]]:
        """A subquery's points per series: {series: {instant: value}}."""
        result = await self._query(query, version, at, kind="matrix", empty_ok=True)  # a pod without errors
        if len(result) > MAX_SERIES:
            raise ProviderRejected(f"prometheus: {query!r} returned more than {MAX_SERIES} series")
        return {
            self._series_of(series): {float(t): _number(v, query) for t, v in series.get("values") or []}
            for series in result
        }

    async def _bucket_windows(self, query: str, version: str, at: str) -> dict[str, dict[float, dict[float, float]]]:
        """The buckets' points per series: {series: {bound: {instant: value}}}."""
        scale = _LE_SCALE[self._spec.queries.latency_unit]
        result = await self._query(query, version, at, kind="matrix", empty_ok=True)
        windows: dict[str, dict[float, dict[float, float]]] = {}
        for series in result:
            bound = _bound(series, query, scale)
            points = {float(t): _number(v, query) for t, v in series.get("values") or []}
            windows.setdefault(self._series_of(series), {})[bound] = points
        if len(windows) > MAX_SERIES:
            raise ProviderRejected(f"prometheus: {query!r} returned more than {MAX_SERIES} series")
        return windows

    async def custom(
        self, version: str, definitions: Mapping[str, CustomMetric], counters: Counters
    ) -> dict[str, CustomValue]:
        """Each custom metric's queries at one instant, each summed over the series it answers."""
        at = f"{time.time():.3f}"
        values: dict[str, CustomValue] = {}
        for name, definition in definitions.items():
            query = definition.query
            if query is None:  # Target's validator: a prometheus target's custom metrics all have queries
                raise ProviderRejected(f"prometheus: custom metric {name!r} has no query")
            parts = [
                await self._sum(q, version, at) if q is not None else 0.0
                for q in (query.value, query.sum_squares, query.count)
            ]
            values[name] = CustomValue(value=parts[0], sum_squares=parts[1], count=parts[2])
        return values

    async def _sum(self, template: str, version: str, at: str) -> float:
        result = await self._query(template, version, at)
        if len(result) > MAX_SERIES:
            raise ProviderRejected(f"prometheus: {template!r} returned more than {MAX_SERIES} series")
        return math.fsum(_value(series, template) for series in result)

    def _series_of(self, series: dict[str, Any]) -> str:
        label = self._spec.queries.series_by
        return str((series.get("metric") or {}).get(label, "")) if label is not None else ""

    async def _query(
        self, template: str, version: str, at: str, kind: str = "vector", *, empty_ok: bool = False
    ) -> list[dict[str, Any]]:
        query = template.replace("$version", version).replace("$series", self._spec.queries.series_by or "")
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
        if data.get("resultType") != kind:
            raise ProviderRejected(f"{what}: expected a {kind}, got {data.get('resultType')!r}")
        result: list[dict[str, Any]] = data.get("result") or []
        if not result and not empty_ok:
            raise ProviderUnavailable(f"{what}: no data (is version {version!r} scraped?)")
        return result

    async def _values(self, template: str, version: str, at: str) -> dict[str, float]:
        """One value per series (per process under ``series_by``; else exactly one, keyed "")."""
        result = await self._query(template, version, at)
        values: dict[str, float] = {}
        for series in result:
            name = self._series_of(series)
            if name in values or len(result) > MAX_SERIES:
                labels = [series.get("metric") for series in result[:3]]
                by = self._spec.queries.series_by
                expected = f"one per {by}" if by else "1 (sum it)"
                raise ProviderRejected(
                    f"prometheus: {template!r} returned {len(result)} series, expected {expected}: {labels}"
                )
            values[name] = _value(series, template)
        return values

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

    async def _buckets(self, template: str, version: str, at: str) -> dict[str, list[tuple[float, int]]]:
        scale = _LE_SCALE[self._spec.queries.latency_unit]
        buckets: dict[str, list[tuple[float, int]]] = {}
        for series in await self._query(template, version, at):
            value = (_bound(series, template, scale), round(_value(series, template)))
            buckets.setdefault(self._series_of(series), []).append(value)
        if len(buckets) > MAX_SERIES:
            raise ProviderRejected(f"prometheus: {template!r} returned more than {MAX_SERIES} series")
        for histogram in buckets.values():
            histogram.sort()
        return buckets


def _summed_buckets(histograms: list[list[tuple[float, int]]]) -> list[tuple[float, int]]:
    """The version's histogram: the series' counts added on the bounds every series with a histogram shares."""
    present = [dict(histogram) for histogram in histograms if histogram]
    if not present:
        return []
    common = set(present[0]).intersection(*present[1:])
    return [(bound, sum(histogram[bound] for histogram in present)) for bound in sorted(common)]


def _value(series: dict[str, Any], template: str) -> float:
    try:
        sample = series["value"][1]
    except (KeyError, IndexError, TypeError) as exc:
        raise ProviderRejected(f"prometheus: {template!r}: malformed sample {series!r:.200}") from exc
    return _number(sample, template)


def _number(sample: object, template: str) -> float:
    try:
        value = float(sample)  # type: ignore[arg-type]  # Prometheus sends numbers as strings
    except (TypeError, ValueError) as exc:
        raise ProviderRejected(f"prometheus: {template!r}: malformed sample {sample!r:.200}") from exc
    if math.isnan(value) or value < 0:
        raise ProviderUnavailable(f"prometheus: {template!r} evaluated to {value}")
    return value


def _bound(series: dict[str, Any], template: str, scale: float) -> float:
    """A bucket series' upper bound in milliseconds (``+Inf`` kept)."""
    le = (series.get("metric") or {}).get("le")
    if le is None:
        raise ProviderRejected(f"prometheus: {template!r} returned a series without an le label")
    try:
        bound = float(le)
    except ValueError as exc:
        raise ProviderRejected(f"prometheus: le={le!r} is not a number") from exc
    return bound if math.isinf(bound) else round(bound * scale, 6)


def _subquery(template: str, window: int, step: int) -> str:
    """The template over the window, at ``step``-second points (a subquery: templates are aggregations)."""
    return f"({template})[{window}s:{step}s]"


def _only(names: list[str], label: str) -> Callable[[str], str]:
    """A template narrowed to the series ``names`` (by the ``series_by`` label).

    A restart reads a few pods' points, not the fleet's. Each name becomes a one-sample vector carrying that
    label, which ``and on`` matches.
    """
    wanted = " or ".join(f'label_replace(vector(1), "{label}", {json.dumps(name)}, "", "")' for name in names)
    return lambda template: f"(({template}) and on({label}) ({wanted}))"


def _before_drops(points: dict[float, float]) -> list[float]:
    """The instants of the last point before each drop: where a restart's old counts end."""
    ordered = sorted(points.items())
    return [before for (before, old), (_, new) in itertools.pairwise(ordered) if new < old]


def _counters_at(
    times: list[float], windows: list[dict[float, float]], buckets: dict[float, dict[float, float]]
) -> Counters:
    """One series' counters at ``times``, added (requests, errors, quality sums, buckets: ``windows``' order)."""

    def added(points: dict[float, float]) -> float:
        return math.fsum(points.get(t, 0.0) for t in times)

    requests, errors, quality_sum, quality_sum_squares, quality_count = (added(w) for w in windows)
    return Counters(
        requests=round(requests),
        errors=round(errors),
        latency_ms_buckets=sorted((bound, round(added(points))) for bound, points in buckets.items()),
        quality_sum=quality_sum,
        quality_sum_squares=quality_sum_squares,
        quality_count=round(quality_count),
    )


def _error_of(response: httpx.Response) -> str:
    try:
        body = response.json()
        return f"HTTP {response.status_code}: {body.get('errorType')}: {body.get('error')}"
    except ValueError:
        return f"HTTP {response.status_code}: {response.text[:300]}"
