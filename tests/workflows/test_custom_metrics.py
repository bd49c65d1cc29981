"""Custom metrics on the dev server: a count with a ceiling of 0 rolls back on its first occurrence; a rate judged
like the error rate passes a healthy candidate, which promotes.

The simulator's ``events`` knob makes a version emit named events on a share of its requests, reported under the
counters' ``custom`` and read through the http-json provider of the operators' ``sim`` target, whose policy
defines the custom metrics (the spec only names them).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from temporalio.client import Client

from models.custom_metrics import CustomMetric, definitions_sha256
from models.record import render_markdown
from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import SIM_TARGET, rollout_worker, start_rollout, targeted_spec, unique_service

FAST = {"rps": 200000}
DEFINITIONS: dict[str, dict[str, Any]] = {
    "critical_errors": {"kind": "count", "limit": 0, "description": "Critical errors: any occurrence"},
    "refusals": {"kind": "rate", "limit": 1.5, "description": "Refused answers per request"},
}


def target_with_custom_metrics(sim: Any) -> dict[str, Any]:
    return {**sim.target(), "custom_metrics": DEFINITIONS}


async def test_a_count_with_ceiling_zero_rolls_back_on_its_first_occurrence(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    knobs = {**FAST, "stable": {"events": {"critical_errors": 0.0}}, "candidate": {"events": {"critical_errors": 1e-4}}}
    async with run_simulator(knobs=knobs) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: target_with_custom_metrics(sim)})
        async with rollout_worker(client, task_queue, policy_path=policy):
            spec = targeted_spec(
                sim, service, criteria={"min_requests": 5000, "custom": [{"metric": "critical_errors"}]}
            )
            result = await (await start_rollout(client, spec, task_queue)).result()

    record = result.record
    assert record.outcome == "rolled_back" and record.rollback is not None, result.summary
    assert record.rollback.cause == "analysis"
    assert "critical_errors" in record.rollback.reason and "ceiling 0" in record.rollback.reason
    judged = [a for a in record.analyses if a.decision != "error"]
    deciding = judged[-1]
    assert deciding.decision == "rollback" and "custom:critical_errors" in deciding.triggers_breached
    assert [v.metric for v in deciding.custom] == ["critical_errors"]
    assert deciding.custom[0].verdict == "fail" and (deciding.custom[0].candidate or 0) >= 1
    # The first occurrence: every analysis before the deciding one saw none.
    assert all(a.custom[0].candidate == 0 for a in judged[:-1])
    assert record.steps[-1].weight == 10, "rolled back in the first step"
    expected = definitions_sha256({"critical_errors": CustomMetric.model_validate(DEFINITIONS["critical_errors"])})
    assert record.custom_metrics_sha256 == expected
    markdown = render_markdown(record)
    assert f"- custom metrics: critical_errors; definitions sha256 `{expected}`" in markdown
    assert "  - critical_errors (count): fail (" in markdown


async def test_a_rate_judged_like_the_error_rate_passes_a_healthy_candidate(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    same = {"events": {"refusals": 0.02, "critical_errors": 0.0}}
    async with run_simulator(knobs={**FAST, "stable": same, "candidate": same}) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: target_with_custom_metrics(sim)})
        async with rollout_worker(client, task_queue, policy_path=policy):
            criteria = {"min_requests": 5000, "custom": [{"metric": "refusals"}, {"metric": "critical_errors"}]}
            result = await (
                await start_rollout(client, targeted_spec(sim, service, criteria=criteria), task_queue)
            ).result()

    record = result.record
    assert record.outcome == "promoted", result.summary
    verdicts = [v for a in record.analyses for v in a.custom if v.metric == "refusals"]
    assert verdicts and verdicts[-1].verdict == "pass" and verdicts[-1].kind == "rate"
    assert verdicts[-1].upper is not None and verdicts[-1].upper <= 1.5
    assert all(report.evidence == "pass" for report in record.steps)


async def test_a_rate_three_times_stables_rolls_back(client: Client, task_queue: str, tmp_path: Path) -> None:
    service = unique_service()
    knobs = {**FAST, "stable": {"events": {"refusals": 0.02}}, "candidate": {"events": {"refusals": 0.06}}}
    async with run_simulator(knobs=knobs) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: target_with_custom_metrics(sim)})
        async with rollout_worker(client, task_queue, policy_path=policy):
            criteria = {"min_requests": 5000, "custom": [{"metric": "refusals"}]}
            result = await (
                await start_rollout(client, targeted_spec(sim, service, criteria=criteria), task_queue)
            ).result()

    record = result.record
    assert record.outcome == "rolled_back" and record.rollback is not None, result.summary
    assert record.rollback.reason.startswith("custom metrics failed: refusals: the rate is worse than the limit 1.5")
