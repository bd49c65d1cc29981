"""Map httpx outcomes onto our error tree, the same way for every HTTP provider."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from activities.errors import ProviderRejected, ProviderUnavailable


@asynccontextmanager
async def provider_call(what: str) -> AsyncIterator[None]:
    """Translate transport errors and HTTP statuses: 5xx and 429 are retried, other 4xx are final."""
    try:
        yield
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        body = exc.response.text[:300]
        if status >= 500 or status == 429:
            raise ProviderUnavailable(f"{what}: HTTP {status}: {body}") from exc
        raise ProviderRejected(f"{what}: HTTP {status}: {body}") from exc
    except httpx.TransportError as exc:
        raise ProviderUnavailable(f"{what}: {transport_problem(exc)}") from exc
    except ValueError as exc:  # JSON that does not parse or does not fit the model
        raise ProviderRejected(f"{what}: unusable answer: {exc}") from exc


def transport_problem(exc: httpx.TransportError) -> str:
    """A transport error said plainly: a refused connection is named as such, with where it was refused.

    httpx reports a refused connection as ``ConnectError: All connection attempts failed``, which does not tell a
    person that nothing listens at the address the spec names; the type stays in the message for searching.
    """
    where = ""
    with contextlib.suppress(RuntimeError):  # an error raised without its request has no URL
        where = f" at {exc.request.url}"
    if isinstance(exc, httpx.ConnectError):
        return f"connection refused{where}: is anything listening there? (ConnectError: {exc})"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer in time{where} ({type(exc).__name__}: {exc})"
    return f"{type(exc).__name__}{where}: {exc}"


def delivery_status(where: str, status: int) -> int:
    """A delivery's answer (a webhook, a release hook): 2xx returned, 5xx, 408 and 429 retried, the rest final.

    No response body is quoted: a receiver's page has no place in a workflow's history.
    """
    if 200 <= status < 300:
        return status
    if status >= 500 or status in (408, 429):
        raise ProviderUnavailable(f"{where}: HTTP {status}")
    raise ProviderRejected(f"{where}: HTTP {status}")
