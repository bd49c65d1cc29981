"""workflows.rollout.view: Current Details, the plan, the status query and the search attributes, from state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models.criteria import Criteria, RollbackTriggers
from models.phases import Phase
from models.record import (
    CriterionEvidence,
    DeploymentRecord,
    RecoveryReport,
    RecoveryVerdict,
    RollbackReport,
    StepReport,
    TimelineEntry,
)
from models.spec import RolloutSpec, criteria_fingerprint
from models.validation import validate_spec
from workflows import search_attributes as sa
from workflows.rollout import static_details, view
from workflows.rollout.state import RolloutState

T0 = datetime(2026, 11, 30, 21, 0, tzinfo=UTC)
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "support-assistant-v2.json"


def example() -> RolloutSpec:
    return validate_spec(json.loads(EXAMPLE.read_text()))


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def state(spec: RolloutSpec, **overrides: object) -> RolloutState:
    record = DeploymentRecord(
        rollout_id="rollout-support-assistant",
        run_id="run-1",
        service=spec.service,
        requested_by=spec.requested_by,
        stable=spec.stable,
        candidate=spec.candidate,
        strategy={},
        criteria=Criteria(),
        rollback_triggers=RollbackTriggers(),
        criteria_sha256=criteria_fingerprint(spec),
        judge="sequential",
        started_at=T0,
    )
    s = RolloutState(record=record)
    for name, value in overrides.items():
        setattr(s, name, value)
    return s


def error_rate(verdict: str = "inconclusive") -> CriterionEvidence:
    return CriterionEvidence(
        name="error_rate",
        verdict=verdict,
        stable=0.01,
        candidate=0.011,
        limit=1.2,
        samples=(9000, 480),
    )


def awaiting_approval(spec: RolloutSpec) -> RolloutState:
    """Step 4 (50%, approval) observed for 24h, approval asked at 21:00 with a 24h timeout, ml-lead approved."""
    s = state(spec, phase=Phase.AWAITING_APPROVAL, step_index=3, weight=50.0, step_applied=True)
    s.clock.start(at(-86_400))
    s.approval_deadline = at(86_400)
    s.approved_by = ["ml-lead"]
    s.record.steps.append(
        StepReport(
            index=3,
            weight=50,
            observe_seconds=86_400,
            started_at=at(-86_400),
            analyses=288,
            final=[error_rate("pass")],
            evidence="pass",
        )
    )
    return s


def test_details_awaiting_approval_shows_who_is_missing_the_deadline_and_the_command() -> None:
    spec = example()
    text = view.details(spec, awaiting_approval(spec), at(60))
    assert "**Phase:** awaiting_approval" in text
    assert "**Candidate weight:** 50%" in text
    assert "**Step 4 of 4** at 50%: observation done (1d1m, asked 1d)" in text
    assert "**Approvals:** 1 of 2 needed" in text
    assert "- received: ml-lead" in text
    assert "- may approve: sre-oncall, product-owner" in text
    assert "- **Approval deadline:** 2026-12-01 21:00 UTC, then it rolls back" in text
    assert "rollouts approve rollout-support-assistant --key" in text
    assert "temporal workflow update execute --workflow-id rollout-support-assistant --name approve" in text
    assert "| error_rate | **pass** | 0.01 | 0.011 | 1.2 | 9000, 480 |" in text


def test_details_in_canary_show_time_left_and_the_criteria() -> None:
    spec = example()
    s = state(spec, phase=Phase.CANARY, step_index=0, weight=1.0, next_analysis_at=at(300))
    s.clock.start(at(0))
    s.record.steps.append(
        StepReport(
            index=0,
            weight=1,
            observe_seconds=14_400,
            started_at=at(0),
            analyses=3,
            final=[error_rate()],
            evidence="inconclusive",
        )
    )
    text = view.details(spec, s, at(3_600))
    assert "**Step 1 of 4** at 1%: observed 1h of 4h, 3h left" in text
    assert "next analysis at 2026-11-30 21:05 UTC" in text
    assert "evidence so far: **inconclusive** after 3 analyses" in text
    assert "approve" not in text.lower()


def test_details_after_rollback_name_the_cause() -> None:
    spec = example()
    s = state(spec, phase=Phase.ROLLED_BACK, weight=0.0)
    s.record.outcome = "rolled_back"
    s.record.rollback = RollbackReport(
        cause="approval_timeout",
        by=None,
        reason="approval quorum 2 not reached within 1d (approved: nobody)",
        started_at=at(0),
        finished_at=at(1),
        duration_seconds=0.4,
        router_verified=True,
    )
    s.record.finished_at = at(1)
    text = view.details(spec, s, at(2))
    assert "**Phase:** rolled_back" in text and "**Outcome:** rolled_back" in text
    assert "**Rollback cause:** approval_timeout" in text
    assert "approval quorum 2 not reached" in text
    assert "stable back at 100%, verified" in text


def test_details_held_and_paused() -> None:
    spec = example()
    s = state(spec, phase=Phase.INCONCLUSIVE, step_index=1, weight=5.0, held_since=at(0), paused_by="sre-oncall")
    s.record.steps.append(StepReport(index=1, weight=5, observe_seconds=28_800, started_at=at(-28_800)))
    text = view.details(spec, s, at(10))
    assert "**Held for a decision** until 2026-12-07 21:00 UTC" in text
    assert "**Paused** by sre-oncall" in text


def test_status_while_awaiting_approval_has_the_deadline_and_what_was_observed() -> None:
    spec = example()
    st = view.status(spec, awaiting_approval(spec), at(60))
    assert st.approval_deadline == at(86_400)
    assert st.approvals_missing == 1
    assert st.approvals_received == ["ml-lead"]
    assert st.observed_in_step == "1d1m"
    assert st.time_left_in_step == "0s"
    assert st.inconclusive is False
    assert st.outcome == "running"


def test_status_says_inconclusive_while_the_step_waits_for_evidence() -> None:
    spec = example()
    s = state(spec, phase=Phase.CANARY, step_index=0, weight=1.0, awaiting_decision=True)
    s.record.steps.append(StepReport(index=0, weight=1, observe_seconds=14_400, started_at=at(0), extensions=1))
    st = view.status(spec, s, at(20_000))
    assert st.inconclusive is True
    assert st.extensions == 1
    assert st.approval_deadline is None


def test_search_attributes_carry_the_outcome_only_when_asked() -> None:
    spec = example()
    s = state(spec, phase=Phase.CANARY, weight=5.0)
    plain = {u.key.name: u.value for u in view.search_attributes(spec, s)}
    assert plain == {
        "RolloutService": "support-assistant",
        "RolloutCandidateVersion": "v2",
        "RolloutPhase": "canary",
        "RolloutCandidateWeight": 5.0,
    }
    full = {u.key.name: u.value for u in view.search_attributes(spec, s, with_outcome=True)}
    assert full[sa.OUTCOME.name] == "running"


def test_a_lease_refusal_is_its_own_outcome() -> None:
    spec = example()
    s = state(spec, phase=Phase.FAILED)
    s.record.outcome = "failed"
    assert view.outcome_of(s.record) == "failed"
    s.record.timeline.append(TimelineEntry(at=T0, phase="failed", event="refused", detail="held by x"))
    assert view.outcome_of(s.record) == "lease_conflict"


@pytest.mark.parametrize(
    ("verdict", "shown"),
    [("recovered", "rolled_back"), ("unverified", "rolled_back"), ("not_recovered", "rolled_back_not_recovered")],
)
def test_a_stable_that_did_not_recover_is_its_own_outcome(verdict: RecoveryVerdict, shown: str) -> None:
    spec = example()
    s = state(spec, phase=Phase.ROLLED_BACK)
    s.record.outcome = "rolled_back"
    assert view.outcome_of(s.record) == "rolled_back"
    s.record.recovery = RecoveryReport(verdict=verdict, watched_seconds=20.0, evidence=["x"])
    assert view.outcome_of(s.record) == shown


@pytest.mark.parametrize(
    ("raw", "service"),
    [
        ({"service": "checkout"}, "checkout"),
        ({"service": "x" * 500}, None),
        ({"service": 12}, None),
        (None, None),
        ([1, 2], None),
    ],
)
def test_invalid_spec_attributes(raw: object, service: str | None) -> None:
    values = {u.key.name: u.value for u in view.invalid_spec_attributes(raw)}
    assert values[sa.PHASE.name] == "failed"
    assert values[sa.OUTCOME.name] == "invalid_spec"
    assert values.get(sa.SERVICE.name) == service


def test_invalid_spec_details_list_the_problems_bounded() -> None:
    text = view.invalid_spec_details("rollout spec has 30 problems", [f"field{i}: wrong" for i in range(30)])
    assert "- field0: wrong" in text and "- field19: wrong" in text and "field20" not in text
    assert "... and 10 more" in text
    assert "temporal workflow execute" in text


def test_plan_lists_steps_criteria_hash_and_policies() -> None:
    spec = example()
    text = view.plan(spec)
    assert "| 4 | 50% | 1d | yes |" in text
    assert "| promote | 100% | - | - |" in text
    assert criteria_fingerprint(spec)[:16] in text
    assert "2 of ml-lead, sre-oncall, product-owner within 1d, then rollback" in text
    assert "shadow 200 requests" in text


def test_plan_cli_prints_the_plan_and_refuses_an_invalid_spec(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert static_details.main([str(EXAMPLE)]) == 0
    assert "## Plan: support-assistant v1 -> v2" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"service": "Bad Name"}))
    assert static_details.main([str(bad)]) == 1
    assert "service" in capsys.readouterr().err


def test_result_summary() -> None:
    spec = example()
    s = state(spec)
    s.record.outcome = "rolled_back"
    s.record.rollback = RollbackReport(cause="abort", by="sre", reason="aborted by sre: demo", started_at=T0)
    assert view.result_summary(s.record) == (
        "rolled_back: support-assistant v2 at 0%; rollback cause abort: aborted by sre: demo"
    )
