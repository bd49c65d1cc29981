"""``send_notification``: one event to one of the operators' webhooks, signed, with an idempotency key.

The workflow starts it and does not wait on it (workflows/rollout/notify.py): a receiver that is down costs the
rollout nothing but a count in the record. Temporal retries a failed attempt (``calls.NOTIFY_RETRY``); a receiver
that refuses the request (4xx other than 408 and 429) or a worker that lacks the webhook's variables is not
retried, since the next attempt would fail the same way.

The URL and the secret may come from the worker's environment (``url_env``, ``secret_env``): they are read here,
at each attempt, and never returned or put in an error message, so they stay out of the workflow's history.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping

import httpx
import structlog
from temporalio import activity

from activities.errors import ProviderError, ProviderRejected, ProviderUnavailable
from activities.http_errors import delivery_status
from activities.webhooks import body_for, headers_for
from models.notifications import NotifyInput, NotifyResult, Webhook

NOTIFY_TIMEOUT = httpx.Timeout(5.0, connect=3.0)
"""One attempt's HTTP budget: a receiver should answer at once and do its work later."""


class NotifyActivities:
    """The notification activity, on the worker's shared HTTP client and its environment."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        environ: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._environ = os.environ if environ is None else environ
        self._clock = clock

    def all(self) -> list[object]:
        """Every activity of this class, for the worker."""
        return [self.send_notification]

    def _variable(self, hook: Webhook, name: str, what: str) -> str:
        value = self._environ.get(name)
        if not value:
            raise ProviderRejected(f"webhook {hook.where()}: {what} variable {name} is not set on the worker")
        return value

    @activity.defn(name="send_notification")
    async def send_notification(self, request: NotifyInput) -> NotifyResult:
        """POST the event's body; 2xx is delivered, 5xx, 408, 429 and transport errors are retried."""
        hook, event = request.webhook, request.event
        log = structlog.get_logger("activities").bind(
            webhook=hook.where(), event=event.kind, key=event.idempotency_key, attempt=activity.info().attempt
        )
        try:
            url = hook.url if hook.url is not None else self._variable(hook, hook.url_env or "", "URL")
            secret = self._variable(hook, hook.secret_env, "secret").encode() if hook.secret_env else None
            body = body_for(hook.format, event)
            headers = headers_for(event, body, secret=secret, timestamp=int(self._clock()))
            status = await self._post(hook, url, body, headers)
        except ProviderError as exc:
            log.warning("notification not delivered", error=str(exc))
            raise exc.to_application_error() from exc
        log.info("notification delivered", status=status)
        return NotifyResult(status=status)

    async def _post(self, hook: Webhook, url: str, body: bytes, headers: dict[str, str]) -> int:
        """The request, its failures named by ``hook.where()`` (never the URL from a variable, which is secret)."""
        where = f"webhook {hook.where()}"
        try:
            response = await self._http.post(url, content=body, headers=headers, timeout=NOTIFY_TIMEOUT)
        except httpx.TransportError as exc:
            raise ProviderUnavailable(f"{where}: {type(exc).__name__}") from None
        return delivery_status(where, response.status_code)
