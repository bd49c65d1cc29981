"""workflows.rollout.approval_state: the data the operator view shows about approvals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models.phases import Phase
from models.policy import GoverningPolicy, ServicePolicy
from models.record import ApprovalEntry, DeploymentRecord, PolicyRecord, strategy_of
from models.spec import criteria_fingerprint
from models.validation import validate_spec
from workflows.rollout.approval_state import approval_state
from workflows.rollout.state import RolloutState

NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)
SPEC = validate_spec(
    {
        "service": "support-assistant",
        "requested_by": "alice",
        "stable": {"version": "v1"},
        "candidate": {"version": "v2"},
        "router": {"kind": "http", "url": "http://127.0.0.1:9/r"},
        "metrics": {"kind": "http-json", "url": "http://127.0.0.1:9/m"},
        "steps": [{"weight": 10, "observe": "1h", "approval": True}, {"weight": 50, "observe": "1h", "approval": True}],
        "approvals": {"approvers": ["bob", "carol", "dan"], "quorum": 2},
    }
)


def state(**kwargs: object) -> RolloutState:
    record = DeploymentRecord(
        rollout_id="rollout-support-assistant",
        run_id="run",
        service=SPEC.service,
        requested_by=SPEC.requested_by,
        stable=SPEC.stable,
        candidate=SPEC.candidate,
        strategy=strategy_of(SPEC),
        criteria=SPEC.criteria,
        rollback_triggers=SPEC.rollback_triggers,
        criteria_sha256=criteria_fingerprint(SPEC),
        judge="sequential",
        started_at=NOW,
    )
    return RolloutState(record=record, **kwargs)


def test_waiting_step_shows_received_missing_deadline_and_policy() -> None:
    s = state(phase=Phase.AWAITING_APPROVAL, step_index=1, approved_by=["bob"], approval_deadline=NOW, governed=True)
    s.policy = GoverningPolicy(
        source="p.json", sha256="a" * 64, service=SPEC.service, scope="default", policy=ServicePolicy(), signers=[]
    )
    s.record.policy = PolicyRecord(source="p.json", sha256="a" * 64, scope="default")
    old = ApprovalEntry(step=0, approver="carol", at=NOW - timedelta(hours=1), verified=True, key="SHA256:c")
    mine = ApprovalEntry(step=1, approver="bob", at=NOW, verified=True, key="SHA256:b")
    s.record.approvals += [old, mine]
    found = approval_state(SPEC, s)
    assert (found.waiting, found.step, found.quorum, found.missing) == (True, 2, 2, 1)
    assert found.received == [mine]
    assert found.deadline == NOW
    assert (found.signed, found.policy_sha256, found.policy_scope) == (True, "a" * 64, "default")


def test_not_waiting_and_older_rollouts() -> None:
    found = approval_state(SPEC, state(phase=Phase.CANARY))
    assert (found.waiting, found.step, found.missing, found.deadline, found.signed) == (False, None, 0, None, None)
    assert found.approvers == ["bob", "carol", "dan"]
