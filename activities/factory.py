"""The one place that picks a provider implementation from the spec."""

from __future__ import annotations

import httpx

from activities.metrics.base import MetricsProvider
from activities.metrics.http_json import HttpJsonMetricsProvider
from activities.metrics.prometheus import PrometheusMetricsProvider
from activities.routers.base import TrafficRouter
from activities.routers.haproxy import HaproxyTrafficRouter
from activities.routers.http import HttpTrafficRouter
from activities.routers.nginx import NginxTrafficRouter
from activities.routers.unleash import UnleashTrafficRouter
from models.spec import (
    HaproxyRouter,
    HttpJsonMetrics,
    HttpRouter,
    MetricsSpec,
    NginxRouter,
    PrometheusMetrics,
    RouterSpec,
    UnleashRouter,
)


def router_for(spec: RouterSpec, http: httpx.AsyncClient) -> TrafficRouter:
    """A router for ``spec``, built afresh on every activity call.

    Routers keep no state between calls, so an attempt on another worker, after a crash, behaves the same.
    """
    match spec:
        case HttpRouter():
            return HttpTrafficRouter(spec, http)
        case NginxRouter():
            return NginxTrafficRouter(spec, http)
        case HaproxyRouter():
            return HaproxyTrafficRouter(spec, http)
        case UnleashRouter():
            return UnleashTrafficRouter(spec, http)
    raise TypeError(f"no router for kind {spec.kind!r}")  # unreachable while the spec union is exhaustive


def metrics_for(spec: MetricsSpec, http: httpx.AsyncClient) -> MetricsProvider:
    """A metrics provider for ``spec``, built afresh on every call like the routers, over the worker's HTTP client."""
    match spec:
        case HttpJsonMetrics():
            return HttpJsonMetricsProvider(spec, http)
        case PrometheusMetrics():
            return PrometheusMetricsProvider(spec, http)
    raise TypeError(f"no metrics provider for kind {spec.kind!r}")
