"""workflows.drill_rules and the drill's models: input checks, target choice, rest, grading, the schedule."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError
from temporalio.client import ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from models.activities import RouterState
from models.drill import DRILL_WORKFLOW, DrillEvent, DrillInput, DrillPolicy, DrillResult
from models.policy import GoverningPolicy, resolve
from workers.cli.drills import drill_input, drill_schedule
from workflows import drill_rules as rules

TARGET = {
    "router": {"kind": "http", "url": "http://127.0.0.1:9/routes/{service}"},
    "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9/metrics/{service}"},
}


def governing(**service_policy: Any) -> GoverningPolicy:
    document = {"default": {"approvers": ["*"], "targets": {"prod": TARGET, "staging": TARGET}, **service_policy}}
    found = resolve(json.dumps(document).encode(), source="test", service="checkout")
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (None, "input"),
        ("checkout", "input"),
        ({}, "service"),
        ({"service": "Checkout"}, "service"),
        ({"service": "x" * 64}, "service"),
        ({"service": "checkout", "target": "../etc"}, "target"),
        ({"service": "checkout", "router": {"kind": "http", "url": "http://evil"}}, "router"),
        ({"service": "checkout", "target": 7}, "target"),
    ],
)
def test_bad_input_is_refused_naming_the_field(raw: object, field: str) -> None:
    with pytest.raises(rules.InvalidDrillInput, match=f"^{field}"):
        rules.parse_input(raw)


def test_good_input_parses() -> None:
    assert rules.parse_input({"service": "checkout", "target": "prod"}) == DrillInput(service="checkout", target="prod")


def test_the_inputs_target_wins_over_the_policys() -> None:
    found = rules.plan(DrillInput(service="checkout", target="staging"), governing(drill={"target": "prod"}))
    assert isinstance(found, rules.DrillPlan) and found.target_name == "staging"
    assert found.target.router.url == "http://127.0.0.1:9/routes/checkout", "{service} is filled in"  # type: ignore[union-attr]


def test_the_policys_target_and_settings_apply_when_the_input_names_none() -> None:
    found = rules.plan(DrillInput(service="checkout"), governing(drill={"target": "prod", "target_seconds": 5}))
    assert isinstance(found, rules.DrillPlan)
    assert found.target_name == "prod" and found.settings.target_seconds == 5


@pytest.mark.parametrize(
    ("request_target", "policy", "message"),
    [
        (None, {}, "sets no drill.target (targets: prod, staging)"),
        ("prod-eu", {}, "'prod-eu' is not a target"),
        (None, {"drill": {"target": "gone"}}, "'gone' is not a target"),
    ],
)
def test_no_drillable_target_says_why(request_target: str | None, policy: dict[str, Any], message: str) -> None:
    found = rules.plan(DrillInput(service="checkout", target=request_target), governing(**policy))
    assert isinstance(found, str) and message in found and found.startswith("target:")


def test_no_policy_means_no_drill() -> None:
    found = rules.plan(DrillInput(service="checkout", target="prod"), None)
    assert isinstance(found, str) and "no policy" in found


@pytest.mark.parametrize(
    ("stable", "candidate", "rest"), [(100, 0, True), (0, 100, False), (95, 5, False), (100 - 1e-9, 1e-9, True)]
)
def test_only_a_router_on_stable_is_at_rest(stable: float, candidate: float, rest: bool) -> None:
    assert rules.at_stable(RouterState(stable=stable, candidate=candidate)) is rest


def test_grading_and_who_is_told() -> None:
    assert rules.grade(0.4, 30) == "passed"
    assert rules.grade(30, 30) == "passed"
    assert rules.grade(30.001, 30) == "slow"
    assert [o for o in ("passed", "slow", "failed", "refused", "invalid") if rules.notifies(o)] == [
        "slow",
        "failed",
        "invalid",
    ]


@pytest.mark.parametrize(
    "settings",
    [{"weight": 11}, {"weight": -1}, {"target_seconds": 0}, {"dwell": "11m"}, {"target": "Prod"}, {"extra": 1}],
)
def test_drill_settings_are_bounded(settings: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        DrillPolicy.model_validate(settings, strict=False)


def test_details_and_summary_show_the_time() -> None:
    at = datetime(2026, 12, 4, 12, tzinfo=UTC)
    result = DrillResult(
        service="checkout",
        target="prod",
        outcome="passed",
        seconds_to_stable=0.4123,
        target_seconds=30,
        timeline=[DrillEvent(at=at, event="stable verified", detail="0.412s")],
    )
    assert result.summary() == "passed: checkout on prod, verified stable in 0.412s (target 30s)"
    text = rules.details(result)
    assert "**passed**" in text and "0.412s" in text and "12:00:00 stable verified" in text
    refused = DrillResult(service="checkout", outcome="refused", detail="held by rollout-checkout")
    assert refused.summary() == "refused: checkout: held by rollout-checkout"


def test_the_schedule_starts_a_drill_and_never_stacks_them() -> None:
    schedule = drill_schedule(DrillInput(service="checkout", target="prod"), timedelta(days=7), "rollouts")
    action = schedule.action
    assert isinstance(action, ScheduleActionStartWorkflow)
    assert action.workflow == DRILL_WORKFLOW and action.id == "rollback-drill-checkout"
    assert schedule.spec.intervals[0].every == timedelta(days=7)
    assert schedule.policy.overlap is ScheduleOverlapPolicy.SKIP
    with pytest.raises(ValueError, match="--every"):
        drill_schedule(DrillInput(service="checkout"), timedelta(seconds=30), "rollouts")
    with pytest.raises(ValueError, match="service"):
        drill_input("Checkout!", None)


def test_a_drill_event_reads_as_a_drill_in_chat() -> None:
    from activities.webhooks import text_of
    from models.notifications import NotificationEvent

    event = NotificationEvent(
        kind="drill",
        rollout_id="rollback-drill-checkout-1",
        sequence=1,
        service="checkout",
        stable_version="",
        candidate_version="",
        phase="slow",
        at=datetime(2026, 12, 4, tzinfo=UTC),
        title="drill slow on prod",
    )
    text = text_of(event)
    assert text.startswith("*checkout* rollback drill: drill slow on prod")
    assert "drill `rollback-drill-checkout-1`" in text and "->" not in text
