"""The real-traffic stand: two model servers, nginx routing between them, Prometheus scraping both.

This is the world of the e2e tests, the nginx benchmark and the demo: every request is real HTTP through a real
nginx, and the rollout reads a real Prometheus.

Example::

    async with run_stand(candidate={"error_rate": 0.03}) as stand:
        spec_router, spec_metrics = stand.nginx.router_spec(), stand.prometheus.metrics_spec()
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

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

    def target(self, **replay_sets: str) -> dict[str, Any]:
        """This stand as an operators' target (docs/security.md): nginx, Prometheus, the two servers' URLs.

        What an operator writes into the policy's ``targets``; a spec then names it, never these paths.
        """
        assert self.prometheus is not None
        return {
            "description": "nginx in front of two model servers, judged from Prometheus",
            "router": self.nginx.router_spec(),
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
) -> AsyncIterator[Stand]:
    """Start the stand, ready to serve (nginx answering, every target scraped), and stop it at the end.

    Args:
        stable_version: version label of the stable server.
        candidate_version: version label of the candidate server.
        stable: knobs of the stable server (keyword arguments of ``run_model_server``).
        candidate: knobs of the candidate server.
        prometheus: also run Prometheus (the router-only benchmark does without).
        scrape_interval: Prometheus' scrape and evaluation interval.
    """
    async with (
        run_model_server(version=stable_version, seed=1, **(stable or {})) as stable_server,
        run_model_server(version=candidate_version, seed=2, **(candidate or {})) as candidate_server,
        run_nginx(stable_url=stable_server.url, candidate_url=candidate_server.url) as nginx,
    ):
        if not prometheus:
            yield Stand(stable=stable_server, candidate=candidate_server, nginx=nginx, prometheus=None)
            return
        targets = [stable_server.url, candidate_server.url]
        async with run_prometheus(targets, scrape_interval=scrape_interval) as prom:
            yield Stand(stable=stable_server, candidate=candidate_server, nginx=nginx, prometheus=prom)
