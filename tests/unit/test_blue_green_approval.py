"""A blue-green's ``approval``: the field a policy requiring approval before the final promotion names, and
the rule that it needs the spec's approvals."""

from __future__ import annotations

from typing import Any

from models.policy import ServicePolicy
from models.validation import validate_spec
from tests.unit.test_strategy import base, problems_of
from workflows.policy import required_approval_problems

APPROVALS = {"approvers": ["ml-lead"], "quorum": 1}


def blue_green(approval: bool, **fields: Any) -> dict[str, Any]:
    item: dict[str, Any] = {"kind": "blue_green", "approval": approval} if approval else {"kind": "blue_green"}
    return base(strategy=[item, {"kind": "watch", "duration": "1h"}], preflight=PREFLIGHT, **fields)


PREFLIGHT = {"url": "http://127.0.0.1:9/preflight", "baseline": 0.8}
POLICY = ServicePolicy.model_validate({"approvers": ["*"], "require_approvals": {"before_promotion": True}})


def test_a_policy_requiring_approval_names_the_blue_greens_field() -> None:
    spec = validate_spec(blue_green(False, approvals=APPROVALS))
    assert required_approval_problems(spec, POLICY, "policy default") == [
        "strategy[0].approval: policy default requires approval before the final promotion; set it to true"
    ]


def test_a_blue_green_with_approval_meets_the_policy() -> None:
    spec = validate_spec(blue_green(True, approvals=APPROVALS))
    assert required_approval_problems(spec, POLICY, "policy default") == []
    assert spec.steps[0].approval and spec.steps[0].weight == 100


def test_a_canary_strategy_lacking_approval_names_its_item() -> None:
    strategy = [
        {"kind": "canary", "weight": 10, "observe": "1h"},
        {"kind": "pause"},
        {"kind": "canary", "weight": 50, "observe": "1h"},
    ]
    spec = validate_spec(base(strategy=strategy, approvals=APPROVALS))
    assert required_approval_problems(spec, POLICY, "policy default") == [
        "strategy[2].approval: policy default requires approval before the final promotion; set it to true"
    ]


def test_a_blue_green_approval_needs_the_specs_approvals() -> None:
    problems = problems_of(blue_green(True))
    assert any(p.startswith("strategy[0].approval: waiting for approval needs the spec's approvals") for p in problems)
