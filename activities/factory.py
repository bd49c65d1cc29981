"""The one place that picks a provider implementation from the spec."""

from __future__ import annotations

import httpx

from activities.metrics.base import MetricsProvider
from activities.metrics.http_json import HttpJsonMetricsProvider
from activities.metrics.prometheus import PrometheusMetricsProvider
from activities.routers.base import TrafficRouter
from activities.routers.http import HttpTrafficRouter
from activities.routers.nginx import NginxTrafficRouter
from models.spec import (
    HttpJsonMetrics,
    HttpRouter,
    MetricsSpec,
    NginxRouter,
    PrometheusMetrics,
    RouterSpec,
)


def router_for(spec: RouterSpec, http: httpx.AsyncClient) -> TrafficRouter:
    match spec:
        case HttpRouter():
            return HttpTrafficRouter(spec, http)
        case NginxRouter():
            return NginxTrafficRouter(spec, http)
    raise TypeError(f"no router for kind {spec.kind!r}")  # unreachable while the spec union is exhaustive


def metrics_for(spec: MetricsSpec, http: httpx.AsyncClient) -> MetricsProvider:
    match spec:
        case HttpJsonMetrics():
            return HttpJsonMetricsProvider(spec, http)
        case PrometheusMetrics():
            return PrometheusMetricsProvider(spec, http)
    raise TypeError(f"no metrics provider for kind {spec.kind!r}")
