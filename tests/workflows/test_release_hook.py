"""The release hook after a watch (issue 20): the operators' endpoint frees the old version once the watch passed.

Real dev server, the simulator's router and metrics, and a real HTTP receiver on loopback (the webhook receiver,
answering 202 or 404) standing in for the operators' scale-down endpoint. A hook that refuses is recorded and
leaves the promotion as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client

from models.record import render_markdown
from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import (
    SIM_TARGET,
    rollout_worker,
    start_rollout,
    targeted_spec,
    unique_service,
    webhook_receiver,
)

FAST = {"rps": 200000}
WATCHED: list[dict[str, Any]] = [
    {"kind": "canary", "weight": 10, "observe": "2s"},
    {"kind": "watch", "duration": "2s"},
]


def watched_spec(sim: Any, service: str) -> dict[str, Any]:
    spec = targeted_spec(sim, service, strategy=WATCHED)
    del spec["steps"]
    return spec


async def test_a_passed_watch_releases_the_old_version_through_the_hook(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, webhook_receiver(202) as (hook, got):
        target = {**sim.target(), "release_hook": {"url": f"{hook}/release"}}
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: target})
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, watched_spec(sim, service), task_queue)
            result = await handle.result()

    record = result.record
    assert record.outcome == "promoted", result.summary
    assert len(got) == 1, "one release, after the watch"
    headers, body = got[0].headers, got[0].json()
    assert got[0].path == "/release"
    assert body == {"service": service, "release": "v1", "serving": "v2", "rollout": handle.id}
    assert headers["Idempotency-Key"].startswith(f"{handle.id}/") and headers["Idempotency-Key"].endswith("/release")
    assert record.release is not None and record.release.outcome == "released" and record.release.status == 202
    events = [e.event for e in record.timeline]
    assert events.index("watch passed") < events.index("old version released")
    assert "v1 released through the operators' hook (HTTP 202)" in render_markdown(record)


async def test_a_refusing_hook_is_recorded_and_the_promotion_stands(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, webhook_receiver(404) as (hook, got):
        target = {**sim.target(), "release_hook": {"url": f"{hook}/release"}}
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: target})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, watched_spec(sim, service), task_queue)).result()
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "promoted", result.summary
    assert len(got) == 1, "a 404 is not retried: the next attempt would be refused the same way"
    assert record.release is not None and record.release.outcome == "failed"
    assert record.release.error is not None and "HTTP 404" in record.release.error
    assert routes["candidate"] == 100, "a failed release never undoes the promotion"
    assert "v1 **not released**" in render_markdown(record)
