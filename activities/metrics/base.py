"""The metrics-provider interface: cumulative counters of one version."""

from __future__ import annotations

from typing import Protocol

from models.counters import Counters


class MetricsProvider(Protocol):
    """Where the counters of stable and candidate come from."""

    async def counters(self, version: str) -> Counters:
        """Cumulative counters of ``version`` since its serving process started."""
        ...
