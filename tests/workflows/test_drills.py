"""Rollback drills on the dev server: on a real nginx, against a rollout holding the lease, from a Schedule.

The nginx stand is the e2e one (two model servers, nginx, Prometheus on loopback): a drill started directly and
the schedule's drill both run on it. The other tests use the simulator's HTTP router, which is cheaper and enough
for the lease and for refusals. Targets, drill settings and
webhooks come from the operators' policy, as in production.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import (
    Client,
    ScheduleActionExecutionStartWorkflow,
    ScheduleActionStartWorkflow,
    WorkflowFailureError,
    WorkflowHandle,
)

from models.activities import RouterState
from models.drill import DRILL_WORKFLOW, DrillInput, DrillResult, drill_schedule_id
from simulator.policies import write_lab_policy
from simulator.stand import run_stand
from simulator.testing import run_simulator
from tests.workflows.helpers import (
    SIM_TARGET,
    rollout_worker,
    start_rollout,
    targeted_spec,
    unique_service,
    wait_for_status,
    wait_until,
    webhook_receiver,
)
from workers.cli.__main__ import main as rollouts_main
from workflows import search_attributes as sa

SECRET_ENV = "ROLLOUTS_TEST_DRILL_SECRET"
SECRET = "drill-secret-not-for-production"


async def run_drill(client: Client, task_queue: str, request: dict[str, Any]) -> WorkflowHandle[Any, DrillResult]:
    """Start a drill as a schedule does: the workflow type by name, the input as JSON."""
    return await client.start_workflow(
        DRILL_WORKFLOW,
        request,
        id=f"{drill_schedule_id(str(request.get('service')))}-test",
        task_queue=task_queue,
        result_type=DrillResult,
    )


@pytest.mark.e2e
async def test_a_drill_on_nginx_records_its_time_and_leaves_stable_serving(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_stand() as stand:
        policy = write_lab_policy(
            tmp_path / "policy.json",
            {"stand": stand.target()},
            drill={"target": "stand", "target_seconds": 600, "weight": 5, "dwell": "1s"},
        )
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await run_drill(client, task_queue, {"service": service})
            result = await handle.result()
            described = await handle.describe()
            # A service not at rest on stable (a promotion not folded into stable yet) is not touched.
            await stand.nginx.set_weights(100)
            refused = await (
                await client.start_workflow(
                    DRILL_WORKFLOW,
                    {"service": service},
                    id=f"drill-{service}-promoted",
                    task_queue=task_queue,
                    result_type=DrillResult,
                )
            ).result()
            after_refusal = await stand.nginx.router().read()

    assert result.outcome == "passed", result
    assert result.target == "stand" and result.weight == 5
    assert result.seconds_to_stable is not None and result.seconds_to_stable > 0
    assert result.router_before == RouterState(stable=100, candidate=0)
    assert result.router_after == RouterState(stable=100, candidate=0)
    events = [e.event for e in result.timeline]
    assert events.index("weight moved") < events.index("rollback started") < events.index("stable verified")
    assert described.typed_search_attributes.get(sa.DRILL_OUTCOME) == "passed"
    assert described.typed_search_attributes.get(sa.DRILL_SECONDS) == result.seconds_to_stable
    assert described.typed_search_attributes.get(sa.SERVICE) == service
    assert "verified stable in" in str((await described.memo())["drill"])
    assert refused.outcome == "refused" and "not at rest" in refused.detail
    assert after_refusal == RouterState(stable=0, candidate=100), "the drill did not undo the promotion"


async def test_a_drill_refuses_while_a_rollout_holds_the_lease(client: Client, task_queue: str, tmp_path: Path) -> None:
    service = unique_service()
    async with run_simulator(knobs={"rps": 2000}) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()}, drill={"target": SIM_TARGET})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = targeted_spec(sim, service, steps=[{"weight": 10, "observe": "10m"}])
            rollout = await start_rollout(client, spec, task_queue)
            await wait_for_status(rollout, lambda s: s.phase == "canary" and s.weight == 10, what="the canary")
            drill = await run_drill(client, task_queue, {"service": service})
            result = await drill.result()
            routes = await sim.routes(service)
            await rollout.execute_update("abort", {"by": "test", "reason": "done"})
            await rollout.result()

    assert result.outcome == "refused", result
    assert rollout.id in result.detail, "the refusal names the rollout that holds the lease"
    assert result.seconds_to_stable is None and result.router_before is None, "the router was not touched"
    assert routes["candidate"] == 10, "the rollout's canary kept its weight"


async def test_a_failing_drill_notifies_once_signed(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A drill whose router is down fails (bounded: it frees the lease) and tells the operators' webhook."""
    monkeypatch.setenv(SECRET_ENV, SECRET)
    service = unique_service()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}"
    async with run_simulator(knobs={"rps": 2000}) as sim, webhook_receiver() as (url, got):
        target = {**sim.target(), "router": {"kind": "http", "url": f"{dead}/routes/{{service}}"}}
        policy = write_lab_policy(
            tmp_path / "policy.json",
            {"broken": target},
            notifications=[{"url": f"{url}/json", "format": "json", "secret_env": SECRET_ENV, "events": ["drill"]}],
        )
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await run_drill(client, task_queue, {"service": service, "target": "broken"})).result()

    assert result.outcome == "failed" and "router unreadable" in result.detail, result
    assert result.notifications_sent == 1 and result.notifications_failed == 0
    assert len(got) == 1
    body = got[0].json()
    assert body["kind"] == "drill" and body["data"]["outcome"] == "failed" and body["service"] == service
    stamp = got[0].headers["X-Rollouts-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + got[0].body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(got[0].headers["X-Rollouts-Signature"], "sha256=" + expected)


async def test_invalid_input_and_unknown_targets_are_refused_naming_the_field(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs={"rps": 2000}) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: sim.target()})
        async with rollout_worker(client, task_queue, policy_path=policy):
            unknown = await (await run_drill(client, task_queue, {"service": service, "target": "prod"})).result()
            untargeted = await (await run_drill(client, task_queue, {"service": service})).result()
            bad = await run_drill(client, task_queue, {"service": "Not A Service", "router": {"kind": "http"}})
            with pytest.raises(WorkflowFailureError) as failure:
                await bad.result()

    assert unknown.outcome == "invalid" and "target: 'prod' is not a target" in unknown.detail
    assert untargeted.outcome == "invalid" and "sets no drill.target" in untargeted.detail
    message = str(failure.value.__cause__)
    assert "service" in message and "router" in message, message


@pytest.mark.e2e
async def test_the_command_creates_a_schedule_that_starts_drills_on_nginx(
    client: Client, task_queue: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = unique_service()
    host, port = client.service_client.config.target_host.rsplit(":", 1)
    monkeypatch.setenv("ROLLOUTS_TASK_QUEUE", task_queue)
    argv = ["drill", "schedule", service, "--every", "7d", "--target", "stand", "--address", f"{host}:{port}"]
    assert await asyncio.to_thread(rollouts_main, argv) == 0
    handle = client.get_schedule_handle(drill_schedule_id(service))
    try:
        described = await handle.describe()
        action = described.schedule.action
        assert isinstance(action, ScheduleActionStartWorkflow)
        assert action.workflow == DRILL_WORKFLOW and action.task_queue == task_queue
        assert described.schedule.spec.intervals[0].every.days == 7
        args = await client.data_converter.decode(action.args)
        assert DrillInput.model_validate(args[0]) == DrillInput(service=service, target="stand")
        # Running the command again updates the same schedule instead of failing.
        assert await asyncio.to_thread(rollouts_main, [*argv[:4], "24h", *argv[5:]]) == 0
        assert (await handle.describe()).schedule.spec.intervals[0].every.days == 1

        async with run_stand() as stand:
            policy = write_lab_policy(tmp_path / "policy.json", {"stand": stand.target()})
            async with rollout_worker(client, task_queue, policy_path=policy):
                await handle.trigger()

                async def started() -> bool:
                    return bool((await handle.describe()).info.recent_actions)

                await wait_until(started, what="the schedule's first drill")
                run = (await handle.describe()).info.recent_actions[0].action
                assert isinstance(run, ScheduleActionExecutionStartWorkflow)
                drill = client.get_workflow_handle(run.workflow_id, result_type=DrillResult)
                result = await drill.result()
                after = await stand.nginx.router().read()
    finally:
        await handle.delete()

    assert run.workflow_id.startswith(drill_schedule_id(service))
    assert result.outcome == "passed" and result.target == "stand", result
    assert result.seconds_to_stable is not None and result.seconds_to_stable > 0, "the drill recorded its time"
    assert result.router_after == RouterState(stable=100, candidate=0) and after == result.router_after
