"""Metrics ``http-json``: ``GET {url}?version=<v>`` returns the cumulative counters as JSON."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from activities.errors import ProviderUnavailable
from activities.http_errors import provider_call
from models.counters import Counters, CustomValue
from models.custom_metrics import CustomMetric
from models.spec import HttpJsonMetrics


class HttpJsonMetricsProvider:
    """A ``MetricsProvider`` for a service that counts its own requests (the simulator does), no Prometheus needed."""

    def __init__(self, spec: HttpJsonMetrics, http: httpx.AsyncClient) -> None:
        self._url = spec.url
        self._http = http

    async def counters(self, version: str, since: float | None = None) -> Counters:
        """The counters as the endpoint returns them; a body that does not fit ``Counters`` is rejected.

        The endpoint keeps no samples, so ``since`` is not asked about, and a ``before_restart`` in its answer is
        dropped: it would be counted against a previous reading the endpoint never saw.
        """
        async with provider_call(f"metrics GET {self._url}?version={version}"):
            # Merge, not replace: the configured URL may carry its own query (?service=...).
            response = await self._http.get(httpx.URL(self._url).copy_merge_params({"version": version}))
            response.raise_for_status()
            counters = Counters.model_validate_json(response.content)
        if counters.before_restart is None and all(s.before_restart is None for s in counters.series.values()):
            return counters
        series = {name: s.model_copy(update={"before_restart": None}) for name, s in counters.series.items()}
        return counters.model_copy(update={"before_restart": None, "series": series})

    async def custom(
        self, version: str, definitions: Mapping[str, CustomMetric], counters: Counters
    ) -> dict[str, CustomValue]:
        """Custom metrics come in the same answer, under ``custom``: each definition's ``field`` (or its name)."""
        values: dict[str, CustomValue] = {}
        for name, definition in definitions.items():
            field = definition.field or name
            if field not in counters.custom:
                present = ", ".join(sorted(counters.custom)) or "none"
                raise ProviderUnavailable(
                    f"metrics GET {self._url}?version={version}: the answer has no custom.{field} for custom metric "
                    f"{name!r} (custom fields: {present})"
                )
            values[name] = counters.custom[field]
        return values
