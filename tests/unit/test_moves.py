"""Manual moves (skip, full): the pure safety rules and how ``assess`` applies promote's authority to them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from models.phases import Phase
from models.strategy import ABTestStep, AnalysisStep, ApprovalStep, CanaryStep, PauseStep, StrategyStep
from workflows.approvals import Accepted, Full, Rejected, SignalContext, Skip, assess
from workflows.moves import MoveContext, move_context, move_decision, move_refusal, waits_for

MINUTE = timedelta(minutes=1)


def canary(weight: float, approval: bool = False) -> CanaryStep:
    return CanaryStep(kind="canary", weight=weight, observe=MINUTE, approval=approval)


PLAN: list[StrategyStep] = [
    canary(1),
    canary(10),
    PauseStep(kind="pause"),
    ApprovalStep(kind="approval"),
    canary(50),
    ABTestStep.model_validate({"kind": "ab_test", "share": 50, "duration": "1h"}),
    AnalysisStep(kind="analysis", duration=MINUTE),
]


def at(step: int, **kwargs: Any) -> MoveContext:
    return move_context(PLAN, step - 1, in_item=kwargs.pop("in_item", True), pending=kwargs.pop("pending", None))


def test_items_that_decide_are_named() -> None:
    assert [waits_for(i) for i in PLAN] == ["", "", "", "approval quorum", "", "A/B test decision", ""]
    assert waits_for(canary(5, approval=True)) == "approval quorum"


@pytest.mark.parametrize("to", [2, 3, 4])
def test_skip_forward_up_to_and_onto_an_approval_is_safe(to: int) -> None:
    assert move_refusal(to, at(1)) is None


def test_skip_past_an_approval_is_refused_naming_it() -> None:
    reason = move_refusal(5, at(1))
    assert reason is not None and reason.startswith("to: step 4 (approval) waits for its approval quorum")
    assert "skip to step 4" in reason


def test_skip_past_an_ab_test_is_refused() -> None:
    reason = move_refusal(7, at(5))
    assert reason is not None and reason.startswith("to: step 6 (ab_test) waits for its A/B test decision")


def test_skip_away_from_a_step_that_waits_is_refused() -> None:
    reason = move_refusal(5, at(4))
    assert reason is not None and "the current step (approval)" in reason and "decide it first" in reason


@pytest.mark.parametrize(("to", "words"), [(1, "not ahead"), (2, "not ahead"), (8, "does not exist")])
def test_skip_moves_forward_within_the_plan(to: int, words: str) -> None:
    reason = move_refusal(to, at(2))
    assert reason is not None and reason.startswith("to: ") and words in reason


def test_full_passes_nothing_that_decides() -> None:
    assert move_refusal(None, at(7)) is None
    reason = move_refusal(None, at(1))
    assert reason is not None and reason.startswith("full: step 4 (approval)")


def test_one_move_at_a_time_and_only_inside_a_step() -> None:
    assert (r := move_refusal(3, at(1, pending="to step 2"))) is not None and r.startswith("duplicate:")
    assert (r := move_refusal(3, at(1, in_item=False))) is not None and r.startswith("meaningless:")


def test_the_target_is_part_of_what_is_signed() -> None:
    assert move_decision(2) != move_decision(5)
    assert move_decision(None) == "full"


def ctx(moves: MoveContext | None, **kwargs: Any) -> SignalContext:
    return SignalContext(
        phase=Phase.CANARY, requested_by="ml-engineer", approvers=frozenset({"ml-lead"}), moves=moves, **kwargs
    )


def test_an_approver_may_skip_and_go_full_when_nothing_decides() -> None:
    assert assess("skip", {"by": "ml-lead", "to": 3, "reason": "r"}, ctx(at(1))) == Accepted(
        Skip(by="ml-lead", to=3, reason="r")
    )
    assert assess("full", {"by": "ml-lead", "reason": "r"}, ctx(at(7))) == Accepted(Full(by="ml-lead", reason="r"))


@pytest.mark.parametrize("who", ["ml-engineer", "someone"])
def test_the_requester_and_strangers_may_not_move(who: str) -> None:
    outcome = assess("skip", {"by": who, "to": 3, "reason": "r"}, ctx(at(1)))
    assert isinstance(outcome, Rejected) and outcome.reason.startswith("unauthorized:")


def test_rollouts_before_the_patch_refuse_moves() -> None:
    outcome = assess("full", {"by": "ml-lead", "reason": "r"}, ctx(None))
    assert isinstance(outcome, Rejected) and "before skip and full existed" in outcome.reason


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"by": "ml-lead", "reason": "r"}, "to: missing"), ({"by": "ml-lead", "to": 0, "reason": "r"}, "to:")],
)
def test_a_malformed_skip_names_the_field(payload: dict[str, Any], field: str) -> None:
    outcome = assess("skip", payload, ctx(at(1)))
    assert isinstance(outcome, Rejected) and outcome.reason.startswith("malformed:") and field in outcome.reason


def test_under_a_policy_an_unsigned_move_is_refused() -> None:
    outcome = assess("skip", {"by": "ml-lead", "to": 3, "reason": "r"}, ctx(at(1), governed=True))
    assert isinstance(outcome, Rejected) and outcome.reason.startswith("unauthorized: no policy")
