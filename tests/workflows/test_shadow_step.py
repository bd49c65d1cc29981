"""The shadow strategy item on the dev server, through the simulator, and the combined strategy it opens.

The combined spec of issue 20 (shadow -> canary 1/10/50 -> A/B 50/50 -> 100% -> watch) runs to promotion with a
candidate that answers as stable does and scores better; a shadow item whose candidate disagrees rolls back
before the router is ever called, its step report naming the agreement and the requests compared.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from temporalio.client import Client

from simulator.policies import write_lab_policy
from simulator.testing import run_simulator
from tests.workflows.helpers import SIM_TARGET, rollout_worker, start_rollout, unique_service
from tests.workflows.test_strategies import FAST, previewed_target, strategy_spec

COMBINED_EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "strategy-combined.json"
SHADOW_ITEM: dict[str, Any] = {
    "kind": "shadow",
    "replay": "support",
    "max_requests": 20,
    "compare": {"kind": "json-fields", "fields": ["answer"]},
    "min_agreement": 0.9,
}
COMPRESSED: dict[str, dict[str, Any]] = {
    "shadow": {"replay": "support", "max_requests": 20},
    "canary": {"observe": "2s"},
    "ab_test": {"duration": "10m"},  # a winner ends it long before
    "watch": {"duration": "3s"},
}


def compressed(strategy: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The documented strategy item for item, its durations in seconds and its replay the simulator's set."""
    return [{**item, **COMPRESSED.get(item["kind"], {})} for item in strategy]


COMBINED = compressed(json.loads(COMBINED_EXAMPLE.read_text())["strategy"])


async def test_the_combined_strategy_runs_to_promotion(client: Client, task_queue: str, tmp_path: Path) -> None:
    service = unique_service()
    knobs = {**FAST, "stable": {"quality_mean": 0.80}, "candidate": {"quality_mean": 0.88}}
    async with run_simulator(knobs=knobs) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: previewed_target(sim)})
        async with rollout_worker(client, task_queue, policy_path=policy):
            handle = await start_rollout(client, strategy_spec(sim, service, COMBINED), task_queue)
            result = await handle.result()
            status = await handle.query("status")
            routes = await sim.routes(service)

    record = result.record
    assert record.outcome == "promoted", result.summary
    assert [(s.kind, s.weight) for s in record.steps] == [
        ("shadow", 0),
        ("canary", 1),
        ("canary", 10),
        ("canary", 50),
        ("ab_test", 50),
        ("watch", 100),
    ]
    shadow = record.steps[0].shadow
    assert shadow is not None and shadow.passed, shadow
    assert shadow.details["compared"] == 20 and shadow.details["agreed"] == 20, shadow.details
    assert "20/20 answers agree" in shadow.summary
    assert record.gates == [], "a shadow item reports on its step, not as a gate"
    ab = record.steps[4].ab_test
    assert ab is not None and ab.winner == "candidate", ab
    assert record.steps[-1].analyses >= 1, "the watch judged the promoted candidate"
    assert routes["candidate"] == 100
    assert "Shadow, step 1: passed: 20/20 answers agree" in result.markdown
    assert any(line.startswith("Shadow, step 1: passed") for line in status["shadow"]), status


async def test_a_disagreeing_candidate_fails_the_shadow_item_before_traffic_moves(
    client: Client, task_queue: str, tmp_path: Path
) -> None:
    service = unique_service()
    strategy = [SHADOW_ITEM, {"kind": "canary", "weight": 10, "observe": "2s"}]
    async with run_simulator(knobs={**FAST, "candidate": {"disagreement": 0.5}}) as sim:
        policy = write_lab_policy(tmp_path / "policy.json", {SIM_TARGET: previewed_target(sim)})
        async with rollout_worker(client, task_queue, policy_path=policy):
            result = await (await start_rollout(client, strategy_spec(sim, service, strategy), task_queue)).result()
            calls = await sim.calls(service)

    record = result.record
    assert record.outcome == "rolled_back", result.summary
    assert record.rollback is not None and record.rollback.cause == "shadow", record.rollback
    assert record.rollback.router_verified is None, "no traffic had moved"
    assert calls == [], "the router must never have been called"
    assert [s.kind for s in record.steps] == ["shadow"]
    shadow = record.steps[0].shadow
    assert shadow is not None and not shadow.passed
    assert shadow.details["compared"] == 20
    assert 0.2 < shadow.details["agreed"] / shadow.details["compared"] < 0.8
    assert "shadow step 1 failed" in record.rollback.reason
