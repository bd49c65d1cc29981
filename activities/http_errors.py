"""Map httpx outcomes onto our error tree, the same way for every HTTP provider."""

from __future__ import annotations

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
        raise ProviderUnavailable(f"{what}: {type(exc).__name__}: {exc}") from exc
    except ValueError as exc:  # JSON that does not parse or does not fit the model
        raise ProviderRejected(f"{what}: unusable answer: {exc}") from exc
