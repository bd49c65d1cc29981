"""Issue 22's Pipeline on the dev server: staging (with the real eval gate), canary and production, each stage a
child Rollout on the simulator; a signed promotion before production (in the two-stage case, before the canary); a
failing staging stage stops the pipeline before the canary; a candidate that failed before is refused without
an override."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.exceptions import ApplicationError

from models.pipeline import PipelineRecord, PipelineResult, pipeline_id
from models.record import DeploymentRecord
from simulator.policies import write_lab_policy
from simulator.testing import Simulator, run_simulator
from tests.workflows.helpers import rollout_worker, unique_service, wait_until
from tests.workflows.test_operator_view import current_details

FAST = {"rps": 200000}
STEPS = {"analysis_interval": "1s", "criteria": {"min_requests": 5000}}


def pipeline_spec(sim: Simulator, service: str) -> dict[str, Any]:
    return {
        "service": service,
        "requested_by": "ml-engineer",
        "stable": {"version": sim.stable_version, "endpoint": sim.stable_url},
        "candidate": {"version": sim.candidate_version, "endpoint": sim.candidate_url},
        "stages": [
            {
                "name": "staging",
                "target": "staging",
                "rollout": {"eval": {"suite": "support"}, "steps": [{"weight": 50, "observe": "2s"}], **STEPS},
            },
            {
                "name": "canary",
                "target": "canary",
                "promotion": "signed",
                "rollout": {"steps": [{"weight": 10, "observe": "2s"}], **STEPS},
            },
        ],
    }


def three_stage_spec(sim: Simulator, service: str) -> dict[str, Any]:
    """Staging with the eval gate, a canary that follows on its own, production behind a signed promotion."""
    spec = pipeline_spec(sim, service)
    spec["stages"][1]["promotion"] = "auto"
    spec["stages"].append(
        {
            "name": "production",
            "target": "production",
            "promotion": "signed",
            "rollout": {"steps": [{"weight": 25, "observe": "2s"}], **STEPS},
        }
    )
    return spec


def policy(tmp_path: Path, sim: Simulator) -> Path:
    targets = {"staging": sim.eval_target(), "canary": sim.target(), "production": sim.target()}
    return write_lab_policy(tmp_path / "policy.json", targets)


async def start(client: Client, spec: dict[str, Any], task_queue: str) -> WorkflowHandle[Any, PipelineResult]:
    return await client.start_workflow(
        "Pipeline", spec, id=pipeline_id(spec["service"]), task_queue=task_queue, result_type=PipelineResult
    )


async def test_two_stages_promote_end_to_end_with_a_signed_promotion_between(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy(tmp_path, sim)):
        handle = await start(client, pipeline_spec(sim, service), task_queue)

        async def canary_waits() -> bool:
            record: PipelineRecord = await handle.query("status", result_type=PipelineRecord)
            return record.stages[1].state == "awaiting_promotion"

        await wait_until(canary_waits, what="the canary's promotion", timeout=120)
        details = await current_details(handle)
        assert "| 1 | staging | staging |" in details and "**promoted**" in details
        assert "**awaiting_promotion**" in details
        answer = await handle.execute_update("promote", {"approver": "release-manager"}, result_type=str)
        assert answer == "stage canary promoted by release-manager"
        result: PipelineResult = await handle.result()
        staging = await client.get_workflow_handle(result.record.stages[0].rollout_id or "").query(
            "record", result_type=DeploymentRecord
        )

    assert result.outcome == "promoted", result.markdown
    assert [s.state for s in result.record.stages] == ["promoted", "promoted"]
    assert [s.rollout_id for s in result.record.stages] == [
        f"pipeline-{service}--staging",
        f"pipeline-{service}--canary",
    ]
    canary = result.record.stages[1]
    assert canary.promoted_by == "release-manager" and canary.promotion_verified is False
    assert any(g.name == "eval" and g.passed for g in staging.gates), "staging ran the eval gate for real"


async def test_three_stages_run_from_staging_through_the_canary_to_production(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy(tmp_path, sim)):
        handle = await start(client, three_stage_spec(sim, service), task_queue)

        async def production_waits() -> bool:
            record: PipelineRecord = await handle.query("status", result_type=PipelineRecord)
            return record.stages[2].state == "awaiting_promotion"

        await wait_until(production_waits, what="production's promotion", timeout=180)
        details = await current_details(handle)
        assert "| 1 | staging | staging |" in details and "| 2 | canary | canary |" in details
        assert "| 3 | production | production |" in details and "**awaiting_promotion**" in details
        answer = await handle.execute_update("promote", {"approver": "release-manager"}, result_type=str)
        assert answer == "stage production promoted by release-manager"
        result: PipelineResult = await handle.result()
        staging = await client.get_workflow_handle(result.record.stages[0].rollout_id or "").query(
            "record", result_type=DeploymentRecord
        )
        routes = await sim.routes(service)

    assert result.outcome == "promoted", result.markdown
    assert [s.name for s in result.record.stages] == ["staging", "canary", "production"]
    assert [s.state for s in result.record.stages] == ["promoted", "promoted", "promoted"]
    assert [s.rollout_id for s in result.record.stages] == [
        f"pipeline-{service}--staging",
        f"pipeline-{service}--canary",
        f"pipeline-{service}--production",
    ]
    assert result.record.stages[1].promoted_by is None, "the canary followed staging on its own"
    assert result.record.stages[2].promoted_by == "release-manager"
    assert any(g.name == "eval" and g.passed for g in staging.gates), "staging ran the eval gate for real"
    assert routes == {"stable": 0.0, "candidate": 100.0}


async def test_a_failing_staging_stage_stops_before_the_canary(client: Client, task_queue: str, tmp_path: Path) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim:
        await sim.set_knobs("candidate", disagreement=0.5)
        async with rollout_worker(client, task_queue, policy_path=policy(tmp_path, sim)):
            spec = pipeline_spec(sim, service)
            result: PipelineResult = await (await start(client, spec, task_queue)).result()
            assert result.outcome == "stage_failed", result.markdown
            assert [s.state for s in result.record.stages] == ["failed", "skipped"]
            assert result.record.stages[1].rollout_id is None, "the canary never started"
            assert "eval gate failed" in (result.record.stages[0].summary or "")

            # The same candidate again: refused, naming the failed rollout, until someone signs an override.
            query = f"WorkflowType = 'Rollout' AND RolloutService = '{service}' AND RolloutOutcome = 'rolled_back'"

            async def visible() -> bool:
                return bool([w async for w in client.list_workflows(query)])

            await wait_until(visible, what="the failed rollout in visibility")
            with pytest.raises(WorkflowFailureError) as refused:
                await (await start(client, spec, task_queue)).result()
            cause = refused.value.cause
            assert isinstance(cause, ApplicationError) and cause.type == "PipelineRefused"
            assert f"pipeline-{service}--staging" in cause.message and "override" in cause.message


async def test_an_invalid_stage_is_refused_naming_its_field(client: Client, task_queue: str, tmp_path: Path) -> None:
    service = unique_service()
    async with run_simulator(knobs=FAST) as sim, rollout_worker(client, task_queue, policy_path=policy(tmp_path, sim)):
        spec = pipeline_spec(sim, service)
        spec["stages"][1]["rollout"]["steps"] = [{"weight": 150, "observe": "2s"}]
        with pytest.raises(WorkflowFailureError) as refused:
            await (await start(client, spec, task_queue)).result()
    cause = refused.value.cause
    assert isinstance(cause, ApplicationError) and cause.type == "InvalidPipelineSpec"
    assert "stages[1].rollout.steps" in cause.message
