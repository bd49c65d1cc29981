"""The shadow strategy item's pure rules: its own fields, where it may sit, the target's replay sets, the policy's
minimum agreement, and how the record, Current Details and status describe it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from models.compare import JsonFieldsCompare
from models.limits import MAX_SHADOW_REQUESTS
from models.policy import GoverningPolicy, resolve
from models.record import GateReport, StepReport, render_markdown
from models.strategy import ShadowStep
from models.targets import ChosenTarget
from models.validation import validate_spec
from tests.unit.test_record import base_record
from tests.unit.test_strategy import CANARY, base, problems_of
from workflows.policy import floor_problems
from workflows.rollout.plan import plan_of
from workflows.targets import choose_target

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
ITEM: dict[str, Any] = {"kind": "shadow", "replay": "support", "compare": {"kind": "json-fields", "fields": ["answer"]}}
ENDPOINTS = {
    "stable": {"version": "v1", "endpoint": "http://127.0.0.1:9101/v1/answer"},
    "candidate": {"version": "v2", "endpoint": "http://127.0.0.1:9101/v1/candidate"},
}
NAMED = {"target": "prod", "router": None, "metrics": None, **ENDPOINTS}


def named(strategy: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return base(strategy=strategy, **{**NAMED, **fields})


def test_a_shadow_item_before_the_first_canary_validates_with_its_defaults() -> None:
    spec = validate_spec(named([ITEM, CANARY]))
    item = plan_of(spec)[0]
    assert isinstance(item, ShadowStep)
    assert (item.mode, item.max_requests, item.min_agreement) == ("replay", 200, 0.9)
    assert item.compare == JsonFieldsCompare(kind="json-fields", fields=["answer"])
    assert [s.weight for s in spec.steps] == [10], "a shadow item is no canary step"


@pytest.mark.parametrize(
    ("strategy", "fields", "expected"),
    [
        ([CANARY, ITEM], {}, "strategy[1].kind: a shadow compares the versions before any user traffic moves"),
        ([{**ITEM, "replay": None}, CANARY], {}, "strategy[0].replay: a replay needs one of the target's replay"),
        ([{**ITEM, "replay": "../etc"}, CANARY], {}, "strategy[0].replay: String should match pattern"),
        ([{**ITEM, "mode": "mirror"}, CANARY], {}, "strategy[0].replay: only a replay has replay"),
        ([{**ITEM, "mode": "copy"}, CANARY], {}, "strategy[0].mode: Input should be 'replay' or 'mirror'"),
        ([{**ITEM, "max_requests": MAX_SHADOW_REQUESTS + 1}, CANARY], {}, "strategy[0].max_requests: Input should"),
        ([{**ITEM, "min_agreement": 0}, CANARY], {}, "strategy[0].min_agreement: Input should be greater than 0"),
        ([{**ITEM, "requests_file": "/etc/passwd"}, CANARY], {}, "strategy[0].requests_file: unknown field"),
        ([ITEM, CANARY], {"stable": {"version": "v1"}}, "stable.endpoint: missing, but the shadow item strategy[0]"),
        ([ITEM], {}, "strategy: needs at least one canary step"),
    ],
)
def test_invalid_shadow_items_name_the_field(
    strategy: list[dict[str, Any]], fields: dict[str, Any], expected: str
) -> None:
    problems = problems_of(named(strategy, **fields))
    assert any(p.startswith(expected) for p in problems), problems


SIM = {
    "router": {"kind": "http", "url": "http://127.0.0.1:9100/routes/{service}"},
    "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9100/metrics/{service}"},
    "url_prefixes": ["http://127.0.0.1:9101/v1/"],
    "replay_sets": {"support": "/srv/replay/{service}.jsonl"},
}


def governing(**service_policy: Any) -> GoverningPolicy:
    raw = json.dumps({"default": {"approvers": ["*"], "targets": {"prod": SIM}, **service_policy}}).encode()
    found = resolve(raw, source="policy.json", service="support-assistant")
    assert found is not None
    return found


def test_the_replay_set_is_the_targets_by_name() -> None:
    good = validate_spec(named([ITEM, CANARY]))
    chosen = choose_target(good, governing(), lab_mode=False)
    assert isinstance(chosen, ChosenTarget)
    assert chosen.target.replay_sets["support"] == "/srv/replay/support-assistant.jsonl"
    other = validate_spec(named([{**ITEM, "replay": "other"}, CANARY]))
    assert choose_target(other, governing(), lab_mode=False) == [
        "strategy[0].replay: 'other' is not a replay set of target 'prod' (support)"
    ]


def test_an_inline_target_has_no_replay_sets() -> None:
    inline = validate_spec(base(strategy=[ITEM, CANARY], **ENDPOINTS))
    problems = choose_target(inline, governing(allow_inline_targets=True), lab_mode=False)
    assert problems == ["strategy[0].replay: an inline target has no replay sets; use a named target"]


def test_the_policys_minimum_agreement_holds_for_shadow_items() -> None:
    low = validate_spec(named([{**ITEM, "min_agreement": 0.5}, CANARY]))
    problems = floor_problems(low, governing(min_shadow_agreement=0.9).policy, "default")
    assert any(p.startswith("strategy[0].min_agreement: 0.5 is below the") for p in problems), problems


def test_the_record_says_what_the_shadow_item_did() -> None:
    record = base_record()
    gate = GateReport(name="shadow", passed=True, summary="20/20 answers agree (100.0%, need 90%)")
    at = datetime(2026, 1, 1, tzinfo=UTC)
    record.steps.append(StepReport(index=0, kind="shadow", weight=0, observe_seconds=0, started_at=at, shadow=gate))
    assert "- Shadow, step 1: passed: 20/20 answers agree (100.0%, need 90%)" in render_markdown(record)
    assert record.steps[0].model_dump(mode="json")["shadow"]["summary"].startswith("20/20")


def test_current_details_status_and_plan_show_the_shadow_item() -> None:
    from tests.unit.test_view import T0, state
    from workflows.rollout import view

    spec = validate_spec(json.loads((EXAMPLES / "strategy-combined.json").read_text()))
    s = state(spec)
    gate = GateReport(name="shadow", passed=True, summary="480/500 answers agree (96.0%, need 90%)")
    s.record.steps.append(StepReport(index=0, kind="shadow", weight=0, observe_seconds=0, started_at=T0, shadow=gate))
    details = view.details(spec, s, T0)
    assert "- **Shadow, step 1:** passed: 480/500 answers agree (96.0%, need 90%)" in details
    assert view.status(spec, s, T0).shadow == ["Shadow, step 1: passed: 480/500 answers agree (96.0%, need 90%)"]
    assert "| 1 shadow | 0% (replay support-requests, up to 500 requests) | - | - |" in view.plan(spec)
