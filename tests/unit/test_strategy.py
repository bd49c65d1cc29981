"""models.strategy and workflows.rollout.plan: the tagged union, its validation, and the normaliser."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models.strategy import MAX_STRATEGY_STEPS, AnalysisStep, CanaryStep, PauseStep, WatchStep
from models.validation import SpecError, validate_spec
from workflows.rollout.plan import plan_of, split_watch


def base(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "service": "support-assistant",
        "requested_by": "ml-engineer",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "http", "url": "http://127.0.0.1:8080/routes/s"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:8080/metrics/s"},
        "analysis_interval": "1m",
    }
    spec.update(overrides)
    return spec


def problems_of(data: dict[str, Any]) -> list[str]:
    with pytest.raises(SpecError) as info:
        validate_spec(data)
    return list(info.value.problems)


CANARY = {"kind": "canary", "weight": 10, "observe": "10m"}


def test_steps_shape_normalises_to_one_canary_item_per_step() -> None:
    steps = [{"weight": 5, "observe": "10m", "approval": True}, {"weight": 50, "observe": "1h"}]
    spec = validate_spec(base(steps=steps, approvals={"approvers": ["ml-lead"]}))
    plan = plan_of(spec)
    assert plan == [
        CanaryStep(kind="canary", weight=5, observe=timedelta(minutes=10), approval=True),
        CanaryStep(kind="canary", weight=50, observe=timedelta(hours=1)),
    ]
    assert split_watch(plan) == (plan, None)
    assert "strategy" not in spec.model_dump(mode="json"), "a spec in the steps shape dumps as it did"


def test_default_steps_normalise_too() -> None:
    spec = validate_spec(base())
    plan = plan_of(spec)
    assert all(isinstance(item, CanaryStep) for item in plan)
    assert [(i.weight, i.observe) for i in plan if isinstance(i, CanaryStep)] == [
        (s.weight, s.observe) for s in spec.steps
    ]


def test_strategy_normalises_to_its_items_and_its_canaries_are_the_steps() -> None:
    strategy = [
        {**CANARY, "segments": [{"region": ["eu-west"]}]},
        {"kind": "analysis", "duration": "30m"},
        {"kind": "pause"},
        {"kind": "canary", "weight": 50, "observe": "1h"},
        {"kind": "watch", "duration": "2h"},
    ]
    spec = validate_spec(base(strategy=strategy))
    plan = plan_of(spec)
    assert [item.kind for item in plan] == ["canary", "analysis", "pause", "canary", "watch"]
    assert plan[1] == AnalysisStep(kind="analysis", duration=timedelta(minutes=30))
    assert plan[2] == PauseStep(kind="pause")
    assert [s.weight for s in spec.steps] == [10, 50] and spec.steps[0].segments
    before, after = split_watch(plan)
    assert len(before) == 4 and after == WatchStep(kind="watch", duration=timedelta(hours=2))
    again = validate_spec(spec.model_dump(mode="json"))
    assert again == spec, "a dumped strategy spec (with its derived steps) validates to the same spec"


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ([CANARY, {"kind": "canary", "weight": "x", "observe": "1m"}], "strategy[1].weight: Input should be"),
        ([CANARY, {"kind": "teleport"}], "strategy[1].kind: unknown step kind 'teleport'"),
        ([CANARY, {"weight": 5}], 'strategy[1].kind: missing (say which step, e.g. "kind": "canary")'),
        ([CANARY, {"kind": "analysis", "duration": "0s"}], "strategy[1].duration: must be longer than 0"),
        ([CANARY, {"kind": "watch", "duration": "1h", "extra": 1}], "strategy[1].extra: unknown field"),
        ([CANARY, {"kind": "canary", "weight": 5, "observe": "1m"}], "strategy[1].weight: weights must strictly"),
        ([{"kind": "watch", "duration": "1h"}, CANARY], "strategy[0].kind: a watch follows the promotion"),
        ([{"kind": "pause"}, CANARY], "strategy[0].kind: a pause before the first canary step"),
        ([{"kind": "analysis", "duration": "1h"}], "strategy: needs at least one canary step"),
        ([CANARY, {"kind": "approval"}], "strategy[1].kind: an approval step needs the spec's approvals"),
        ([CANARY, {"kind": "analysis", "duration": "30s"}], "strategy[1].duration: 30s is shorter than"),
        ([], "strategy: List should have at least 1 item"),
    ],
)
def test_invalid_strategies_name_the_item(strategy: list[dict[str, Any]], expected: str) -> None:
    problems = problems_of(base(strategy=strategy))
    assert any(p.startswith(expected) for p in problems), problems


def test_a_strategy_is_bounded() -> None:
    items = [{"kind": "canary", "weight": 1 + i * 0.1, "observe": "10m"} for i in range(MAX_STRATEGY_STEPS + 1)]
    assert any(p.startswith("strategy: List should have at most") for p in problems_of(base(strategy=items)))


def test_steps_and_a_different_strategy_are_refused() -> None:
    problems = problems_of(base(steps=[{"weight": 1, "observe": "10m"}], strategy=[CANARY]))
    assert any("set steps or strategy, not both" in p for p in problems), problems


def test_an_approval_item_with_approvals_validates() -> None:
    spec = validate_spec(base(strategy=[CANARY, {"kind": "approval"}], approvals={"approvers": ["ml-lead"]}))
    assert [item.kind for item in plan_of(spec)] == ["canary", "approval"]


SHADOW = {"replay": "support", "compare": {"kind": "exact"}}
ENDPOINTS = {
    "stable": {"version": "v1", "endpoint": "http://127.0.0.1:9101"},
    "candidate": {"version": "v2", "endpoint": "http://127.0.0.1:9102"},
}


def test_a_blue_green_is_previewed_then_watched_and_its_step_is_the_watch() -> None:
    strategy = [{"kind": "blue_green"}, {"kind": "watch", "duration": "2h"}]
    spec = validate_spec(
        base(strategy=strategy, shadow=SHADOW, target="production", router=None, metrics=None, **ENDPOINTS)
    )
    assert [item.kind for item in plan_of(spec)] == ["blue_green", "watch"]
    assert [(s.weight, s.observe) for s in spec.steps] == [(100, timedelta(hours=2))]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ([{"kind": "blue_green"}], "strategy: a blue_green strategy is a blue_green then a watch"),
        ([CANARY, {"kind": "blue_green"}, {"kind": "watch", "duration": "1h"}], "strategy[1].kind: a blue_green can"),
        (
            [{"kind": "blue_green"}, CANARY, {"kind": "watch", "duration": "1h"}],
            "strategy: a blue_green strategy is a blue_green then a watch",
        ),
    ],
)
def test_a_blue_green_strategy_has_one_shape(strategy: list[dict[str, Any]], expected: str) -> None:
    problems = problems_of(base(strategy=strategy, shadow=SHADOW, target="production", router=None, metrics=None))
    assert any(p.startswith(expected) for p in problems), problems


def test_a_blue_green_needs_a_gate_to_preview_with() -> None:
    problems = problems_of(base(strategy=[{"kind": "blue_green"}, {"kind": "watch", "duration": "1h"}]))
    assert any(p.startswith("strategy[0].kind: a blue_green previews the idle candidate") for p in problems)
