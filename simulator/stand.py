"""The real-traffic stand: two model servers, nginx routing between them, Prometheus scraping both.

This is the world of the e2e tests, the nginx benchmark and the demo: every request is real HTTP through a real
nginx, and the rollout reads a real Prometheus. With ``router="haproxy"`` a real HAProxy runs beside nginx, in
front of the same two servers, and is the stand's router: its target, its answer URL.

Example::

    async with run_stand(candidate={"error_rate": 0.03}) as stand:
        spec_router, spec_metrics = stand.nginx.router_spec(), stand.prometheus.metrics_spec()
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Literal

from simulator.haproxy_proc import HaproxyProcess, run_haproxy
from simulator.nginx_proc import NginxProcess, run_nginx
from simulator.prometheus_proc import PrometheusProcess, run_prometheus
from simulator.testing import ModelServer, run_model_server


@dataclass
class Stand:
    """Handles on every process of the stand."""

    stable: ModelServer
    candidate: ModelServer
    nginx: NginxProcess
    prometheus: PrometheusProcess | None
    haproxy: HaproxyProcess | None = None
    """Runs (beside nginx) when the stand was started with ``router="haproxy"``, and is then its router."""

    @property
    def router_kind(self) -> Literal["nginx", "haproxy"]:
        """Which front the stand's target routes with."""
        return "nginx" if self.haproxy is None else "haproxy"

    @property
    def answer_url(self) -> str:
        """Where users' requests go: through the stand's router (HAProxy when it runs, else nginx)."""
        return self.nginx.answer_url if self.haproxy is None else self.haproxy.answer_url

    def target(self, **replay_sets: str) -> dict[str, Any]:
        """This stand as an operators' target (docs/security.md): its router, Prometheus, the two servers' URLs.

        What an operator writes into the policy's ``targets``; a spec then names it, never these paths.
        """
        assert self.prometheus is not None
        router = self.nginx.router_spec() if self.haproxy is None else self.haproxy.router_spec()
        return {
            "description": f"{self.router_kind} in front of two model servers, judged from Prometheus",
            "router": router,
            "metrics": self.prometheus.metrics_spec(),
            "url_prefixes": [self.stable.url, self.candidate.url],
            "replay_sets": replay_sets,
        }


@contextlib.asynccontextmanager
async def run_stand(
    *,
    stable_version: str = "v1",
    candidate_version: str = "v2",
    stable: dict[str, Any] | None = None,
    candidate: dict[str, Any] | None = None,
    prometheus: bool = True,
    scrape_interval: str = "1s",
    router: Literal["nginx", "haproxy"] = "nginx",
) -> AsyncIterator[Stand]:
    """Start the stand, ready to serve (nginx answering, every target scraped), and stop it at the end.

    Args:
        stable_version: version label of the stable server.
        candidate_version: version label of the candidate server.
        stable: knobs of the stable server (keyword arguments of ``run_model_server``).
        candidate: knobs of the candidate server.
        prometheus: also run Prometheus (the router-only benchmark does without).
        scrape_interval: Prometheus' scrape and evaluation interval.
        router: ``haproxy`` also runs HAProxy and makes it the stand's router (nginx stays the default; it keeps
            running beside HAProxy so every stand has the same handles).
    """
    async with contextlib.AsyncExitStack() as stack:
        stable_server = await stack.enter_async_context(
            run_model_server(version=stable_version, seed=1, **(stable or {}))
        )
        candidate_server = await stack.enter_async_context(
            run_model_server(version=candidate_version, seed=2, **(candidate or {}))
        )
        stable_url, candidate_url = stable_server.url, candidate_server.url
        nginx = await stack.enter_async_context(run_nginx(stable_url=stable_url, candidate_url=candidate_url))
        haproxy = (
            await stack.enter_async_context(run_haproxy(stable_url=stable_url, candidate_url=candidate_url))
            if router == "haproxy"
            else None
        )
        prom = None
        if prometheus:
            targets = [stable_server.url, candidate_server.url]
            prom = await stack.enter_async_context(run_prometheus(targets, scrape_interval=scrape_interval))
        yield Stand(stable=stable_server, candidate=candidate_server, nginx=nginx, prometheus=prom, haproxy=haproxy)
