"""``release_old_version``: POST to the operators' release hook once a watched promotion has passed.

Idempotent from the hook's side: every attempt carries the same ``Idempotency-Key``, so a retried request after a
lost answer scales nothing down twice. 5xx, 408, 429 and transport errors are retried by Temporal; any other 4xx
is not, since the next attempt would be refused the same way.
"""

from __future__ import annotations

import httpx
import structlog
from temporalio import activity

from activities.errors import ProviderError, ProviderUnavailable
from activities.http_errors import delivery_status
from models.release import ReleaseInput, ReleaseResult

RELEASE_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
"""One attempt's budget: a hook should accept the job at once and scale down in its own time."""


class ReleaseActivities:
    """The release hook's activity, on the worker's shared HTTP client."""

    def __init__(self, http: httpx.AsyncClient) -> None:
        self._http = http

    def all(self) -> list[object]:
        """Every activity of this class, for the worker."""
        return [self.release_old_version]

    @activity.defn(name="release_old_version")
    async def release_old_version(self, request: ReleaseInput) -> ReleaseResult:
        """Ask the hook to free the old version; 2xx is done."""
        log = structlog.get_logger("activities").bind(
            service=request.service, released=request.released_version, attempt=activity.info().attempt
        )
        body = {
            "service": request.service,
            "release": request.released_version,
            "serving": request.serving_version,
            "rollout": request.rollout_id,
        }
        try:
            status = await self._post(request, body)
        except ProviderError as exc:
            log.warning("release hook failed", error=str(exc))
            raise exc.to_application_error() from exc
        log.info("old version released", status=status)
        return ReleaseResult(status=status)

    async def _post(self, request: ReleaseInput, body: dict[str, str]) -> int:
        where = f"release hook of {request.service}"
        headers = {"Idempotency-Key": request.idempotency_key}
        try:
            response = await self._http.post(request.hook.url, json=body, headers=headers, timeout=RELEASE_TIMEOUT)
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{where}: {type(exc).__name__}") from None
        return delivery_status(where, response.status_code)
