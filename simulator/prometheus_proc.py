"""A real Prometheus scraping the model servers, as a plain process of ours, for the e2e tests and the demo.

Scrape and evaluation interval default to 1 s so a test sees a change within a couple of seconds. The TSDB lives
in the run folder and survives :meth:`PrometheusProcess.stop` / :meth:`PrometheusProcess.start`, so a test can
take Prometheus down for a while and bring the same one back on the same port.

Example::

    async with run_prometheus([stable.url, candidate.url]) as prom:
        spec = prom.metrics_spec()          # {"kind": "prometheus", "url": ...}
        async with prom.down():
            ...                             # Prometheus unreachable here
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from simulator.procs import binary, free_port, host_port, run_folder, running

_READY_TIMEOUT_S = 30.0


def _config(targets: Sequence[str], scrape_interval: str) -> str:
    listed = ", ".join(f'"{host_port(url)}"' for url in targets)
    return f"""# durable-rollouts test stand (generated; see simulator/prometheus_proc.py)
global:
  scrape_interval: {scrape_interval}
  scrape_timeout: {scrape_interval}
  evaluation_interval: {scrape_interval}
scrape_configs:
  - job_name: model
    static_configs:
      - targets: [{listed}]
"""


INPUT_FEATURES_QUERY = 'sum by (feature, value) (model_input_requests_total{version="$version"})'
"""Requests per input feature and value, as ``python -m simulator.model_server`` exports them."""


@dataclass
class PrometheusProcess:
    """Handle on a Prometheus of ours: URL, folder, and stop/start for outage tests."""

    url: str
    port: int
    folder: Path
    targets: list[str]
    process: asyncio.subprocess.Process | None = None
    client: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=5.0), repr=False)
    _running: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack, init=False, repr=False)
    """Holds the process that :meth:`start` entered, for :meth:`stop` to leave (the two are separate calls)."""

    def metrics_spec(self, **overrides: Any) -> dict[str, Any]:
        """The ``metrics`` part of a rollout spec for this Prometheus: default queries, and the input histograms the
        model servers export (simulator/inputs.py)."""
        queries = {"input_features": INPUT_FEATURES_QUERY}
        return {"kind": "prometheus", "url": self.url, "queries": queries, **overrides}

    async def start(self) -> None:
        """Start (or restart, on the same port and TSDB) and wait until every target has been scraped."""
        if self.process is not None and self.process.returncode is None:
            return
        self.process = await self._running.enter_async_context(
            running(
                [
                    binary("prometheus"),
                    f"--config.file={self.folder / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.folder / 'data'}",
                    "--storage.tsdb.retention.time=2h",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                ready=lambda _process: self._all_targets_up(),
                what=f"prometheus on port {self.port}",
                timeout=_READY_TIMEOUT_S,
                log=self.folder / "prometheus.out",
            )
        )

    async def stop(self) -> None:
        """Stop the process (SIGTERM; its data stays for :meth:`start`)."""
        await self._running.aclose()

    @contextlib.asynccontextmanager
    async def down(self) -> AsyncIterator[None]:
        """Prometheus is stopped inside the block and back (and scraping) after it."""
        await self.stop()
        try:
            yield
        finally:
            await self.start()

    async def query(self, promql: str) -> list[dict[str, Any]]:
        """An instant query's result vector."""
        response = await self.client.get(f"{self.url}/api/v1/query", params={"query": promql})
        response.raise_for_status()
        result: list[dict[str, Any]] = response.json()["data"]["result"]
        return result

    async def _all_targets_up(self) -> bool:
        try:
            up = await self.query('up{job="model"} == 1')
        except (httpx.HTTPError, KeyError, ValueError):
            return False
        return len(up) == len(self.targets)


@contextlib.asynccontextmanager
async def run_prometheus(targets: Sequence[str], *, scrape_interval: str = "1s") -> AsyncIterator[PrometheusProcess]:
    """Run Prometheus on a free loopback port, scraping ``targets`` (base URLs serving ``/metrics``).

    Yields once every target has been scraped successfully, so a first query already has data.
    """
    with run_folder("prometheus") as folder:
        (folder / "prometheus.yml").write_text(_config(targets, scrape_interval))
        port = free_port()
        prometheus = PrometheusProcess(url=f"http://127.0.0.1:{port}", port=port, folder=folder, targets=list(targets))
        try:
            await prometheus.start()
            yield prometheus
        finally:
            await prometheus.stop()
            await prometheus.client.aclose()
