"""Pieces of the end-to-end tests: a rollout spec for the real stand, background load, and routed versions."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from temporalio.client import WorkflowHandle

from simulator.loadgen import LoadSummary, run_load
from simulator.stand import Stand
from workflows.rollout.state import RolloutStatus

OVERRIDE_APPROVALS = {"approvers": ["ml-lead", "sre-oncall"], "quorum": 1}
"""Who may override a held step in the e2e specs (the requester, ml-engineer, never can)."""


STAND_TARGET = "stand"


def stand_policy(stand: Stand, directory: Path, **replay_sets: str) -> Path:
    """A lab policy (unsigned decisions count, recorded unverified) whose one target is this stand."""
    path = directory / "stand-policy.json"
    policy = {
        "default": {"approvers": ["*"], "allow_unsigned": True, "targets": {STAND_TARGET: stand.target(**replay_sets)}}
    }
    path.write_text(json.dumps(policy, indent=2))
    return path


def stand_spec(stand: Stand, service: str, **overrides: Any) -> dict[str, Any]:
    """A compressed rollout through the stand's router, judged from its Prometheus.

    Steps of tens of seconds, analysis every 2 s against a 1 s scrape, and a small minimum sample: with a few
    hundred requests per second through the router the sequential judge then decides within a step.
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
        "target": STAND_TARGET,
        "steps": [{"weight": 20, "observe": "12s"}, {"weight": 50, "observe": "12s"}],
        "analysis_interval": "2s",
        "criteria": {"min_requests": 150},
        "approvals": OVERRIDE_APPROVALS,
        "on_inconclusive": {"max_extensions": 1, "then": "pause"},
    }
    spec.update(overrides)
    return spec


@contextlib.asynccontextmanager
async def background_load(stand: Stand, rps: float = 200.0) -> AsyncIterator[asyncio.Task[LoadSummary]]:
    """Steady user traffic through the stand's router (1000 users, sticky ids) for the duration of the block."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_load(stand.answer_url, rps=rps, users=1000, duration=3600, stop=stop))
    try:
        yield task
    finally:
        stop.set()
        await task


async def routed_versions(stand: Stand, n: int, user: str | None = None) -> list[str]:
    """The version that answered each of ``n`` requests sent through the stand's router (nginx or HAProxy)."""
    headers = {"X-User-Id": user} if user is not None else {}
    out: list[str] = []
    async with httpx.AsyncClient(timeout=5.0) as client:
        for i in range(n):
            response = await client.post(stand.answer_url, json={"prompt": f"after-{i}"}, headers=headers)
            out.append(response.json()["version"])
    return out


@contextlib.asynccontextmanager
async def override_when_held(handle: WorkflowHandle[Any, Any], reason: str) -> AsyncIterator[list[int]]:
    """An approver who moves each held step on, with ``reason``, for as long as the block runs.

    Seconds of real traffic at a few hundred requests per second cannot prove a 1.2x error-rate criterion (and no
    errors at all never can), so a compressed healthy rollout ends its steps ``inconclusive``: the workflow holds
    them, and this is the person who decides. Yields the steps (0-based) it overrode.
    """
    overridden: list[int] = []

    async def approver() -> None:
        while True:
            status = await handle.query("status", result_type=RolloutStatus)
            if status.phase == "inconclusive" and status.step is not None and status.step - 1 not in overridden:
                await handle.execute_update("promote", {"approver": "ml-lead", "reason": reason})
                overridden.append(status.step - 1)
            if status.phase in ("promoted", "rolled_back", "failed"):
                return
            await asyncio.sleep(0.2)

    task = asyncio.create_task(approver())
    try:
        yield overridden
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
