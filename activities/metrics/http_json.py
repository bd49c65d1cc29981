"""Metrics ``http-json``: ``GET {url}?version=<v>`` returns the cumulative counters as JSON."""

from __future__ import annotations

import httpx

from activities.http_errors import provider_call
from models.counters import Counters
from models.spec import HttpJsonMetrics


class HttpJsonMetricsProvider:
    """A ``MetricsProvider`` for a service that counts its own requests (the simulator does), no Prometheus needed."""

    def __init__(self, spec: HttpJsonMetrics, http: httpx.AsyncClient) -> None:
        self._url = spec.url
        self._http = http

    async def counters(self, version: str) -> Counters:
        """The counters exactly as the endpoint returns them; a body that does not fit ``Counters`` is rejected."""
        async with provider_call(f"metrics GET {self._url}?version={version}"):
            # Merge, not replace: the configured URL may carry its own query (?service=...).
            response = await self._http.get(httpx.URL(self._url).copy_merge_params({"version": version}))
            response.raise_for_status()
            return Counters.model_validate_json(response.content)
