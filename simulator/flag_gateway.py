"""The demo's gateway for the ``unleash`` router: each request goes to the candidate when the flag is on for its user.

The flag is evaluated by Unleash's own Python SDK (PyPI ``UnleashClient``), exactly as a production gateway would,
so what a rollout sets through the Admin API is what users get. The SDK polls the server's client API (every
second here) and evaluates locally; its context is the user id (``X-User-Id``, the rollout's stickiness), the
region (``X-Region``) and every other header by its lower-case name, which is where a step's segments look
(``models/segments.py``). A request without a user id is never exposed: the rollout is sticky by user.

Runs in the caller's event loop (tests, bench); ``POST /v1/answer`` answers with the chosen server's JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web
from UnleashClient.clients.unleash_client import UnleashClient

from models.segments import REGION_HEADER
from simulator.procs import free_port

_MAX_CONTEXT_HEADERS = 32
"""Headers copied into the flag context, at most: a request's few attributes, not a dump of everything."""


def flag_context(headers: dict[str, str]) -> dict[str, Any]:
    """The SDK context of a request: userId from X-User-Id, region from X-Region, other headers by lower-case name."""
    lowered = {k.lower(): v for k, v in list(headers.items())[:_MAX_CONTEXT_HEADERS]}
    properties = {k: v for k, v in lowered.items() if k not in {"x-user-id", "authorization", "cookie"}}
    if REGION_HEADER.lower() in lowered:
        properties["region"] = lowered[REGION_HEADER.lower()]
    context: dict[str, Any] = {"properties": properties}
    if "x-user-id" in lowered:
        context["userId"] = lowered["x-user-id"]
    return context


@dataclass
class FlagGateway:
    """Handle on a running gateway: where to send requests, and the SDK's own answer for a request's headers."""

    url: str
    flag: str
    client: UnleashClient

    @property
    def answer_url(self) -> str:
        return f"{self.url}/v1/answer"

    def exposed(self, headers: dict[str, str]) -> bool:
        """Whether the SDK, as it knows the flag now, sends a request with these headers to the candidate."""
        return bool(self.client.is_enabled(self.flag, flag_context(headers)))


@contextlib.asynccontextmanager
async def run_flag_gateway(
    *, unleash_url: str, client_token: str, flag: str, stable_url: str, candidate_url: str
) -> AsyncIterator[FlagGateway]:
    """Serve the gateway on a free loopback port until the block ends.

    Args:
        unleash_url: the Unleash server's base URL.
        client_token: a client API token of the flag's environment.
        flag: the flag whose 'on' means the candidate.
        stable_url: base URL of the stable model server.
        candidate_url: base URL of the candidate model server.
    """
    with tempfile.TemporaryDirectory(prefix="rollouts-unleash-sdk-") as cache_dir:
        client = UnleashClient(
            url=f"{unleash_url.rstrip('/')}/api",
            app_name="durable-rollouts-gateway",
            instance_id=f"gateway-{flag}",  # one SDK instance per gateway (the SDK warns about duplicates)
            refresh_interval=1,
            disable_metrics=True,
            disable_registration=True,
            custom_headers={"Authorization": client_token},
            cache_directory=cache_dir,
        )
        await asyncio.to_thread(client.initialize_client)
        gateway: FlagGateway | None = None
        async with httpx.AsyncClient(timeout=10.0) as upstream:

            async def answer(request: web.Request) -> web.Response:
                assert gateway is not None
                candidate = gateway.exposed(dict(request.headers))
                base = candidate_url if candidate else stable_url
                reply = await upstream.post(f"{base}/v1/answer", content=await request.read())
                return web.Response(body=reply.content, status=reply.status_code, content_type="application/json")

            app = web.Application()
            app.router.add_post("/v1/answer", answer)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            port = free_port()
            site = web.TCPSite(runner, "127.0.0.1", port)
            await site.start()
            gateway = FlagGateway(url=f"http://127.0.0.1:{port}", flag=flag, client=client)
            try:
                yield gateway
            finally:
                await runner.cleanup()
                await asyncio.to_thread(client.destroy)
