"""Router ``http``: ``PUT {url}`` with the weights, ``GET {url}`` to read them back.

A mirror is asked for with ``"mirror": true`` in the body and read back from the same key; a body without it means
off, so an API that knows nothing of mirrors reads back as off and a rollout that asked for one stops there.
"""

from __future__ import annotations

import httpx

from activities.http_errors import provider_call
from models.activities import RouterState
from models.spec import HttpRouter


class HttpTrafficRouter:
    """A router behind a small HTTP API (the simulator's, or a user's own control plane)."""

    def __init__(self, spec: HttpRouter, http: httpx.AsyncClient) -> None:
        self._url = spec.url
        self._http = http

    async def apply(self, state: RouterState) -> None:
        """PUT the weights; the API must treat a repeated PUT as a no-op, since Temporal retries after a lost answer."""
        async with provider_call(f"router PUT {self._url}"):
            response = await self._http.put(self._url, json=state.model_dump(exclude={"segments"}))
            response.raise_for_status()

    async def read(self) -> RouterState:
        """GET the weights the API applies; a body without numeric ``stable`` and ``candidate`` is final (no retry)."""
        async with provider_call(f"router GET {self._url}"):
            response = await self._http.get(self._url)
            response.raise_for_status()
            data = response.json()
            if not isinstance(data, dict):
                raise ValueError(f"expected a JSON object with stable and candidate weights, got {data!r:.100}")
            # A ValidationError is a ValueError: provider_call reports it as an unusable answer.
            return RouterState.model_validate(
                {"stable": data.get("stable"), "candidate": data.get("candidate"), "mirror": data.get("mirror", False)}
            )
