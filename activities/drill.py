"""``read_weights``: what a router applies now, read without changing it, so a drill starts only on a router at rest.

A drill must not put stable back at 100% on a router where the candidate side serves everything (a promotion the
operators have not yet folded into stable): that would be a rollback of a promoted version. Reading first lets the
drill refuse instead. Read-only, so retries are harmless.
"""

from __future__ import annotations

import httpx
import structlog
from temporalio import activity

from activities.errors import ProviderError
from activities.factory import router_for
from models.activities import RouterState
from models.drill import ReadWeightsInput


class DrillActivities:
    """The drill's own activity, on the worker's shared HTTP client; it moves traffic with ``set_weights``."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def all(self) -> list[object]:
        """Every activity of this class, for the worker."""
        return [self.read_weights]

    @activity.defn(name="read_weights")
    async def read_weights(self, request: ReadWeightsInput) -> RouterState:
        """The router's current shares."""
        try:
            state = await router_for(request.router, self._http).read()
        except ProviderError as exc:
            raise exc.to_application_error() from exc
        structlog.get_logger("activities").info(
            "weights read", service=request.service, stable=state.stable, candidate=state.candidate
        )
        return state
