"""workflows.approvals.assess: which operator signals count, and why the others do not."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from models.phases import Phase
from workflows.approvals import (
    SIGNAL_NAMES,
    Abort,
    Accepted,
    Approve,
    Pause,
    Promote,
    Reject,
    Rejected,
    Resume,
    SignalContext,
    SignalName,
    assess,
    parse_payload,
    quorum_reached,
)

APPROVERS = frozenset({"ml-lead", "sre-oncall", "product-owner"})
FINAL = [Phase.PROMOTED, Phase.ROLLED_BACK, Phase.FAILED]
VALID: dict[SignalName, dict[str, Any]] = {
    "approve": {"approver": "ml-lead"},
    "reject": {"approver": "ml-lead", "reason": "quality dropped"},
    "pause": {"by": "sre-oncall"},
    "resume": {"by": "sre-oncall"},
    "abort": {"by": "sre-oncall", "reason": "incident"},
    "promote": {"approver": "ml-lead", "reason": "too little night traffic to reach the sample"},
    "skip": {"by": "ml-lead", "to": 3, "reason": "the 10% step is redundant for this fix"},
    "full": {"by": "ml-lead", "reason": "hotfix: the old version leaks memory"},
}


def ctx(phase: Phase = Phase.AWAITING_APPROVAL, **kwargs: Any) -> SignalContext:
    return SignalContext(phase=phase, requested_by="ml-engineer", approvers=APPROVERS, **kwargs)


def rejected(name: SignalName, payload: object, context: SignalContext) -> Rejected:
    outcome = assess(name, payload, context)
    assert isinstance(outcome, Rejected), outcome
    return outcome


# ---------------------------------------------------------------- approve


def test_listed_approver_approves_the_waiting_step() -> None:
    outcome = assess("approve", {"approver": "ml-lead", "comment": "looks good"}, ctx())
    assert outcome == Accepted(Approve(approver="ml-lead", comment="looks good"))


def test_approver_name_is_stripped_before_matching() -> None:
    outcome = assess("approve", {"approver": "  ml-lead "}, ctx())
    assert isinstance(outcome, Accepted)
    assert outcome.signal == Approve(approver="ml-lead")


def test_non_approver_cannot_approve() -> None:
    outcome = rejected("approve", {"approver": "intern"}, ctx())
    assert outcome.reason == f"unauthorized: 'intern' is not an approver (approvers: {', '.join(sorted(APPROVERS))})"
    assert outcome.by == "intern"


def test_approver_names_are_case_sensitive() -> None:
    assert rejected("approve", {"approver": "ML-Lead"}, ctx()).reason.startswith("unauthorized")


def test_requester_never_counts_even_when_listed() -> None:
    context = SignalContext(phase=Phase.AWAITING_APPROVAL, requested_by="ml-lead", approvers=APPROVERS | {"ml-lead"})
    outcome = rejected("approve", {"approver": "ml-lead"}, context)
    assert outcome.reason == "unauthorized: 'ml-lead' requested this rollout and cannot approve it"
    assert outcome.by == "ml-lead"


def test_duplicate_approval_is_rejected() -> None:
    outcome = rejected("approve", {"approver": "ml-lead"}, ctx(approved_by=frozenset({"ml-lead"})))
    assert outcome.reason == "duplicate: 'ml-lead' already approved this step"


def test_second_distinct_approver_is_accepted() -> None:
    outcome = assess("approve", {"approver": "sre-oncall"}, ctx(approved_by=frozenset({"ml-lead"})))
    assert isinstance(outcome, Accepted)


@pytest.mark.parametrize("phase", [Phase.VALIDATING, Phase.PREFLIGHT, Phase.SHADOW, Phase.CANARY, Phase.PROMOTING])
def test_approve_outside_awaiting_approval_is_meaningless(phase: Phase) -> None:
    outcome = rejected("approve", {"approver": "ml-lead"}, ctx(phase))
    assert outcome.reason == f"meaningless: no step is waiting for approval (phase {phase.value})"
    assert outcome.by == "ml-lead"


def test_approve_with_no_approvers_configured_is_unauthorized() -> None:
    context = SignalContext(phase=Phase.AWAITING_APPROVAL, requested_by="ml-engineer")
    assert rejected("approve", {"approver": "ml-lead"}, context).reason.startswith("unauthorized")


# ---------------------------------------------------------------- reject


@pytest.mark.parametrize("phase", [Phase.CANARY, Phase.AWAITING_APPROVAL, Phase.SHADOW])
def test_approver_may_reject_before_the_end(phase: Phase) -> None:
    outcome = assess("reject", {"approver": "ml-lead", "reason": "quality"}, ctx(phase))
    assert outcome == Accepted(Reject(approver="ml-lead", reason="quality"))


def test_reject_by_non_approver_is_unauthorized() -> None:
    outcome = rejected("reject", {"approver": "intern", "reason": "no"}, ctx())
    assert outcome.reason == f"unauthorized: 'intern' is not an approver (approvers: {', '.join(sorted(APPROVERS))})"
    assert outcome.by == "intern"


def test_reject_by_requester_is_unauthorized() -> None:
    context = SignalContext(phase=Phase.CANARY, requested_by="ml-lead", approvers=APPROVERS)
    outcome = rejected("reject", {"approver": "ml-lead", "reason": "changed my mind"}, context)
    assert outcome.reason == "unauthorized: 'ml-lead' requested this rollout and cannot reject it"


def test_reject_after_a_rollback_was_requested_is_a_duplicate() -> None:
    outcome = rejected("reject", {"approver": "ml-lead", "reason": "no"}, ctx(abort_requested=True))
    assert outcome.reason == "duplicate: a rollback is already requested"


# ---------------------------------------------------------------- pause / resume


@pytest.mark.parametrize("phase", [Phase.CANARY, Phase.AWAITING_APPROVAL])
def test_pause_during_a_step(phase: Phase) -> None:
    outcome = assess("pause", {"by": "sre-oncall", "reason": "investigating"}, ctx(phase))
    assert outcome == Accepted(Pause(by="sre-oncall", reason="investigating"))


@pytest.mark.parametrize("phase", [Phase.VALIDATING, Phase.PREFLIGHT, Phase.SHADOW, Phase.PROMOTING])
def test_pause_outside_a_step_is_meaningless(phase: Phase) -> None:
    outcome = rejected("pause", {"by": "sre-oncall"}, ctx(phase))
    assert outcome.reason == f"meaningless: only a canary step can be paused (phase {phase.value})"


def test_pause_twice_is_a_duplicate_naming_who_paused() -> None:
    outcome = rejected("pause", {"by": "ml-lead"}, ctx(Phase.CANARY, paused_by="sre-oncall"))
    assert outcome.reason == "duplicate: already paused by 'sre-oncall'"
    assert outcome.by == "ml-lead"


def test_resume_when_not_paused_is_meaningless() -> None:
    outcome = rejected("resume", {"by": "sre-oncall"}, ctx(Phase.CANARY))
    assert outcome.reason == "meaningless: the rollout is not paused"


@pytest.mark.parametrize("by", ["sre-oncall", "someone-else"])
def test_resume_when_paused(by: str) -> None:
    outcome = assess("resume", {"by": by}, ctx(Phase.CANARY, paused_by="sre-oncall"))
    assert outcome == Accepted(Resume(by=by))


# ---------------------------------------------------------------- abort


@pytest.mark.parametrize(
    "phase", [Phase.VALIDATING, Phase.PREFLIGHT, Phase.SHADOW, Phase.CANARY, Phase.AWAITING_APPROVAL]
)
def test_abort_before_promotion(phase: Phase) -> None:
    outcome = assess("abort", {"by": "sre-oncall", "reason": "incident"}, ctx(phase))
    assert outcome == Accepted(Abort(by="sre-oncall", reason="incident"))


def test_abort_twice_is_a_duplicate() -> None:
    outcome = rejected("abort", {"by": "sre-oncall", "reason": "again"}, ctx(Phase.CANARY, abort_requested=True))
    assert outcome.reason == "duplicate: a rollback is already requested"
    assert outcome.by == "sre-oncall"


@pytest.mark.parametrize("name", ["abort", "reject"])
def test_abort_or_reject_while_promoting_is_meaningless(name: SignalName) -> None:
    assert not Phase.PROMOTING.can_roll_back
    outcome = rejected(name, VALID[name], ctx(Phase.PROMOTING))
    assert outcome.reason.startswith("meaningless")


# ---------------------------------------------------------------- final phases and rolling back


@pytest.mark.parametrize("phase", FINAL)
@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_final_phases_reject_everything(phase: Phase, name: SignalName) -> None:
    outcome = rejected(name, VALID[name], ctx(phase, paused_by="sre-oncall"))
    assert outcome.reason == f"meaningless: the rollout is already {phase.value}"
    assert outcome.by == (VALID[name].get("approver") or VALID[name].get("by"))


@pytest.mark.parametrize("name", SIGNAL_NAMES)
def test_rolling_back_rejects_everything(name: SignalName) -> None:
    outcome = rejected(name, VALID[name], ctx(Phase.ROLLING_BACK, paused_by="sre-oncall"))
    assert outcome.reason == "meaningless: the rollout is already rolling back"


# ---------------------------------------------------------------- malformed payloads


@pytest.mark.parametrize(
    ("name", "payload", "reason"),
    [
        ("approve", {}, "malformed: approver: missing"),
        ("approve", None, "malformed: approver: missing"),
        ("approve", {"approver": ""}, "malformed: approver: String should have at least 1 character"),
        ("approve", {"approver": "   "}, "malformed: approver: String should have at least 1 character"),
        ("approve", {"approver": 5}, "malformed: approver: Input should be a valid string"),
        ("approve", {"approver": "ml-lead", "extra": 1}, "malformed: extra: Extra inputs are not permitted"),
        ("reject", {"approver": "ml-lead"}, "malformed: reason: missing"),
        ("reject", {}, "malformed: approver: missing; reason: missing"),
        ("pause", {"who": "x"}, "malformed: by: missing; who: Extra inputs are not permitted"),
        ("resume", {}, "malformed: by: missing"),
        ("abort", {"by": "sre-oncall"}, "malformed: reason: missing"),
        ("abort", {"by": "sre-oncall", "reason": ""}, "malformed: reason: String should have at least 1 character"),
    ],
)
def test_malformed_payload_names_the_field(name: SignalName, payload: object, reason: str) -> None:
    assert rejected(name, payload, ctx(Phase.CANARY, paused_by="x")).reason == reason


@pytest.mark.parametrize(
    ("name", "payload", "type_name", "example"),
    [
        ("approve", ["ml-lead"], "list", '{"approver": "ml-lead"}'),
        ("reject", "no", "str", '{"approver": "ml-lead", "reason": "..."}'),
        ("pause", 1, "int", '{"by": "sre-oncall"}'),
        ("abort", True, "bool", '{"by": "sre-oncall", "reason": "..."}'),
    ],
)
def test_non_object_payload_shows_an_example(name: SignalName, payload: object, type_name: str, example: str) -> None:
    outcome = rejected(name, payload, ctx())
    assert outcome.reason == f"malformed: expected a JSON object such as {example}, got {type_name}"
    assert outcome.by is None


def test_malformed_payload_keeps_the_sender_when_it_can() -> None:
    assert rejected("abort", {"by": "sre-oncall"}, ctx()).by == "sre-oncall"
    assert rejected("reject", {"approver": "ml-lead"}, ctx()).by == "ml-lead"
    assert rejected("approve", {"approver": 7}, ctx()).by is None


@pytest.mark.parametrize("phase", FINAL)
def test_malformed_payload_is_reported_as_malformed_even_when_final(phase: Phase) -> None:
    assert rejected("approve", {}, ctx(phase)).reason == "malformed: approver: missing"


def test_parse_payload_returns_the_model() -> None:
    assert parse_payload("pause", {"by": "x", "reason": "r"}) == Pause(by="x", reason="r")


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_PAYLOADS = _JSON | st.fixed_dictionaries(
    {}, optional={"approver": _JSON, "by": _JSON, "reason": _JSON, "comment": _JSON}
)


@given(
    st.sampled_from(SIGNAL_NAMES),
    _PAYLOADS,
    st.sampled_from(list(Phase)),
    st.none() | st.sampled_from(["sre-oncall", "ml-lead"]),
    st.booleans(),
    st.frozensets(st.sampled_from(sorted(APPROVERS))),
)
def test_assess_never_raises_and_only_counts_approvers(
    name: SignalName,
    payload: object,
    phase: Phase,
    paused_by: str | None,
    abort_requested: bool,
    approved_by: frozenset[str],
) -> None:
    context = ctx(phase, paused_by=paused_by, abort_requested=abort_requested, approved_by=approved_by)
    outcome = assess(name, payload, context)
    assert isinstance(outcome, Accepted | Rejected)
    if isinstance(outcome, Accepted):
        assert not phase.is_final
        assert phase is not Phase.ROLLING_BACK
        if isinstance(outcome.signal, Approve | Reject):
            assert outcome.signal.approver in APPROVERS
            assert outcome.signal.approver != context.requested_by
        if isinstance(outcome.signal, Approve):
            assert phase is Phase.AWAITING_APPROVAL
            assert outcome.signal.approver not in approved_by
    else:
        assert outcome.reason.split(":")[0] in {"malformed", "meaningless", "unauthorized", "duplicate"}


# ---------------------------------------------------------------- quorum


@pytest.mark.parametrize(
    ("approved", "quorum", "reached"),
    [
        (set(), 1, False),
        ({"a"}, 1, True),
        ({"a"}, 2, False),
        ({"a", "b"}, 2, True),
        ({"a", "b", "c"}, 2, True),
    ],
)
def test_quorum_reached(approved: set[str], quorum: int, reached: bool) -> None:
    assert quorum_reached(frozenset(approved), quorum) is reached


@given(st.frozensets(st.text(min_size=1, max_size=5), max_size=10), st.integers(1, 12))
def test_quorum_counts_distinct_names(approved: frozenset[str], quorum: int) -> None:
    assert quorum_reached(approved, quorum) == (len(approved) >= quorum)


# ---------------------------------------------------------------- promote (override of inconclusive evidence)


def test_approver_may_override_a_held_step_with_a_reason() -> None:
    outcome = assess("promote", VALID["promote"], ctx(Phase.INCONCLUSIVE, awaiting_decision=True))
    assert outcome == Accepted(Promote(approver="ml-lead", reason=VALID["promote"]["reason"]))


def test_promote_while_extending_a_step_is_accepted() -> None:
    assert isinstance(assess("promote", VALID["promote"], ctx(Phase.CANARY, awaiting_decision=True)), Accepted)


@pytest.mark.parametrize("phase", [Phase.CANARY, Phase.AWAITING_APPROVAL, Phase.SHADOW])
def test_promote_without_a_pending_decision_is_meaningless(phase: Phase) -> None:
    assert "no step is waiting on inconclusive evidence" in rejected("promote", VALID["promote"], ctx(phase)).reason


def test_promote_needs_a_reason() -> None:
    reason = rejected("promote", {"approver": "ml-lead"}, ctx(Phase.INCONCLUSIVE, awaiting_decision=True)).reason
    assert reason.startswith("malformed: reason: missing")


@pytest.mark.parametrize(("approver", "refusal"), [("intruder", "not an approver"), ("ml-engineer", "requested")])
def test_promote_by_non_approver_or_requester_is_unauthorized(approver: str, refusal: str) -> None:
    payload = {"approver": approver, "reason": "looks fine"}
    outcome = rejected("promote", payload, ctx(Phase.INCONCLUSIVE, awaiting_decision=True))
    assert outcome.reason.startswith("unauthorized") and refusal in outcome.reason


def test_a_refusal_names_at_most_ten_approvers_and_counts_the_rest() -> None:
    many = frozenset(f"approver-{i:02d}" for i in range(25))
    context = SignalContext(phase=Phase.AWAITING_APPROVAL, requested_by="ml-engineer", approvers=many)
    outcome = rejected("approve", {"approver": "intern"}, context)
    assert "approver-00, " in outcome.reason and "approver-09" in outcome.reason
    assert "approver-10" not in outcome.reason and outcome.reason.endswith("and 15 more)")
