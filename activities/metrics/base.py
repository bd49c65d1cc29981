"""The metrics-provider interface: cumulative counters of one version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from models.counters import Counters, CustomValue
from models.custom_metrics import CustomMetric


class MetricsProvider(Protocol):
    """Where the counters of stable and candidate come from."""

    async def counters(self, version: str, since: float | None = None) -> Counters:
        """Cumulative counters of ``version`` since its serving process started.

        ``since``: the instant of the previous reading (its ``at``), for a provider that keeps samples to report
        what a process that restarted after it served before the restart (``Counters.before_restart``).
        """
        ...

    async def custom(
        self, version: str, definitions: Mapping[str, CustomMetric], counters: Counters
    ) -> dict[str, CustomValue]:
        """The custom metrics ``definitions`` of ``version`` by name; ``counters`` is its reading just taken.

        A metric the provider cannot find is an error (an analysis error for the workflow), never a zero: a
        misspelt field must not pass a ceiling of 0 for ever.
        """
        ...
