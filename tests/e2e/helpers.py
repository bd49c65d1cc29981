"""Pieces of the end-to-end tests: a rollout spec for the real stand, background load, and routed versions."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from simulator.loadgen import LoadSummary, run_load
from simulator.stand import Stand


def stand_spec(stand: Stand, service: str, **overrides: Any) -> dict[str, Any]:
    """A compressed rollout through the stand's nginx, judged from its Prometheus.

    Steps of tens of seconds, analysis every 2 s against a 1 s scrape, and a small minimum sample: with a few
    hundred requests per second through nginx the sequential judge then decides within a step.
    """
    assert stand.prometheus is not None
    spec: dict[str, Any] = {
        "service": service,
        "requested_by": "ml-engineer",
        "stable": {"version": stand.stable.version, "endpoint": stand.stable.answer_url},
        "candidate": {
            "version": stand.candidate.version,
            "endpoint": stand.candidate.answer_url,
            "manifest": {"model": "gpt-4o-mini-2024-07-18", "system_prompt_sha": "a4f2c1"},
        },
        "router": stand.nginx.router_spec(),
        "metrics": stand.prometheus.metrics_spec(),
        "steps": [{"weight": 20, "observe": "12s"}, {"weight": 50, "observe": "12s"}],
        "analysis_interval": "2s",
        "criteria": {"min_requests": 150},
    }
    spec.update(overrides)
    return spec


@contextlib.asynccontextmanager
async def background_load(stand: Stand, rps: float = 200.0) -> AsyncIterator[asyncio.Task[LoadSummary]]:
    """Steady user traffic through nginx (1000 users, sticky ids) for the duration of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_load(stand.nginx.answer_url, rps=rps, users=1000, duration=3600, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await task


async def routed_versions(stand: Stand, n: int, user: str | None = None) -> list[str]:
    """The version that answered each of ``n`` requests sent through nginx."""
    headers = {"X-User-Id": user} if user is not None else {}
    out: list[str] = []
    async with httpx.AsyncClient(timeout=5.0) as client:
        for i in range(n):
            response = await client.post(stand.nginx.answer_url, json={"prompt": f"after-{i}"}, headers=headers)
            out.append(response.json()["version"])
    return out
