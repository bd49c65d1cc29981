"""A pipeline under a strict policy (signed specs and decisions), driven with the ``rollouts pipeline`` commands as
a person would: the requester's one signature stands for every stage; unsigned, it is refused; a stage's spec
copied out of the history cannot start a rollout outside its pipeline; the promotion between stages is signed."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from temporalio.client import Client, WorkflowFailureError
from temporalio.exceptions import ApplicationError

from models.pipeline import PipelineRecord, PipelineResult, pipeline_id
from models.record import DeploymentRecord
from simulator.testing import Simulator, run_simulator
from tests.signing import Person, make_person
from tests.workflows.helpers import rollout_worker, unique_service, wait_until
from tests.workflows.test_pipeline import FAST, pipeline_spec
from workers.cli.__main__ import main as rollouts_main


def strict_policy(path: Path, sim: Simulator, people: list[Person]) -> Path:
    """Production-like: every spec and decision signed, the simulator's two targets the only ones."""
    document = {
        "allowed_signers": [p.allowed() for p in people],
        "default": {
            "approvers": ["release-manager"],
            "targets": {"staging": sim.eval_target(), "canary": sim.target()},
        },
    }
    path.write_text(json.dumps(document, indent=2))
    return path


async def rollouts(*argv: str) -> int:
    return await asyncio.to_thread(rollouts_main, list(argv))


async def test_one_signature_carries_every_stage_and_the_promotion_is_signed(
    client: Client,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = unique_service()
    requester = make_person(tmp_path, "ml-engineer")
    manager = make_person(tmp_path, "release-manager")
    host, port = client.service_client.config.target_host.rsplit(":", 1)
    address = f"{host}:{port}"
    monkeypatch.setenv("ROLLOUTS_TASK_QUEUE", task_queue)
    async with run_simulator(knobs=FAST) as sim:
        policy = strict_policy(tmp_path / "policy.json", sim, [requester, manager])
        spec_file = tmp_path / "pipeline.json"
        spec: dict[str, Any] = pipeline_spec(sim, service)
        spec_file.write_text(json.dumps(spec))
        handle = client.get_workflow_handle(pipeline_id(service), result_type=PipelineResult)
        async with rollout_worker(client, task_queue, policy_path=policy):
            # Unsigned under a strict policy: refused before any stage starts.
            assert await rollouts("pipeline", "start", str(spec_file), "--wait", "--address", address) == 1
            assert "must be signed by 'ml-engineer'" in capsys.readouterr().err

            started = "pipeline", "start", str(spec_file), "--key", str(requester.key), "--address", address
            assert await rollouts(*started) == 0

            async def canary_waits() -> bool:
                record: PipelineRecord = await handle.query("status", result_type=PipelineRecord)
                return record.stages[1].state == "awaiting_promotion"

            await wait_until(canary_waits, what="the canary's promotion", timeout=120)
            capsys.readouterr()
            assert await rollouts("pipeline", "status", service, "--address", address) == 0
            table = capsys.readouterr().out
            assert "| 1 | staging | staging |" in table and "**awaiting_promotion**" in table

            # The staging stage's spec, copied out of the history, cannot start a rollout outside the pipeline.
            staging_id = f"{pipeline_id(service)}--staging"
            staging = await client.get_workflow_handle(staging_id).fetch_history()
            stolen = (
                await client.data_converter.decode(
                    staging.events[0].workflow_execution_started_event_attributes.input.payloads
                )
            )[0]
            assert (
                stolen["pipeline_stage"]["stage"] == "staging" and "signature" in stolen["pipeline_stage"]["pipeline"]
            )
            with pytest.raises(WorkflowFailureError) as refused:
                await client.execute_workflow("Rollout", stolen, id=f"rollout-{service}", task_queue=task_queue)
            cause = refused.value.cause
            assert isinstance(cause, ApplicationError) and "only as a child of its pipeline" in str(cause)

            # A promotion by someone the policy does not list as approver is refused; the manager's counts.
            promote = "pipeline", "promote", service, "--stage", "canary", "--yes", "--address", address
            assert await rollouts(*promote, "--key", str(requester.key), "--reason", "mine") == 1
            assert "may not decide" in capsys.readouterr().err
            assert await rollouts(*promote, "--key", str(manager.key), "--reason", "staging is green") == 0
            result = await handle.result()
            staging_record = await client.get_workflow_handle(staging_id).query("record", result_type=DeploymentRecord)

    assert result.outcome == "promoted", result.markdown
    assert result.record.spec_signed_by is not None
    assert staging_record.policy is not None and staging_record.policy.spec_signed_by == result.record.spec_signed_by
    canary = result.record.stages[1]
    assert canary.promoted_by == "release-manager" and canary.promotion_verified is True


async def test_a_candidate_that_failed_starts_again_only_with_a_signed_override(
    client: Client,
    task_queue: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    service = unique_service()
    requester = make_person(tmp_path, "ml-engineer")
    manager = make_person(tmp_path, "release-manager")
    host, port = client.service_client.config.target_host.rsplit(":", 1)
    address = f"{host}:{port}"
    monkeypatch.setenv("ROLLOUTS_TASK_QUEUE", task_queue)
    async with run_simulator(knobs=FAST) as sim:
        policy = strict_policy(tmp_path / "policy.json", sim, [requester, manager])
        spec_file = tmp_path / "pipeline.json"
        spec: dict[str, Any] = pipeline_spec(sim, service)
        spec["stages"] = spec["stages"][:1]  # staging only, with the eval gate
        spec_file.write_text(json.dumps(spec))
        start = "pipeline", "start", str(spec_file), "--key", str(requester.key), "--wait", "--address", address
        async with rollout_worker(client, task_queue, policy_path=policy):
            await sim.set_knobs("candidate", disagreement=0.5)
            assert await rollouts(*start) == 1, "the eval gate fails staging"
            query = f"WorkflowType = 'Rollout' AND RolloutService = '{service}' AND RolloutOutcome = 'rolled_back'"

            async def visible() -> bool:
                return bool([w async for w in client.list_workflows(query)])

            await wait_until(visible, what="the failed stage in visibility")
            await sim.set_knobs("candidate", disagreement=0.0)
            capsys.readouterr()
            assert await rollouts(*start) == 1
            assert "needs a signed override" in capsys.readouterr().err

            override = "pipeline", "override", str(spec_file), "--reason", "the prompt is fixed"
            assert await rollouts(*override, "--key", str(manager.key)) == 0
            assert await rollouts(*start) == 0
            result = await client.get_workflow_handle(pipeline_id(service), result_type=PipelineResult).result()

    assert result.outcome == "promoted", result.markdown
    assert result.record.failed_before == [f"{pipeline_id(service)}--staging"]
    assert (result.record.override or "").startswith("release-manager (signed SHA256:")
